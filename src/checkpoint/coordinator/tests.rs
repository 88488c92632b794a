//! Tests of [`super`]: the coordinator module's behaviour, kept beside it.

use std::time::Duration;

use super::*;
use crate::checkpoint::figures::SubtaskCheckpointFigures;

fn coordinator(retained: usize, tolerable: u32) -> CheckpointCoordinator {
    let settings = CheckpointSettings {
        interval: Some(Duration::from_millis(100)),
        timeout: Duration::from_secs(5),
        min_pause: Duration::from_millis(50),
        retained,
        tolerable_failures: tolerable,
        ..CheckpointSettings::default()
    };
    CheckpointCoordinator::new(settings, PathBuf::from("/ck/job"), vec![1, 2], 1)
}

fn ack(at: i64) -> SubtaskCheckpointStats {
    SubtaskCheckpointStats {
        ack_timestamp: at,
        ..SubtaskCheckpointStats::default()
    }
}

fn ack_all(c: &mut CheckpointCoordinator, id: u64) -> Option<CoordinatorAction> {
    assert!(c.acknowledge(id, 0, 0, None, ack(0)).is_none());
    assert!(c.acknowledge(id, 1, 1, None, ack(0)).is_none());
    // A duplicate acknowledgement changes nothing.
    assert!(c.acknowledge(id, 1, 1, None, ack(0)).is_none());
    c.acknowledge(id, 1, 0, None, ack(0))
}

#[test]
fn completes_when_every_subtask_acknowledged_and_retains_the_newest() {
    let t0 = Instant::now();
    let mut c = coordinator(2, 0);
    assert!(c.may_trigger_periodic(t0));
    let b = c.trigger(SnapshotKind::Checkpoint, t0, 10, None);
    assert_eq!((b.id, b.dir.as_str()), (1, "/ck/job/chk-1"));
    assert!(!c.may_trigger_periodic(t0), "max one pending");
    let Some(CoordinatorAction::Complete(p)) = ack_all(&mut c, 1) else {
        panic!("checkpoint 1 should complete");
    };
    assert!(
        !c.may_trigger_periodic(t0 + Duration::from_secs(1)),
        "its metadata is still being written"
    );
    assert!(c
        .completed(
            &p,
            CheckpointSizes {
                state: 100,
                checkpointed: 100,
                persisted: 0,
            },
            t0
        )
        .is_empty());
    assert!(
        !c.may_trigger_periodic(t0 + Duration::from_millis(10)),
        "min pause"
    );
    let t1 = t0 + Duration::from_millis(60);
    assert!(c.may_trigger_periodic(t1));
    for id in 2..=3 {
        c.trigger(SnapshotKind::Checkpoint, t1, 20, None);
        let Some(CoordinatorAction::Complete(p)) = ack_all(&mut c, id) else {
            panic!("checkpoint {id} should complete");
        };
        let dropped = c.completed(
            &p,
            CheckpointSizes {
                state: 100,
                checkpointed: 100,
                persisted: 0,
            },
            t1,
        );
        assert_eq!(dropped, if id == 3 { vec![1] } else { vec![] });
    }
    assert_eq!(c.retained_ids(), vec![2, 3]);
    assert_eq!(c.latest().map(|l| l.0), Some(3));
    assert_eq!(c.counts, (3, 0));
}

#[test]
fn declines_and_timeouts_fail_and_too_many_fail_the_job() {
    let t0 = Instant::now();
    let mut c = coordinator(1, 1);
    c.trigger(SnapshotKind::Checkpoint, t0, 0, None);
    match c.fail(1, "declined".into(), t0) {
        Some(CoordinatorAction::Failed {
            fail_job: false, ..
        }) => {}
        other => panic!("one failure is tolerated: {other:?}"),
    }
    // Acknowledgements of a failed checkpoint are ignored.
    assert!(c.acknowledge(1, 0, 0, None, ack(0)).is_none());
    c.trigger(SnapshotKind::Checkpoint, t0, 0, None);
    assert!(c.expire(t0 + Duration::from_secs(1)).is_empty());
    let expired = c.expire(t0 + Duration::from_secs(5));
    match expired.as_slice() {
        [CoordinatorAction::Failed {
            id: 2,
            fail_job: true,
            reason,
        }] => assert!(reason.contains("expired"), "{reason}"),
        other => panic!("the second failure in a row fails the job: {other:?}"),
    }
    // A checkpoint a finished subtask could not take does not count.
    c.trigger(SnapshotKind::Checkpoint, t0, 0, None);
    match c.abort(3, "the source has finished".into(), t0) {
        Some(CoordinatorAction::Failed {
            fail_job: false, ..
        }) => {}
        other => panic!("an abort never fails the job: {other:?}"),
    }
    // A savepoint's failure never fails the job, and a savepoint is never retained.
    let b = c.trigger(SnapshotKind::Savepoint, t0, 0, Some("/sp/1".into()));
    assert_eq!((b.id, b.dir.as_str()), (4, "/sp/1"));
    let Some(CoordinatorAction::Complete(p)) = ack_all(&mut c, 4) else {
        panic!("savepoint should complete");
    };
    assert!(c.completed(&p, CheckpointSizes::default(), t0).is_empty());
    assert!(c.retained_ids().is_empty());
    assert_eq!(c.counts, (1, 3));
    assert_eq!(c.history.len(), 4);
}

