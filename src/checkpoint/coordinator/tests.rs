//! Tests of [`super`]: the coordinator module's behaviour, kept beside it.

use super::*;

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

fn ack_all(c: &mut CheckpointCoordinator, id: u64) -> Option<CoordinatorAction> {
    assert!(c.acknowledge(id, 0, 0, None).is_none());
    assert!(c.acknowledge(id, 1, 1, None).is_none());
    // A duplicate acknowledgement changes nothing.
    assert!(c.acknowledge(id, 1, 1, None).is_none());
    c.acknowledge(id, 1, 0, None)
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
    assert!(c.acknowledge(1, 0, 0, None).is_none());
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
