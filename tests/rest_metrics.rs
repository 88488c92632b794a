//! Task metrics over REST and Prometheus, against a mini cluster in this process: a slow sink
//! shows as high backpressure upstream and a busy sink, its input queue full in `/actors`;
//! watermarks advance while an event-time job runs; metrics per subtask and aggregated answer
//! with Flink's names, unknown ids 404 and bad parameters 400; `/metrics` is Prometheus text
//! whose records-out counter grows between two scrapes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use rill::actors::MiniCluster;
use rill::api::{Collector, SinkFunction, SourceFunction, SourcePoll, StreamEnv};
use rill::config::RuntimeConfig;
use rill::eventtime::WatermarkStrategy;
use rill::operators::UserError;
use serde_json::Value;

/// Endless numbers, `pause` between polls.
#[derive(Clone)]
struct Numbers {
    next: u64,
    pause: Duration,
}

impl SourceFunction<u64> for Numbers {
    fn poll_next(
        &mut self,
        out: &mut Collector<'_, u64>,
        max: usize,
    ) -> Result<SourcePoll, UserError> {
        std::thread::sleep(self.pause);
        for _ in 0..max.min(100) {
            out.collect(self.next);
            self.next += 1;
        }
        Ok(SourcePoll::Ready)
    }
}

/// Sleeps `pause` per buffer.
#[derive(Clone)]
struct SlowSink {
    pause: Duration,
}

impl SinkFunction<u64> for SlowSink {
    fn invoke(&mut self, _value: u64) -> Result<(), UserError> {
        Ok(())
    }

    fn invoke_batch(&mut self, _values: Vec<u64>) -> Result<(), UserError> {
        std::thread::sleep(self.pause);
        Ok(())
    }
}

fn slow_sink_job() -> StreamEnv {
    let env = StreamEnv::new("slow sink");
    env.add_source(
        "Numbers",
        Numbers {
            next: 0,
            pause: Duration::ZERO,
        },
    )
    .set_parallelism(1)
    .rebalance()
    .add_sink(
        "Slow Sink",
        SlowSink {
            pause: Duration::from_millis(20),
        },
    )
    .set_parallelism(1)
    .slot_sharing_group("slow");
    env
}

/// Numbers whose event time is 10 ms each, watermarks as they go, into a sink that discards.
fn event_time_job() -> StreamEnv {
    let env = StreamEnv::new("event time");
    env.add_source(
        "Ticks",
        Numbers {
            next: 0,
            pause: Duration::from_millis(5),
        },
    )
    .set_parallelism(1)
    .assign_timestamps_and_watermarks(
        WatermarkStrategy::for_monotonous_timestamps()
            .with_timestamp_assigner(|n: &u64, _| (*n * 10) as i64),
    )
    .rebalance()
    .add_sink(
        "Discard",
        SlowSink {
            pause: Duration::ZERO,
        },
    )
    .set_parallelism(1);
    env
}

use common::rest::{get, get_ok, get_text, serve};

/// Runs `f` with a mini cluster of one TaskManager with 2 slots and its REST server's base
/// URL, failing the test after `limit`.
fn with_rest<F, Fut>(limit: Duration, f: F)
where
    F: FnOnce(Arc<MiniCluster>, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    common::init_logging();
    common::with_cluster(common::cluster(1, 2), limit, |c| async move {
        let base = serve(&c);
        f(c, base).await
    });
}

/// Cancels `job` and waits for its end.
async fn stop(c: &MiniCluster, job: rill::ids::JobId) {
    c.cancel(job).await.expect("cancelled");
    let _ = c.wait(job).await;
}

fn vertex_ids(job: &Value) -> Vec<String> {
    job["vertices"]
        .as_array()
        .expect("vertices")
        .iter()
        .map(|v| v["id"].as_str().expect("id").to_string())
        .collect()
}