fn handle(size: u64, persisted: u64) -> StateHandle {
    StateHandle {
        file: "f".into(),
        size,
        operators: Vec::new(),
        shared: vec![("sst".into(), 1_000)],
        uploaded: 0,
        persisted,
    }
}

fn figures(sync_ms: u64, async_ms: u64, alignment_ms: u64) -> SubtaskCheckpointFigures {
    SubtaskCheckpointFigures {
        start_delay_ms: 1,
        alignment_ms,
        sync_ms,
        async_ms,
        processed_bytes: 10,
        persisted_bytes: 0,
        unaligned: false,
    }
}

#[test]
fn keeps_each_subtasks_figures_while_pending_and_in_the_history() {
    let t0 = Instant::now();
    let mut c = coordinator(1, 5);
    c.trigger(SnapshotKind::Checkpoint, t0, 1_000, None);
    let tm = Some("tm-1".to_string());
    let a = SubtaskCheckpointStats::new(1_010, Some(&handle(100, 0)), figures(2, 3, 0), tm.clone());
    assert!(c.acknowledge(1, 0, 0, Some(handle(100, 0)), a).is_none());
    let b = SubtaskCheckpointStats::new(1_030, Some(&handle(50, 7)), figures(4, 5, 6), tm);
    assert!(c
        .acknowledge(1, 1, 1, Some(handle(50, 7)), b.clone())
        .is_none());

    // In progress: two of three in, sums of what came so far.
    let s = c.stats();
    let r = s.find(1).expect("listed while pending");
    assert_eq!(r.status, "IN_PROGRESS");
    assert_eq!((r.num_subtasks(), r.num_acknowledged_subtasks()), (3, 2));
    assert_eq!(r.latest_ack_timestamp, Some(1_030));
    assert_eq!((r.state_size, r.checkpointed_size), (2_150, 150));
    assert_eq!((r.persisted_data, r.processed_data), (7, 20));
    assert_eq!(r.tasks[1][1], Some(b.clone()));
    assert_eq!(r.tasks[1][0], None);
    assert_eq!(r.end_to_end_ms(), 30);

    let last = SubtaskCheckpointStats::new(1_045, None, figures(0, 0, 9), None);
    let Some(CoordinatorAction::Complete(p)) = c.acknowledge(1, 1, 0, None, last) else {
        panic!("checkpoint 1 should complete");
    };
    let sizes = CheckpointSizes {
        state: 2_150,
        checkpointed: 150,
        persisted: 7,
    };
    c.completed(&p, sizes, t0);
    let s = c.stats();
    let r = s.latest.completed.as_ref().expect("completed");
    assert_eq!((r.status, r.discarded), ("COMPLETED", false));
    assert_eq!(r.num_acknowledged_subtasks(), 3);
    assert_eq!(r.end_to_end_ms(), 45);
    assert!(r.is_unaligned, "it persisted in-flight data");
    let v1 = r.vertex(1).expect("vertex 1");
    assert_eq!(
        v1,
        VertexCheckpointStats {
            latest_ack_timestamp: Some(1_045),
            state_size: 1_050,
            checkpointed_size: 50,
            processed_data: 20,
            persisted_data: 7,
            num_subtasks: 2,
            num_acknowledged_subtasks: 2,
        }
    );
    assert_eq!(
        r.tasks[1][1].as_ref().map(|s| s.end_to_end_ms(1_000)),
        Some(30)
    );
    assert!(r.vertex(2).is_none());

    // A failed checkpoint keeps what came before it failed, and when it failed.
    let t1 = t0 + Duration::from_millis(100);
    c.trigger(SnapshotKind::Checkpoint, t1, 2_000, None);
    let a = SubtaskCheckpointStats::new(2_004, Some(&handle(30, 0)), figures(1, 1, 0), None);
    c.acknowledge(2, 0, 0, Some(handle(30, 0)), a);
    c.fail(2, "declined".into(), t1 + Duration::from_millis(25));
    let s = c.stats();
    let r = s.latest.failed.as_ref().expect("failed");
    assert_eq!((r.id, r.failure_timestamp), (2, Some(2_025)));
    assert_eq!((r.num_acknowledged_subtasks(), r.state_size), (1, 1_030));
    assert_eq!(r.failure.as_deref(), Some("declined"));

    // Once a newer one completes, the older is discarded (one retained).
    c.trigger(SnapshotKind::Checkpoint, t1, 3_000, None);
    let Some(CoordinatorAction::Complete(p)) = ack_all(&mut c, 3) else {
        panic!("checkpoint 3 should complete");
    };
    c.completed(&p, CheckpointSizes::default(), t1);
    let s = c.stats();
    assert_eq!(s.find(1).map(|r| r.discarded), Some(true));
    assert_eq!(s.find(3).map(|r| r.discarded), Some(false));
    let ids: Vec<u64> = s.history.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![3, 2, 1], "newest first");
}

