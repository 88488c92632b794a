//! Backpressure in process: a sink that is slow per buffer holds the source back, and the
//! records the source has emitted but the sink has not yet consumed stay below the bound the
//! credits allow (`RuntimeConfig::max_in_flight_records`), sampled throughout the run. And the
//! actor registry shows the subtasks under their slots, with their status and credits, and
//! their mailboxes (input queues) within the capacity the credits make.

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

/// `records` from one source, rebalanced over `sinks` sinks that sleep `pause` per buffer.
fn slow_sink_job(flow: &Arc<Flow>, records: u64, sinks: usize, pause: Duration) -> StreamEnv {
    let env = StreamEnv::new("backpressure");
    env.add_source(
        "Counting Source",
        CountingSource {
            flow: flow.clone(),
            left: records,
        },
    )
    .set_parallelism(1)
    .rebalance()
    .add_sink(
        "Slow Sink",
        SlowSink {
            flow: flow.clone(),
            pause,
        },
    )
    .set_parallelism(sinks)
    // Own slots, so the sink's sleeping never blocks the source's thread: only credits can.
    .slot_sharing_group("slow");
    env
}

#[test]
fn a_slow_sink_bounds_the_records_in_flight() {
    const RECORDS: u64 = 400_000;
    const SINKS: usize = 2;
    let flow = Arc::new(Flow::default());
    let env = slow_sink_job(&flow, RECORDS, SINKS, Duration::from_millis(2));

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

#[test]
fn the_registry_shows_subtasks_with_status_and_credits_and_their_mailboxes_hold() {
    const RECORDS: u64 = 400_000;
    let flow = Arc::new(Flow::default());
    let env = slow_sink_job(&flow, RECORDS, 2, Duration::from_millis(5));
    let config = RuntimeConfig::default();
    // A channel's queue: its exclusive buffers, every floating one of its gate, and room for
    // unaligned barriers.
    let per_channel = (config.exclusive_credits + config.floating_credits) as usize
        + rill::net::channel::PRIORITY_ELEMENTS;

    common::with_cluster(common::cluster(1, 3), Duration::from_secs(120), |c| {
        let flow = flow.clone();
        async move {
            let job = c.submit(&env, None).await.expect("submitted");
            let (mut samples, mut queued_max, mut seen_running) = (0, 0, false);
            while flow.consumed.load(Ordering::SeqCst) < RECORDS / 2 {
                let actors = c.actors().snapshot();
                let subtasks: Vec<_> = actors.iter().filter(|a| a.kind == "Subtask").collect();
                for s in &subtasks {
                    let info = s.subtask.as_ref().expect("a subtask's figures");
                    // Under its slot, which is under its TaskManager.
                    let slot = s.parent.as_deref().expect("a parent");
                    assert!(
                        s.path.starts_with(&format!("{slot}/subtask-")),
                        "{}",
                        s.path
                    );
                    let slot_entry = actors.iter().find(|a| a.path == slot).expect("slot");
                    assert_eq!(slot_entry.kind, "Slot");
                    let tm = slot_entry
                        .parent
                        .as_deref()
                        .expect("the slot's TaskManager");
                    assert!(actors
                        .iter()
                        .any(|a| a.path == tm && a.kind == "TaskManager"));
                    for input in &info.inputs {
                        assert_eq!(input.capacity, per_channel);
                        assert!(input.queued <= input.capacity, "{info:?}");
                        assert!(input.credit <= config.exclusive_credits + config.floating_credits);
                    }
                    assert_eq!(s.mailbox_capacity, info.inputs.len() * per_channel);
                    assert!(s.mailbox_len as usize <= s.mailbox_capacity);
                    for out in &info.outputs {
                        assert!(out.credit <= config.exclusive_credits + config.floating_credits);
                    }
                    if info.status == rill::graph::ExecutionState::Running {
                        seen_running = true;
                    }
                    queued_max = queued_max.max(s.mailbox_len);
                }
                if subtasks.len() == 3 {
                    samples += 1;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            assert!(seen_running, "no subtask was seen RUNNING");
            assert!(samples > 20, "only {samples} samples with all 3 subtasks");
            // The sinks were slow: buffers waited in their queues (the bound above was tested
            // under pressure).
            assert!(
                queued_max >= u64::from(config.exclusive_credits),
                "at most {queued_max} buffers waited in a sink's queue"
            );
            let r = c.wait(job).await.expect("result");
            assert_eq!(r.status, JobStatus::Finished, "{:?}", r.failure);
            // Ended subtasks leave the registry (each right after it reported its end).
            let registered = || -> Vec<String> {
                c.actors()
                    .snapshot()
                    .into_iter()
                    .filter(|a| a.kind == "Subtask")
                    .map(|a| a.path)
                    .collect()
            };
            for _ in 0..500 {
                if registered().is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(
                registered().is_empty(),
                "still registered: {:?}",
                registered()
            );
            eprintln!("{samples} samples, at most {queued_max} elements queued at a sink");
        }
    });
}