/// Sum of a Prometheus family's samples whose line contains `filter`.
fn sample_sum(text: &str, family: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.starts_with(family) && l[family.len()..].starts_with('{') && l.contains(filter)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn a_slow_sink_shows_as_backpressure_upstream_and_a_busy_full_sink() {
    with_rest(Duration::from_secs(90), |c, base| async move {
        let job = c.submit(&slow_sink_job(), None).await.expect("submitted");
        let id = job.to_string();
        let details = get_ok(format!("{base}/jobs/{id}")).await;
        let [source, sink] = <[String; 2]>::try_from(vertex_ids(&details)).expect("two vertices");

        // Rates come from one-second samples: wait for the source to be seen backpressured.
        let mut bp = Value::Null;
        for _ in 0..100 {
            bp = get_ok(format!("{base}/jobs/{id}/vertices/{source}/backpressure")).await;
            if bp["backpressure-level"] == "high" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(bp["backpressure-level"], "high", "{bp}");
        assert_eq!(bp["status"], "ok");
        assert!(bp["end-timestamp"].as_i64().is_some_and(|t| t > 0), "{bp}");
        let s0 = &bp["subtasks"][0];
        assert_eq!(s0["subtask"], 0);
        assert_eq!(s0["backpressure-level"], "high");
        assert!(s0["ratio"].as_f64().is_some_and(|r| r > 0.5), "{s0}");
        for f in ["attempt-number", "idleRatio", "busyRatio"] {
            assert!(s0.get(f).is_some(), "{f} missing: {s0}");
        }

        let sink_bp = get_ok(format!("{base}/jobs/{id}/vertices/{sink}/backpressure")).await;
        let busy = sink_bp["subtasks"][0]["busyRatio"]
            .as_f64()
            .expect("busyRatio");
        assert!(busy > 0.5, "the sink is not busy: {sink_bp}");
        assert_eq!(sink_bp["backpressure-level"], "ok", "{sink_bp}");

        // Aggregated over the sink's subtasks, by Flink's names.
        let agg = get_ok(format!(
            "{base}/jobs/{id}/vertices/{sink}/subtasks/metrics?get=busyTimeMsPerSecond,numRecordsIn&agg=max,sum"
        ))
        .await;
        let busy_max = agg
            .as_array()
            .and_then(|a| a.iter().find(|m| m["id"] == "busyTimeMsPerSecond"))
            .and_then(|m| m["max"].as_f64())
            .expect("busyTimeMsPerSecond max");
        assert!(busy_max > 500.0, "{agg}");
        assert!(
            agg[0].get("min").is_none(),
            "only max and sum were asked: {agg}"
        );
        let names = get_ok(format!("{base}/jobs/{id}/vertices/{sink}/subtasks/metrics")).await;
        assert!(names
            .as_array()
            .is_some_and(|n| n.iter().any(|m| m["id"] == "backPressuredTimeMsPerSecond")));
        let per = get_ok(format!("{base}/jobs/{id}/vertices/{source}/metrics?get=0.numRecordsOut,0.backPressuredTimeMsPerSecond")).await;
        let out: f64 = per[0]["value"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .expect("a value");
        assert!(out > 0.0, "{per}");

        // The sink's input queue (its mailbox for data) is full: it holds every buffer it
        // granted credit for, and its producer has none left. The source has no input queue.
        let exclusive = u64::from(RuntimeConfig::default().exclusive_credits);
        let mut full = None;
        for _ in 0..100 {
            let actors = get_ok(format!("{base}/actors")).await;
            let subtasks: Vec<&Value> = actors["actors"]
                .as_array()
                .expect("actors")
                .iter()
                .filter(|a| a["kind"] == "Subtask")
                .collect();
            let find = |name: &str| {
                subtasks
                    .iter()
                    .find(|a| a["path"].as_str().is_some_and(|p| p.contains(name)))
                    .copied()
            };
            let src = find(&source).expect("the source subtask");
            assert_eq!(
                src["mailbox_len"], 0,
                "the source has no input queue: {src}"
            );
            assert_eq!(src["subtask"]["inputs"].as_array().map(Vec::len), Some(0));
            let snk = find(&sink).expect("the sink subtask");
            let input = &snk["subtask"]["inputs"][0];
            let queued = input["queued"].as_u64().expect("queued");
            if input["credit"] == 0 && queued >= exclusive {
                full = Some(snk.clone());
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let full =
            full.expect("the sink's queue was never seen full with its producer out of credit");
        assert!(full["mailbox_len"].as_u64() >= Some(exclusive), "{full}");

        // Unknown ids 404, bad parameters 400, as JSON.
        let missing = get(format!(
            "{base}/jobs/{id}/vertices/{}/backpressure",
            "0".repeat(32)
        ))
        .await;
        common::assert_error(&missing, 404, "no vertex");
        let bad = get(format!(
            "{base}/jobs/{id}/vertices/{sink}/subtasks/metrics?get=numRecordsIn&agg=median"
        ))
        .await;
        common::assert_error(&bad, 400, "median");
        let no_job = get(format!(
            "{base}/jobs/{}/vertices/{sink}/watermarks",
            "f".repeat(32)
        ))
        .await;
        common::assert_error(&no_job, 404, "no job");

        // Prometheus: a counter that grows between two scrapes.
        let (ct, first) = get_text(format!("{base}/metrics")).await;
        assert!(ct.starts_with("text/plain"), "{ct}");
        assert!(
            first.contains("# TYPE rill_task_records_out_total counter"),
            "{first}"
        );
        assert!(first.contains("rill_taskmanagers 1"), "{first}");
        assert!(first.contains("rill_actor_mailbox_length{"), "{first}");
        assert!(
            first.contains("rill_taskmanager_resident_memory_bytes{taskmanager="),
            "{first}"
        );
        assert!(first.contains("rill_process_threads "), "{first}");
        let out1 = sample_sum(&first, "rill_task_records_out_total", "Numbers");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_, second) = get_text(format!("{base}/metrics")).await;
        let out2 = sample_sum(&second, "rill_task_records_out_total", "Numbers");
        assert!(out2 > out1 && out1 > 0.0, "records out {out1} then {out2}");
        common::prometheus::promtool_accepts(&second);
        let addr = base.trim_start_matches("http://").to_string();
        let series = tokio::task::spawn_blocking(move || {
            common::prometheus::scrape(&[addr.as_str()], "rill_task_records_out_total", 1)
        })
        .await
        .expect("prometheus thread");
        assert!(
            series.contains("rill_task_records_out_total") && series.contains("slow sink"),
            "{series}"
        );

        stop(&c, job).await;
    });
}

#[test]
fn watermarks_advance_while_an_event_time_job_runs() {
    with_rest(Duration::from_secs(60), |c, base| async move {
        let job = c.submit(&event_time_job(), None).await.expect("submitted");
        let id = job.to_string();
        let details = get_ok(format!("{base}/jobs/{id}")).await;
        let sink = vertex_ids(&details).pop().expect("a sink vertex");
        let read = |w: &Value, name: &str| -> Option<i64> {
            w.as_array()?.iter().find(|m| m["id"] == name)?["value"]
                .as_str()?
                .parse()
                .ok()
        };
        let mut seen = Vec::new();
        for _ in 0..200 {
            let w = get_ok(format!("{base}/jobs/{id}/vertices/{sink}/watermarks")).await;
            if let Some(v) = read(&w, "0.currentInputWatermark").filter(|v| *v > i64::MIN) {
                if seen.last() != Some(&v) {
                    seen.push(v);
                }
                assert_eq!(read(&w, "0.currentOutputWatermark"), Some(v), "{w}");
            }
            if seen.len() >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(seen.len() >= 3, "the watermark did not advance: {seen:?}");
        assert!(seen.windows(2).all(|p| p[0] < p[1]), "{seen:?}");
        stop(&c, job).await;
    });
}

#[test]
fn plan_and_configuration_follow_flinks_shapes() {
    with_rest(Duration::from_secs(60), |c, base| async move {
        let config = get_ok(format!("{base}/config")).await;
        for f in [
            "refresh-interval",
            "timezone-name",
            "timezone-offset",
            "rill-version",
        ] {
            assert!(config.get(f).is_some(), "{f} missing: {config}");
        }
        assert_eq!(config["features"]["web-submit"], true);
        let jm = get_ok(format!("{base}/jobmanager/config")).await;
        let value = |key: &str| {
            jm.as_array()?.iter().find(|e| e["key"] == key)?["value"]
                .as_str()
                .map(str::to_string)
        };
        assert_eq!(value("exclusive_credits").as_deref(), Some("2"), "{jm}");
        assert_eq!(value("task_metrics").as_deref(), Some("true"), "{jm}");

        // The JobManager's and a TaskManager's own metrics (Flink's list-then-get shape).
        let names = get_ok(format!("{base}/jobmanager/metrics")).await;
        assert!(
            names
                .as_array()
                .is_some_and(|n| n.iter().any(|m| m["id"] == "numRegisteredTaskManagers")),
            "{names}"
        );
        let jm_values = get_ok(format!("{base}/jobmanager/metrics?get=numRegisteredTaskManagers,Status.Process.Memory.RSS,nothing")).await;
        assert_eq!(jm_values.as_array().map(Vec::len), Some(2), "{jm_values}");
        assert_eq!(jm_values[0]["value"], "1");
        let tms = get_ok(format!("{base}/taskmanagers")).await;
        let tm = tms["taskmanagers"][0]["id"]
            .as_str()
            .expect("a TaskManager")
            .to_string();
        let tm_values = get_ok(format!("{base}/taskmanagers/{tm}/metrics?get=Status.Process.Memory.RSS,Status.Process.Threads.Count,Status.TaskSlots.Total")).await;
        let num = |i: usize| {
            tm_values[i]["value"]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .expect("a number")
        };
        assert!(num(0) > 1e6 && num(1) >= 2.0, "{tm_values}");
        assert_eq!(num(2), 2.0, "{tm_values}");
        let unknown_tm = get(format!("{base}/taskmanagers/nobody/metrics")).await;
        common::assert_error(&unknown_tm, 404, "no TaskManager");

        // The JobManager's recent log lines (Flink's list of logs, then one log's text).
        rill::logs::push("rest-metrics-test: a line the ring keeps");
        let logs = get_ok(format!("{base}/jobmanager/logs")).await;
        assert_eq!(logs["logs"][0]["name"], "jobmanager.log", "{logs}");
        assert!(logs["logs"][0]["size"].as_u64() > Some(0), "{logs}");
        for path in ["/jobmanager/logs/jobmanager.log", "/jobmanager/log"] {
            let (ct, text) = get_text(format!("{base}{path}")).await;
            assert!(ct.starts_with("text/plain"), "{ct}");
            assert!(
                text.contains("rest-metrics-test: a line the ring keeps"),
                "{path}: {text}"
            );
        }
        let no_log = get(format!("{base}/jobmanager/logs/other.log")).await;
        common::assert_error(&no_log, 404, "no log");

        let env = slow_sink_job();
        env.enable_checkpointing(Duration::from_secs(30));
        let job = c.submit(&env, None).await.expect("submitted");
        let id = job.to_string();
        let plan = get_ok(format!("{base}/jobs/{id}/plan")).await;
        let p = &plan["plan"];
        assert_eq!(p["jid"], id.as_str());
        assert_eq!(p["type"], "STREAMING");
        let nodes = p["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), 2, "{plan}");
        // Sinks first, as Flink lists them; the sink's input is the source, rebalanced.
        let input = &nodes[0]["inputs"][0];
        assert_eq!(input["id"], nodes[1]["id"], "{plan}");
        assert_eq!(input["ship_strategy"], "REBALANCE");
        assert_eq!(input["exchange"], "pipelined_bounded");
        assert!(
            nodes[1].get("inputs").is_none(),
            "a source has no inputs: {plan}"
        );
        for f in [
            "id",
            "operator",
            "parallelism",
            "operator_strategy",
            "description",
            "optimizer_properties",
        ] {
            assert!(nodes[0].get(f).is_some(), "{f} missing: {plan}");
        }
        assert!(
            nodes[1]["description"]
                .as_str()
                .is_some_and(|d| d.contains("Numbers")),
            "{plan}"
        );

        let cc = get_ok(format!("{base}/jobs/{id}/checkpoints/config")).await;
        assert_eq!(cc["mode"], "exactly_once");
        assert_eq!(cc["interval"], 30_000);
        for f in [
            "timeout",
            "min_pause",
            "max_concurrent",
            "externalization",
            "state_backend",
            "checkpoint_storage",
            "unaligned_checkpoints",
            "tolerable_failed_checkpoints",
            "aligned_checkpoint_timeout",
        ] {
            assert!(cc.get(f).is_some(), "{f} missing: {cc}");
        }
        let jc = get_ok(format!("{base}/jobs/{id}/config")).await;
        assert_eq!(jc["jid"], id.as_str());
        assert_eq!(jc["execution-config"]["execution-mode"], "PIPELINED");
        assert_eq!(jc["execution-config"]["job-parallelism"], 1);

        // A job without checkpoints has no checkpoint config; unknown jobs and bad ids.
        let other = c.submit(&event_time_job(), None).await.expect("submitted");
        let none = get(format!("{base}/jobs/{other}/checkpoints/config")).await;
        common::assert_error(&none, 404, "not enabled");
        let unknown = get(format!("{base}/jobs/{}/plan", "a".repeat(32))).await;
        common::assert_error(&unknown, 404, "no job");
        let bad = get(format!("{base}/jobs/not-an-id/config")).await;
        assert_eq!(bad.status, 400, "{}", bad.json);

        for j in [job, other] {
            stop(&c, j).await;
        }
    });
}
