//! Checkpoint details over REST, in Flink's paths and shapes, against a mini cluster in this
//! process running the bundled `keyed-sum` job (a generated source into a running sum per key
//! in `ValueState`) at parallelism 2 with a checkpoint every 300 ms: `/checkpoints` lists each
//! checkpoint's acknowledgements, `/checkpoints/details/{cid}` shows every vertex and
//! `…/subtasks/{vid}` every subtask's figures, consistent with each other and with the
//! trigger; unknown ids answer 404 and a non-numeric checkpoint id 400, as JSON; the details
//! stay after the job ended.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill::actors::MiniCluster;
use serde_json::Value;

/// The parallelism of the job.
const P: u64 = 2;

use common::rest::{get, get_ok, post, serve};

/// Runs `f` with a mini cluster of two TaskManagers with 2 slots each, its REST server's base
/// URL and a fresh directory (removed afterwards), failing the test after `limit`.
fn with_rest<F, Fut>(limit: Duration, f: F)
where
    F: FnOnce(Arc<MiniCluster>, String, std::path::PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    common::init_logging();
    let dir = common::temp_dir("checkpoint-details");
    let d = dir.clone();
    common::with_cluster(common::cluster(2, 2), limit, |c| async move {
        let base = serve(&c);
        f(c, base, d).await
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn int(v: &Value, field: &str) -> i64 {
    v[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} is not an integer in {v}"))
}

/// The fields of a checkpoint in Flink's `/checkpoints` answer (job_checkpoints.json).
const CHECKPOINT_FIELDS: [&str; 19] = [
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
];

/// Flink's `TaskCheckpointStatistics`.
const TASK_FIELDS: [&str; 11] = [
    "id",
    "status",
    "latest_ack_timestamp",
    "checkpointed_size",
    "state_size",
    "end_to_end_duration",
    "alignment_buffered",
    "processed_data",
    "persisted_data",
    "num_subtasks",
    "num_acknowledged_subtasks",
];

/// Flink's `CompletedSubtaskCheckpointStatistics`, and Rill's `taskmanager`.
const SUBTASK_FIELDS: [&str; 13] = [
    "className",
    "index",
    "status",
    "ack_timestamp",
    "end_to_end_duration",
    "checkpointed_size",
    "state_size",
    "checkpoint",
    "alignment",
    "start_delay",
    "unaligned_checkpoint",
    "aborted",
    "taskmanager",
];

/// Submits `keyed-sum` (records enough to outlast the test) with a checkpoint every 300 ms
/// (the history of 10 holds each for 3 s).
async fn submit(base: &str, dir: &std::path::Path) -> String {
    let body = serde_json::json!({
        "job": "keyed-sum",
        "args": ["--records", "1000000000", "--keys", "1000"],
        "parallelism": P,
        "checkpoint_interval_ms": 300,
        "checkpoint_dir": dir,
    });
    let a = post(format!("{base}/jobs"), body.to_string()).await;
    assert_eq!(a.status, 202, "{}", a.json);
    a.json["jobid"].as_str().expect("jobid").to_string()
}

/// Waits (20 s at most) until `n` checkpoints completed; returns `/checkpoints`.
async fn completed(base: &str, job: &str, n: u64) -> Value {
    let start = Instant::now();
    loop {
        let s = get_ok(format!("{base}/jobs/{job}/checkpoints")).await;
        if s["counts"]["completed"].as_u64().is_some_and(|c| c >= n) {
            return s;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks one vertex's subtasks of checkpoint `cp` (its details answer) against the vertex's
/// entry in `tasks` and the trigger; returns the subtasks.
async fn check_vertex(base: &str, job: &str, cp: &Value, vid: &str, tms: &[String]) -> Vec<Value> {
    let id = int(cp, "id");
    let trigger = int(cp, "trigger_timestamp");
    let task = &cp["tasks"][vid];
    let d = get_ok(format!(
        "{base}/jobs/{job}/checkpoints/details/{id}/subtasks/{vid}"
    ))
    .await;
    for f in TASK_FIELDS {
        assert_eq!(
            d[f], task[f],
            "{f}: the vertex's figures differ between routes"
        );
    }
    for f in [
        "checkpointed_size",
        "state_size",
        "end_to_end_duration",
        "checkpoint_duration",
        "alignment",
        "start_delay",
    ] {
        assert!(d["summary"].get(f).is_some(), "summary lacks {f}: {d}");
    }
    let subtasks = d["subtasks"].as_array().expect("subtasks").clone();
    assert_eq!(subtasks.len() as u64, P, "{d}");
    let mut state_sizes = Vec::new();
    for (i, s) in subtasks.iter().enumerate() {
        assert_eq!(
            keys(s),
            SUBTASK_FIELDS.into_iter().collect(),
            "subtask fields: {s}"
        );
        assert_eq!(
            (s["index"].as_u64(), s["status"].as_str()),
            (Some(i as u64), Some("completed"))
        );
        let ack = int(s, "ack_timestamp");
        assert!(ack >= trigger, "acknowledged before the trigger: {s}");
        assert!(ack <= int(cp, "latest_ack_timestamp"), "{s}");
        let e2e = int(s, "end_to_end_duration");
        assert_eq!(e2e, ack - trigger, "{s}");
        let (sync, asy) = (
            int(&s["checkpoint"], "sync"),
            int(&s["checkpoint"], "async"),
        );
        let alignment = int(&s["alignment"], "duration");
        assert!(sync >= 0 && asy >= 0 && alignment >= 0, "{s}");
        assert!(
            e2e >= sync + asy + alignment,
            "the parts took longer than trigger to acknowledgement: {s}"
        );
        assert!(int(s, "start_delay") <= e2e, "{s}");
        assert_eq!(s["unaligned_checkpoint"], false, "{s}");
        assert_eq!(
            int(&s["alignment"], "persisted"),
            0,
            "aligned: nothing persisted"
        );
        assert_eq!(s["aborted"], false);
        let tm = s["taskmanager"].as_str().expect("a TaskManager");
        assert!(tms.iter().any(|t| t == tm), "{tm} is not one of {tms:?}");
        state_sizes.push(int(s, "state_size"));
    }
    let summary = &d["summary"]["state_size"];
    assert_eq!(
        int(summary, "max"),
        state_sizes.iter().copied().max().unwrap_or(0)
    );
    assert_eq!(
        int(summary, "min"),
        state_sizes.iter().copied().min().unwrap_or(0)
    );
    assert_eq!(int(task, "state_size"), state_sizes.iter().sum::<i64>());
    subtasks
}

#[test]
fn checkpoint_details_show_every_vertex_and_subtask_in_flinks_shape() {
    with_rest(Duration::from_secs(120), |c, base, dir| async move {
        let job = submit(&base, &dir).await;
        let listing = completed(&base, &job, 3).await;
        let details = get_ok(format!("{base}/jobs/{job}")).await;
        let vertices = details["vertices"].as_array().expect("vertices").clone();
        assert_eq!(
            vertices.len(),
            2,
            "source, and sum with its sink: {details}"
        );
        let tms: Vec<String> = get_ok(format!("{base}/taskmanagers")).await["taskmanagers"]
            .as_array()
            .expect("taskmanagers")
            .iter()
            .map(|t| t["id"].as_str().expect("id").to_string())
            .collect();

        // The listing: Flink's summary and fields, each completed one acknowledged by all.
        for f in [
            "checkpointed_size",
            "state_size",
            "end_to_end_duration",
            "alignment_buffered",
            "processed_data",
            "persisted_data",
        ] {
            let s = &listing["summary"][f];
            assert!(
                int(s, "min") <= int(s, "avg") && int(s, "avg") <= int(s, "max"),
                "{f}: {s}"
            );
        }
        assert!(
            int(&listing["summary"]["state_size"], "min") > 0,
            "{listing}"
        );
        let latest = &listing["latest"]["completed"];
        assert_eq!(
            keys(latest),
            CHECKPOINT_FIELDS.into_iter().collect(),
            "{latest}"
        );
        for h in listing["history"].as_array().expect("history") {
            if h["status"] == "COMPLETED" {
                assert_eq!(h["className"], "completed");
                assert_eq!(h["num_subtasks"].as_u64(), Some(2 * P), "{h}");
                assert_eq!(h["num_acknowledged_subtasks"].as_u64(), Some(2 * P), "{h}");
                assert!(
                    int(h, "latest_ack_timestamp") >= int(h, "trigger_timestamp"),
                    "{h}"
                );
            }
        }

        // Details of the newest completed checkpoints: every vertex, all acknowledged.
        let ids: Vec<i64> = listing["history"]
            .as_array()
            .expect("history")
            .iter()
            .filter(|h| h["status"] == "COMPLETED")
            .map(|h| int(h, "id"))
            .collect();
        let mut keyed_waits = 0;
        for id in ids.iter().take(3) {
            let cp = get_ok(format!("{base}/jobs/{job}/checkpoints/details/{id}")).await;
            assert_eq!(keys(&cp), CHECKPOINT_FIELDS.into_iter().collect(), "{cp}");
            assert_eq!(
                (cp["status"].as_str(), cp["is_savepoint"].as_bool()),
                (Some("COMPLETED"), Some(false))
            );
            assert_eq!(cp["checkpoint_type"], "CHECKPOINT");
            let trigger = int(&cp, "trigger_timestamp");
            let latest_ack = int(&cp, "latest_ack_timestamp");
            assert!(latest_ack >= trigger, "{cp}");
            assert_eq!(
                int(&cp, "end_to_end_duration"),
                latest_ack - trigger,
                "{cp}"
            );
            assert_eq!(cp["num_acknowledged_subtasks"].as_u64(), Some(2 * P));
            let tasks = cp["tasks"].as_object().expect("tasks");
            assert_eq!(tasks.len(), vertices.len(), "{cp}");
            let mut state = 0;
            for v in &vertices {
                let vid = v["id"].as_str().expect("id");
                let task = &cp["tasks"][vid];
                assert_eq!(keys(task), TASK_FIELDS.into_iter().collect(), "{task}");
                assert_eq!(task["num_subtasks"], v["parallelism"], "{task}");
                assert_eq!(
                    task["num_acknowledged_subtasks"], v["parallelism"],
                    "{task}"
                );
                assert!(int(task, "latest_ack_timestamp") <= latest_ack);
                state += int(task, "state_size");
                let subtasks = check_vertex(&base, &job, &cp, vid, &tms).await;
                let is_source = v["name"].as_str().is_some_and(|n| n.starts_with("Records"));
                if is_source {
                    // A source aligns nothing and processes nothing while aligning.
                    for s in &subtasks {
                        assert_eq!(int(&s["alignment"], "duration"), 0, "{s}");
                        assert_eq!(int(&s["alignment"], "processed"), 0, "{s}");
                    }
                } else {
                    // The running sum keeps 1,000 keys' state over its two subtasks.
                    for s in &subtasks {
                        assert!(int(s, "state_size") > 0, "{s}");
                        keyed_waits += int(s, "start_delay") + int(&s["alignment"], "duration");
                    }
                }
            }
            assert_eq!(
                state,
                int(&cp, "state_size"),
                "the vertices' state adds up: {cp}"
            );
        }
        // Barriers reach the running sum behind the records queued before them (the source
        // runs flat out), over three checkpoints' four subtasks: not all at once.
        assert!(
            keyed_waits > 0,
            "no start delay or alignment measured downstream"
        );

        // Unknown ids: 404; a checkpoint id that is not a number: 400; all as JSON.
        let vid = vertices[0]["id"].as_str().expect("id").to_string();
        let cid = ids[0];
        let a = get(format!("{base}/jobs/{job}/checkpoints/details/99999")).await;
        common::assert_error(&a, 404, "checkpoint 99999");
        let a = get(format!("{base}/jobs/{job}/checkpoints/details/abc")).await;
        common::assert_error(&a, 400, "checkpoint id");
        let a = get(format!(
            "{base}/jobs/{job}/checkpoints/details/-1/subtasks/{vid}"
        ))
        .await;
        common::assert_error(&a, 400, "checkpoint id");
        let a = get(format!(
            "{base}/jobs/{job}/checkpoints/details/{cid}/subtasks/ffff"
        ))
        .await;
        common::assert_error(&a, 404, "vertex");
        let a = get(format!(
            "{base}/jobs/{job}/checkpoints/details/99999/subtasks/{vid}"
        ))
        .await;
        common::assert_error(&a, 404, "checkpoint 99999");
        let unknown = "0123456789abcdef0123456789abcdef";
        let a = get(format!("{base}/jobs/{unknown}/checkpoints/details/{cid}")).await;
        common::assert_error(&a, 404, unknown);
        let a = get(format!(
            "{base}/jobs/{unknown}/checkpoints/details/{cid}/subtasks/{vid}"
        ))
        .await;
        common::assert_error(&a, 404, unknown);
        let a = get(format!("{base}/jobs/not-hex/checkpoints/details/{cid}")).await;
        common::assert_error(&a, 400, "job id");

        // Prometheus: the job's checkpoints by outcome and the last one's duration and sizes.
        let text = tokio::task::spawn_blocking({
            let url = format!("{base}/metrics");
            move || {
                ureq::get(&url)
                    .call()
                    .expect("/metrics")
                    .into_string()
                    .expect("text")
            }
        })
        .await
        .expect("blocking GET");
        let completed_now = text
            .lines()
            .find(|l| {
                l.starts_with("rill_job_checkpoints_total{")
                    && l.contains(&job)
                    && l.contains("outcome=\"completed\"")
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .expect("completed checkpoints counted");
        assert!(completed_now >= 3.0, "{text}");
        let state_bytes = text
            .lines()
            .find(|l| {
                l.starts_with("rill_job_last_checkpoint_state_size_bytes{") && l.contains(&job)
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .expect("the last checkpoint's state size");
        assert!(state_bytes > 0.0, "{text}");
        assert!(
            text.contains("rill_job_last_checkpoint_duration_seconds{"),
            "{text}"
        );
        common::prometheus::promtool_accepts(&text);

        // Once the job ended, its checkpoints' details are still there.
        let job_id = job.parse().expect("job id");
        c.cancel(job_id).await.expect("cancelled");
        let _ = c.wait(job_id).await;
        let after = get_ok(format!("{base}/jobs/{job}/checkpoints")).await;
        let newest = int(&after["latest"]["completed"], "id");
        let cp = get_ok(format!("{base}/jobs/{job}/checkpoints/details/{newest}")).await;
        assert_eq!(
            cp["num_acknowledged_subtasks"].as_u64(),
            Some(2 * P),
            "{cp}"
        );
        let d = get_ok(format!(
            "{base}/jobs/{job}/checkpoints/details/{newest}/subtasks/{vid}"
        ))
        .await;
        assert_eq!(d["subtasks"].as_array().map(Vec::len), Some(P as usize));
    });
}
