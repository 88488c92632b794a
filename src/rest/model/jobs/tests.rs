//! Tests of [`super`]: the jobs module's behaviour, kept beside it.

use std::time::Duration;

use super::*;
use crate::actors::job_info::SubtaskInfo;
use crate::ids::{JobId, VertexId};

fn sub(state: ExecutionState, records_out: u64) -> SubtaskInfo {
    SubtaskInfo {
        state,
        attempt: 0,
        task_manager: Some("tm-1".into()),
        io: IoCounters {
            records_out,
            ..IoCounters::default()
        },
        rates: None,
    }
}

fn job() -> JobInfo {
    use ExecutionState::*;
    JobInfo {
        job_id: JobId(0xab),
        name: "j".into(),
        job_type: RuntimeMode::Streaming,
        status: JobStatus::Failed,
        failure: Some("boom".into()),
        failure_time: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1500)),
        start_time: SystemTime::UNIX_EPOCH + Duration::from_millis(1000),
        end_time: None,
        last_modification: SystemTime::UNIX_EPOCH + Duration::from_millis(1600),
        duration: Duration::from_millis(600),
        vertices: vec![
            VertexInfo {
                id: VertexId(1),
                name: "Source".into(),
                parallelism: 2,
                max_parallelism: 128,
                subtasks: vec![sub(Failed, 5), sub(Canceled, 7)],
            },
            VertexInfo {
                id: VertexId(2),
                name: "Sink".into(),
                parallelism: 1,
                max_parallelism: 128,
                subtasks: vec![sub(Canceled, 0)],
            },
        ],
        failures: Default::default(),
    }
}

#[test]
fn job_bodies_use_flinks_names_and_conventions() {
    let j = job();
    let overview = serde_json::to_value(JobOverviewEntry::from(&j)).expect("json");
    assert_eq!(overview["jid"], format!("{:032x}", 0xab));
    assert_eq!(overview["state"], "FAILED");
    assert_eq!(overview["jobType"], "STREAMING");
    assert_eq!(overview["start-time"], 1000);
    assert_eq!(overview["end-time"], -1);
    assert_eq!(overview["duration"], 600);
    assert_eq!(overview["tasks"]["failed"], 1);
    assert_eq!(overview["tasks"]["canceled"], 2);
    assert_eq!(overview["tasks"]["total"], 3);

    let details =
        serde_json::to_value(JobDetailsInfo::new(&j, SystemTime::UNIX_EPOCH)).expect("json");
    assert_eq!(details["failure"], "boom");
    assert_eq!(details["vertices"][0]["status"], "FAILED");
    assert_eq!(details["vertices"][0]["tasks"]["CANCELED"], 1);
    assert_eq!(details["vertices"][1]["status"], "CANCELED");
    assert_eq!(details["vertices"][1]["maxParallelism"], 128);
    assert_eq!(details["vertices"][0]["metrics"]["write-records"], 12);
    assert_eq!(
        details["vertices"][0]["metrics"]["write-records-complete"],
        true
    );
    assert_eq!(details["vertices"][0]["metrics"]["read-bytes"], 0);

    let subtasks = serde_json::to_value(JobVertexSubtasks::new(
        &j.vertices[0],
        SystemTime::UNIX_EPOCH,
    ))
    .expect("json");
    assert_eq!(subtasks["subtasks"][1]["subtask"], 1);
    assert_eq!(subtasks["subtasks"][1]["status"], "CANCELED");
    assert_eq!(subtasks["subtasks"][1]["taskmanager-id"], "tm-1");
    assert_eq!(subtasks["subtasks"][1]["metrics"]["write-records"], 7);
    assert_eq!(details["status-counts"]["FAILED"], 1);
    assert_eq!(details["status-counts"]["CANCELED"], 1);

    let ex = serde_json::to_value(JobExceptions::from(&j)).expect("json");
    assert_eq!(ex["root-exception"], "boom");
    assert_eq!(ex["timestamp"], 1500);
    assert_eq!(ex["exceptionHistory"]["entries"][0]["stacktrace"], "boom");
}

#[test]
fn bodies_round_trip_for_the_client() {
    let j = job();
    let d = JobDetailsInfo::new(&j, SystemTime::now());
    let back: JobDetailsInfo =
        serde_json::from_str(&serde_json::to_string(&d).expect("json")).expect("parse");
    assert_eq!(back, d);
}