#[test]
fn the_history_is_bounded() {
    let t0 = Instant::now();
    let mut c = coordinator(1, u32::MAX);
    for id in 1..=(HISTORY as u64 + 5) {
        c.trigger(SnapshotKind::Checkpoint, t0, 0, None);
        c.fail(id, "declined".into(), t0);
    }
    c.trigger(SnapshotKind::Checkpoint, t0, 0, None);
    let s = c.stats();
    assert_eq!(
        s.history.len(),
        HISTORY + 1,
        "the bounded history and the pending one"
    );
    assert_eq!(s.history[0].status, "IN_PROGRESS");
    assert_eq!(s.history[1].id, HISTORY as u64 + 5);
    assert!(s.find(5).is_none() && s.find(6).is_some());
    assert_eq!(s.counts.failed, HISTORY as u64 + 5);
}

#[test]
fn every_restore_is_counted_and_the_newest_shown() {
    let mut c = coordinator(1, 0);
    assert_eq!(c.stats().counts.restored, 0);
    assert!(c.stats().latest.restored.is_none());
    c.note_restore(7, std::path::Path::new("/sp/savepoint-1"), 1_000, true);
    c.note_restore(9, std::path::Path::new("/ck/job/chk-9"), 2_000, false);
    let stats = c.stats();
    assert_eq!(stats.counts.restored, 2);
    let r = stats.latest.restored.expect("restored");
    assert_eq!(
        (r.id, r.restore_timestamp, r.is_savepoint),
        (9, 2_000, false)
    );
    assert_eq!(r.external_path, "/ck/job/chk-9");
}

#[test]
fn the_latest_failed_checkpoint_outlives_the_bounded_history() {
    let t0 = Instant::now();
    let mut c = coordinator(1, u32::MAX);
    c.trigger(SnapshotKind::Checkpoint, t0, 0, None);
    c.abort_all("the job restarts", t0);
    for id in 2..=(HISTORY as u64 + 3) {
        c.trigger(SnapshotKind::Checkpoint, t0, 0, None);
        let Some(CoordinatorAction::Complete(p)) = ack_all(&mut c, id) else {
            panic!("checkpoint {id} should complete");
        };
        c.completed(&p, CheckpointSizes::default(), t0);
    }
    let s = c.stats();
    assert!(s.find(1).is_none(), "the failed one left the history");
    let failed = s.latest.failed.expect("still the latest failed");
    assert_eq!((failed.id, failed.status), (1, "FAILED"));
    assert_eq!(failed.failure.as_deref(), Some("the job restarts"));
    assert_eq!(
        s.latest.completed.expect("completed").id,
        HISTORY as u64 + 3
    );
    assert_eq!(s.counts.failed, 1);
}

#[test]
fn a_checkpoint_whose_metadata_was_not_written_frees_its_place() {
    let t0 = Instant::now();
    let mut c = coordinator(1, 5);
    c.trigger(SnapshotKind::Checkpoint, t0, 10, None);
    let Some(CoordinatorAction::Complete(p)) = ack_all(&mut c, 1) else {
        panic!("checkpoint 1 should complete");
    };
    assert!(!c.may_trigger_periodic(t0));
    let failed = c.not_completed(&p, "the store is down".into(), t0, true);
    assert!(matches!(
        failed,
        CoordinatorAction::Failed {
            id: 1,
            fail_job: false,
            ..
        }
    ));
    assert!(c.may_trigger_periodic(t0));
}
