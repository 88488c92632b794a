//! Backpressure in process: a sink that is slow per buffer holds the source back, and the
//! records the source has emitted but the sink has not yet consumed stay below the bound the
//! credits allow (`RuntimeConfig::max_in_flight_records`), sampled throughout the run.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rill::api::{Collector, SinkFunction, SourceFunction, SourcePoll, StreamEnv};
use rill::config::RuntimeConfig;
use rill::graph::JobStatus;
use rill::operators::UserError;

/// Counters shared by the source, the sink and the sampler.
#[derive(Default)]
struct Flow {
    emitted: AtomicU64,
    consumed: AtomicU64,
    done: AtomicBool,
}

#[derive(Clone)]
struct CountingSource {
    flow: Arc<Flow>,
    left: u64,
}

impl SourceFunction<u64> for CountingSource {
    fn poll_next(
        &mut self,
        out: &mut Collector<'_, u64>,
        max: usize,
    ) -> Result<SourcePoll, UserError> {
        let n = self.left.min(max as u64);
        for i in 0..n {
            out.collect(i);
        }
        self.left -= n;
        // Counted as emitted before the buffer enters the chain: this can only overstate what
        // is in flight, never hide it.
        self.flow.emitted.fetch_add(n, Ordering::SeqCst);
        Ok(if self.left == 0 {
            SourcePoll::Finished
        } else {
            SourcePoll::Ready
        })
    }
}

#[derive(Clone)]
struct SlowSink {
    flow: Arc<Flow>,
    pause: Duration,
}

impl SinkFunction<u64> for SlowSink {
    fn invoke(&mut self, _value: u64) -> Result<(), UserError> {
        self.flow.consumed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn invoke_batch(&mut self, values: Vec<u64>) -> Result<(), UserError> {
        std::thread::sleep(self.pause);
        self.flow
            .consumed
            .fetch_add(values.len() as u64, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn a_slow_sink_bounds_the_records_in_flight() {
    const RECORDS: u64 = 400_000;
    const SINKS: usize = 2;
    let flow = Arc::new(Flow::default());

    let env = StreamEnv::new("backpressure");
    env.add_source(
        "Counting Source",
        CountingSource {
            flow: flow.clone(),
            left: RECORDS,
        },
    )
    .set_parallelism(1)
    .rebalance()
    .add_sink(
        "Slow Sink",
        SlowSink {
            flow: flow.clone(),
            pause: Duration::from_millis(2),
        },
    )
    .set_parallelism(SINKS)
    // Own slots, so the sink's sleeping never blocks the source's thread: only credits can.
    .slot_sharing_group("slow");

    // One producer subpartition per sink: SINKS channels, SINKS gates.
    let bound = RuntimeConfig::default().max_in_flight_records(SINKS, SINKS) as u64;
    let sampler = {
        let flow = flow.clone();
        std::thread::spawn(move || {
            let (mut max, mut samples) = (0u64, 0u64);
            while !flow.done.load(Ordering::SeqCst) {
                // consumed first: a later read of emitted can only make the difference larger.
                let consumed = flow.consumed.load(Ordering::SeqCst);
                let emitted = flow.emitted.load(Ordering::SeqCst);
                max = max.max(emitted.saturating_sub(consumed));
                samples += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            (max, samples)
        })
    };
    let r = common::run(&env, common::cluster(1, 1 + SINKS));
    flow.done.store(true, Ordering::SeqCst);
    let (max_in_flight, samples) = sampler.join().expect("sampler");

    assert_eq!(r.status, JobStatus::Finished, "{:?}", r.failure);
    assert_eq!(flow.consumed.load(Ordering::SeqCst), RECORDS);
    assert!(samples > 100, "only {samples} samples");
    assert!(
        max_in_flight <= bound,
        "{max_in_flight} records in flight, bound {bound}"
    );
    // The sink really was the bottleneck (several buffers waited for it), so the bound above
    // was tested under pressure: without credits the source would have emitted all 400,000
    // records in microseconds while the sinks slept through ~200 buffers.
    let buffer = RuntimeConfig::default().buffer_size as u64;
    assert!(
        max_in_flight >= 2 * buffer,
        "only {max_in_flight} in flight: the sink never pushed back (bound {bound})"
    );
    eprintln!("max in flight {max_in_flight} of bound {bound} over {samples} samples");
}
