//! Watermarks travel in-band: after the records sent before them, through chains, exchanges
//! and keyed operators, as the minimum over a task's channels. A bounded source ends with the
//! maximum watermark, so a sink sees it exactly once, after every record.

mod common;

use std::sync::{Arc, Mutex};

use rill::api::{RuntimeMode, SinkFunction, StreamEnv};
use rill::eventtime::{Timestamp, MAX_WATERMARK};
use rill::graph::JobStatus;
use rill::operators::UserError;

/// What a sink saw, in order: records (counted) and watermarks.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Records(usize),
    Watermark(Timestamp),
}

#[derive(Clone)]
struct Recorder {
    log: Arc<Mutex<Vec<Seen>>>,
}

impl<T: Send + 'static> SinkFunction<T> for Recorder {
    fn invoke(&mut self, _value: T) -> Result<(), UserError> {
        let mut log = self.log.lock().expect("log");
        match log.last_mut() {
            Some(Seen::Records(n)) => *n += 1,
            _ => log.push(Seen::Records(1)),
        }
        Ok(())
    }

    fn write_watermark(&mut self, watermark: Timestamp) -> Result<(), UserError> {
        self.log
            .lock()
            .expect("log")
            .push(Seen::Watermark(watermark));
        Ok(())
    }
}

/// Runs the job and returns what its recorder saw.
fn seen(
    env: &StreamEnv,
    log: &Mutex<Vec<Seen>>,
    config: rill::actors::MiniClusterConfig,
) -> Vec<Seen> {
    let result = common::run(env, config);
    assert_eq!(result.status, JobStatus::Finished, "{result:?}");
    log.lock().expect("log").clone()
}

#[test]
fn the_end_of_input_watermark_arrives_once_after_every_record() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let env = StreamEnv::new("watermarks");
    env.sequence(1, 50_000)
        .set_parallelism(2)
        .rebalance()
        .map(|x| x * 2)
        .set_parallelism(3)
        .global()
        .add_sink("Recorder", Recorder { log: log.clone() })
        .set_parallelism(1);
    // 3 channels into the sink, each ending with the maximum watermark: the valve passes it
    // on once, when the last channel reaches it.
    assert_eq!(
        seen(&env, &log, common::cluster(2, 3)),
        [Seen::Records(50_000), Seen::Watermark(MAX_WATERMARK)]
    );
}

#[test]
fn batch_aggregates_go_out_before_the_end_of_input_watermark() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let env = StreamEnv::new("batch watermark");
    env.set_runtime_mode(RuntimeMode::Batch);
    env.sequence(1, 10_000)
        .set_parallelism(2)
        .map(|x| (x % 10, x))
        .key_by(|t: &(u64, u64)| t.0)
        .sum(|t: &mut (u64, u64)| &mut t.1)
        .set_parallelism(2)
        .global()
        .add_sink("Recorder", Recorder { log: log.clone() })
        .set_parallelism(1);
    assert_eq!(
        seen(&env, &log, common::cluster(1, 4)),
        [Seen::Records(10), Seen::Watermark(MAX_WATERMARK)],
        "the 10 final sums, then the watermark"
    );
}
