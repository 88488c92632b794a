//! Tests of [`super`]: the storage module's behaviour, kept beside it.

use std::fs;

use super::*;
use crate::state::snapshot::ListMode;

fn metadata(id: u64, handle: Option<StateHandle>) -> CheckpointMetadata {
    CheckpointMetadata {
        job_id: JobId(7),
        job_name: "test".into(),
        checkpoint_id: id,
        timestamp: 1,
        kind: SnapshotKind::Checkpoint,
        vertices: vec![VertexMetadata {
            vertex: VertexId(9),
            name: "v".into(),
            operators: vec!["op".into()],
            parallelism: 1,
            max_parallelism: 128,
            subtasks: vec![handle],
        }],
    }
}

fn write_checkpoint(job_dir: &Path, id: u64) -> PathBuf {
    let dir = checkpoint_dir(job_dir, id);
    let mut op = OperatorSnapshot::default();
    op.add_list("n", ListMode::Split, &[id])
        .expect("serializes");
    let snap = SubtaskSnapshot {
        operators: vec![("op".into(), op)],
        ..SubtaskSnapshot::default()
    };
    let handle = write_subtask_state(&dir, VertexId(9), 0, &snap).expect("writes");
    write_metadata(&dir, &metadata(id, Some(handle))).expect("writes");
    dir
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rill-storage-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn a_written_checkpoint_reads_back() {
    let job = temp_dir("roundtrip");
    let dir = write_checkpoint(&job, 3);
    let resolved = resolve(&dir).expect("restorable");
    assert_eq!(resolved.checkpoint.metadata.checkpoint_id, 3);
    assert!(resolved.skipped.is_empty());
    let handle = resolved.checkpoint.metadata.vertices[0].subtasks[0]
        .clone()
        .expect("has state");
    let snap = read_subtask_state(&dir, &handle).expect("reads");
    assert_eq!(snap.operators[0].0, "op");
    // The _metadata file and the job directory resolve to the same checkpoint.
    let via_file = resolve(&dir.join(METADATA_FILE)).expect("restorable");
    assert_eq!(via_file.checkpoint.metadata.checkpoint_id, 3);
    assert_eq!(resolve(&job).expect("restorable").checkpoint.dir, dir);
    let _ = fs::remove_dir_all(&job);
}

#[test]
fn damaged_files_are_named_and_restore_falls_back_to_the_previous_checkpoint() {
    let job = temp_dir("damage");
    write_checkpoint(&job, 1);
    let two = write_checkpoint(&job, 2);
    let state = two.join(state_file_name(VertexId(9), 0));

    // Truncated.
    let bytes = fs::read(&state).expect("reads");
    fs::write(&state, &bytes[..bytes.len() - 3]).expect("writes");
    let err = verify(&two).expect_err("truncated");
    assert!(matches!(err, StorageError::Truncated { .. }), "{err}");
    assert!(
        err.to_string().contains(&state.display().to_string()),
        "{err}"
    );
    let resolved = resolve(&two).expect("falls back");
    assert_eq!(resolved.checkpoint.metadata.checkpoint_id, 1);
    assert_eq!(resolved.skipped.len(), 1);

    // Same length, one byte flipped.
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    fs::write(&state, &flipped).expect("writes");
    let err = verify(&two).expect_err("corrupted");
    assert!(matches!(err, StorageError::Corrupted { .. }), "{err}");
    assert_eq!(
        resolve(&job)
            .expect("falls back")
            .checkpoint
            .metadata
            .checkpoint_id,
        1
    );

    // Damaged metadata, and nothing older to fall back to.
    let one = checkpoint_dir(&job, 1);
    fs::write(one.join(METADATA_FILE), b"RILLM\x01garbage").expect("writes");
    let err = resolve(&two).expect_err("nothing restorable");
    let message = err.to_string();
    assert!(
        message.contains("chk-1") && message.contains("chk-2"),
        "{message}"
    );

    // Retention removes what is not kept.
    remove_others(&job, &[2]);
    assert_eq!(checkpoint_ids(&job), vec![2]);
    let _ = fs::remove_dir_all(&job);
}
