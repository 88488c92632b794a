//! Tests of [`super`]: summaries and the JSON shapes, with Flink's field names.

use super::*;
use crate::checkpoint::figures::SubtaskCheckpointFigures;

#[test]
fn summaries_take_min_max_average_and_nearest_rank_percentiles() {
    assert_eq!(StatsSummary::of([]), StatsSummary::default());
    let s = StatsSummary::of([40, 10, 30, 20]);
    assert_eq!((s.min, s.max, s.avg), (10, 40, 25));
    assert_eq!((s.p50, s.p90, s.p999), (20.0, 40.0, 40.0));
    let s = StatsSummary::of(1..=1000);
    assert_eq!(
        (s.p50, s.p90, s.p95, s.p99, s.p999),
        (500.0, 900.0, 950.0, 990.0, 999.0)
    );
}

fn subtask(ack: i64, state: u64, sync_ms: u64) -> SubtaskCheckpointStats {
    SubtaskCheckpointStats {
        ack_timestamp: ack,
        state_size: state,
        checkpointed_size: state,
        figures: SubtaskCheckpointFigures {
            start_delay_ms: 2,
            alignment_ms: 3,
            sync_ms,
            async_ms: 5,
            processed_bytes: 0,
            persisted_bytes: 0,
            unaligned: false,
        },
        taskmanager: Some("tm-a".into()),
    }
}

fn record() -> CheckpointRecord {
    CheckpointRecord {
        id: 7,
        kind: SnapshotKind::Checkpoint,
        status: "COMPLETED",
        trigger_timestamp: 1_000,
        duration_ms: 60,
        state_size: 300,
        checkpointed_size: 300,
        persisted_data: 0,
        processed_data: 0,
        is_unaligned: false,
        external_path: "/ck/job/chk-7".into(),
        failure: None,
        failure_timestamp: None,
        latest_ack_timestamp: Some(1_050),
        discarded: false,
        tasks: vec![
            vec![Some(subtask(1_020, 100, 1))],
            vec![Some(subtask(1_050, 200, 4)), None],
        ],
    }
}

#[test]
fn a_checkpoint_and_a_vertex_answer_in_flinks_shape() {
    let r = record();
    let json = serde_json::to_value(CheckpointStatistics::new(&r, None)).expect("json");
    for key in [
        "className",
        "id",
        "status",
        "is_savepoint",
        "savepointFormat",
        "trigger_timestamp",
        "latest_ack_timestamp",
        "checkpointed_size",
        "state_size",
        "end_to_end_duration",
        "alignment_buffered",
        "processed_data",
        "persisted_data",
        "num_subtasks",
        "num_acknowledged_subtasks",
        "checkpoint_type",
        "tasks",
        "external_path",
        "discarded",
    ] {
        assert!(json.get(key).is_some(), "{key} missing in {json}");
    }
    assert!(json.get("failure_message").is_none());
    assert_eq!(json["className"], "completed");
    assert_eq!(json["end_to_end_duration"], 50);
    assert_eq!(
        (
            json["num_subtasks"].as_u64(),
            json["num_acknowledged_subtasks"].as_u64()
        ),
        (Some(3), Some(2))
    );
    assert_eq!(json["checkpoint_type"], "CHECKPOINT");

    let d = TaskCheckpointDetails::new(&r, 1).expect("vertex 1");
    let json = serde_json::to_value(&d).expect("json");
    assert_eq!(json["num_subtasks"], 2);
    assert_eq!(json["state_size"], 200);
    assert_eq!(json["end_to_end_duration"], 50);
    assert_eq!(json["summary"]["checkpoint_duration"]["sync"]["max"], 4);
    assert_eq!(json["summary"]["checkpoint_duration"]["async"]["min"], 5);
    assert_eq!(json["summary"]["alignment"]["duration"]["avg"], 3);
    assert_eq!(json["summary"]["start_delay"]["p50"], 2.0);
    let done = &json["subtasks"][0];
    assert_eq!(done["className"], "completed");
    assert_eq!(done["status"], "completed");
    assert_eq!(done["index"], 0);
    assert_eq!(done["ack_timestamp"], 1_050);
    assert_eq!(done["end_to_end_duration"], 50);
    assert_eq!(done["checkpoint"]["async"], 5);
    assert_eq!(done["alignment"]["duration"], 3);
    assert_eq!(done["start_delay"], 2);
    assert_eq!(done["unaligned_checkpoint"], false);
    assert_eq!(done["aborted"], false);
    assert_eq!(done["taskmanager"], "tm-a");
    let pending = &json["subtasks"][1];
    assert_eq!(pending["status"], "pending_or_failed");
    assert!(pending.get("ack_timestamp").is_none(), "{pending}");
    assert!(TaskCheckpointDetails::new(&r, 2).is_none());
}

#[test]
fn failed_and_pending_checkpoints_carry_their_own_fields() {
    let mut r = record();
    r.status = "FAILED";
    r.failure = Some("declined".into());
    r.failure_timestamp = Some(1_070);
    let json = serde_json::to_value(CheckpointStatistics::new(&r, None)).expect("json");
    assert_eq!(json["className"], "failed");
    assert_eq!(json["failure_message"], "declined");
    assert_eq!(json["failure_timestamp"], 1_070);
    assert!(json.get("external_path").is_none() && json.get("discarded").is_none());
    r.status = "IN_PROGRESS";
    r.latest_ack_timestamp = None;
    r.kind = SnapshotKind::Savepoint;
    let json = serde_json::to_value(CheckpointStatistics::new(&r, None)).expect("json");
    assert_eq!(json["className"], "in_progress");
    assert_eq!(json["latest_ack_timestamp"], -1);
    assert_eq!(json["end_to_end_duration"], 60, "its duration so far");
    assert_eq!(
        (
            json["checkpoint_type"].as_str(),
            json["savepointFormat"].as_str()
        ),
        (Some("SAVEPOINT"), Some("CANONICAL"))
    );
}

#[test]
fn the_cli_reads_a_completed_checkpoint_from_this_shape() {
    let r = record();
    let json = serde_json::to_value(CheckpointStatistics::new(&r, None)).expect("json");
    let read: crate::rest::model::CompletedCheckpointSummary =
        serde_json::from_value(json).expect("the CLI's summary parses");
    assert_eq!(read.id, r.id);
    assert!(read.completed_at() >= read.trigger_timestamp);
}
