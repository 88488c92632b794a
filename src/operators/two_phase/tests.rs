//! The two-phase-commit file sink: commits, restores, buckets and rolling.

use super::*;
use crate::ids::JobId;
use crate::state::key_group::key_group_range;

fn ctx(job: u128) -> RuntimeContext {
    let mut c = RuntimeContext::standalone("sink");
    c.job_id = JobId(job);
    c
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

fn restored(snapshot: OperatorSnapshot) -> RestoredState {
    RestoredState {
        snapshots: vec![snapshot],
        key_groups: key_group_range(128, 1, 0),
        subtask_index: 0,
        parallelism: 1,
    }
}

/// Subtask `subtask` of 2, attempt `attempt`, of job 1.
fn ctx_of(subtask: usize, attempt: u32) -> RuntimeContext {
    let mut c = ctx(1);
    c.subtask_index = subtask;
    c.parallelism = 2;
    c.attempt = attempt;
    c
}

/// A restored subtask never writes over a part that another restored subtask has still to
/// commit. Pending parts used to be dealt out over the restored subtasks (a split list)
/// and named by a counter that started again at 0 after each restart: subtask 0's second
/// pending part went to subtask 1, and subtask 0's own second part took its name before
/// subtask 1 committed it.
#[test]
fn restored_subtasks_never_overwrite_a_pending_part() {
    let dir = std::env::temp_dir().join(format!("rill-2pc-restore-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let (mut s0, mut s1) = (
        TwoPhaseCommitFileSink::<u64>::new(dir.clone()),
        TwoPhaseCommitFileSink::<u64>::new(dir.clone()),
    );
    s0.open(&ctx_of(0, 0)).expect("opens");
    s1.open(&ctx_of(1, 0)).expect("opens");
    s0.invoke_batch(vec![1]).expect("writes");
    s0.snapshot_state(5, &mut OperatorSnapshot::default())
        .expect("pre-commits");
    // Checkpoint 5 completes, but subtask 0 is not told before the failure.
    s0.invoke_batch(vec![2]).expect("writes");
    s1.invoke_batch(vec![3]).expect("writes");
    let (mut at_6_0, mut at_6_1) = (OperatorSnapshot::default(), OperatorSnapshot::default());
    s0.snapshot_state(6, &mut at_6_0).expect("pre-commits");
    s1.snapshot_state(6, &mut at_6_1).expect("pre-commits");
    drop((s0, s1));

    // Restored from checkpoint 6; subtask 0 opens, writes and checkpoints before
    // subtask 1 opens.
    let restored = |subtask| RestoredState {
        snapshots: vec![at_6_0.clone(), at_6_1.clone()],
        key_groups: key_group_range(128, 2, subtask),
        subtask_index: subtask,
        parallelism: 2,
    };
    let (mut r0, mut r1) = (
        TwoPhaseCommitFileSink::<u64>::new(dir.clone()),
        TwoPhaseCommitFileSink::<u64>::new(dir.clone()),
    );
    r0.initialize_state(&restored(0)).expect("restores");
    r1.initialize_state(&restored(1)).expect("restores");
    r0.open(&ctx_of(0, 1)).expect("opens");
    for (i, checkpoint) in [(4, 7), (5, 8)] {
        r0.invoke_batch(vec![i]).expect("writes");
        r0.snapshot_state(checkpoint, &mut OperatorSnapshot::default())
            .expect("pre-commits");
    }
    r1.open(&ctx_of(1, 1)).expect("opens");
    r0.notify_checkpoint_complete(8).expect("commits");
    let read = |name: &str| fs::read_to_string(dir.join(name)).expect(name);
    assert_eq!(read("part-5-0"), "1\n");
    assert_eq!(read("part-6-0"), "2\n");
    assert_eq!(read("part-6-1"), "3\n");
    assert_eq!(read("part-7-0"), "4\n");
    assert_eq!(read("part-8-0"), "5\n");
    let _ = fs::remove_dir_all(&dir);
}

/// Records of buckets go to their directories; a part that reaches the size limit rolls
/// before the checkpoint and waits for it, named after the bucket's first part.
#[test]
fn buckets_have_their_own_parts_and_rolled_parts_wait_for_the_checkpoint() {
    let dir = std::env::temp_dir().join(format!("rill-2pc-buckets-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let mut sink =
        TwoPhaseCommitFileSink::<BucketLine>::new(dir.clone()).with_rolling(RollingPolicy {
            file_size: Some(8),
            ..RollingPolicy::default()
        });
    sink.open(&ctx(1)).expect("opens");
    let line = |bucket: &str, line: &str| BucketLine {
        bucket: bucket.into(),
        line: line.into(),
    };
    // "a=1" gets 4 + 4 bytes (rolls), then 4 more; "a=2" gets 4.
    sink.invoke_batch(vec![
        line("a=1", "one"),
        line("a=1", "two"),
        line("a=2", "six"),
    ])
    .expect("writes");
    sink.invoke_batch(vec![line("a=1", "ten")]).expect("writes");
    assert_eq!(listing(&dir), vec!["a=1", "a=2"]);
    assert!(
        listing(&dir.join("a=1")).iter().all(|n| n.starts_with('.')),
        "nothing committed before the checkpoint: {:?}",
        listing(&dir.join("a=1"))
    );
    sink.snapshot_state(7, &mut OperatorSnapshot::default())
        .expect("pre-commits");
    sink.notify_checkpoint_complete(7).expect("commits");
    let read = |name: &str| fs::read_to_string(dir.join(name)).expect(name);
    assert_eq!(
        read("a=1/part-7-0"),
        "one\ntwo\n",
        "the rolled part is the first"
    );
    assert_eq!(read("a=1/part-7-0-1"), "ten\n");
    assert_eq!(read("a=2/part-7-0"), "six\n");
    assert_eq!(
        sink.take_committed_buckets()
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["a=1".to_string(), "a=2".to_string()]
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn parts_are_committed_only_once_their_checkpoint_completed() {
    let dir = std::env::temp_dir().join(format!("rill-2pc-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let mut sink = TwoPhaseCommitFileSink::<u64>::new(dir.clone());
    sink.open(&ctx(1)).expect("opens");
    sink.invoke_batch(vec![1, 2]).expect("writes");
    let mut at_3 = OperatorSnapshot::default();
    sink.snapshot_state(3, &mut at_3).expect("pre-commits");
    // Pending: not visible as output yet.
    assert!(
        listing(&dir).iter().all(|n| !n.starts_with("part-")),
        "{:?}",
        listing(&dir)
    );
    sink.invoke_batch(vec![3]).expect("writes");
    let mut at_4 = OperatorSnapshot::default();
    sink.snapshot_state(4, &mut at_4).expect("pre-commits");
    sink.notify_checkpoint_complete(3).expect("commits");
    assert_eq!(
        fs::read_to_string(dir.join("part-3-0")).expect("committed"),
        "1\n2\n"
    );
    assert!(
        !dir.join("part-4-0").exists(),
        "checkpoint 4 has not completed"
    );
    sink.invoke_batch(vec![4]).expect("writes");

    // The job dies here. Restored from checkpoint 4 (which completed, unknown to the
    // sink): its pending part is committed, the part written after it is dropped.
    let mut again = TwoPhaseCommitFileSink::<u64>::new(dir.clone());
    again.initialize_state(&restored(at_4)).expect("restores");
    again.open(&ctx(2)).expect("opens");
    assert_eq!(listing(&dir), vec!["part-3-0", "part-4-0"]);
    assert_eq!(
        fs::read_to_string(dir.join("part-4-0")).expect("committed"),
        "3\n"
    );
    // The end of input commits the last part under the next checkpoint's id.
    again.invoke_batch(vec![4]).expect("writes");
    again.finish().expect("commits");
    assert_eq!(
        fs::read_to_string(dir.join("part-5-0")).expect("committed"),
        "4\n"
    );
    let _ = fs::remove_dir_all(&dir);
}
