//! Job status: a failing user function ends the job FAILED with its message and the cluster
//! keeps serving; cancelling an unbounded job ends it CANCELED within a second.

mod common;

use std::time::{Duration, Instant};

use rill::api::{Collector, SourceFunction, SourcePoll, StreamEnv};
use rill::graph::JobStatus;
use rill::operators::UserError;

#[derive(Clone)]
struct Endless(u64);

impl SourceFunction<u64> for Endless {
    fn poll_next(
        &mut self,
        out: &mut Collector<'_, u64>,
        max: usize,
    ) -> Result<SourcePoll, UserError> {
        for _ in 0..max {
            self.0 += 1;
            out.collect(self.0);
        }
        Ok(SourcePoll::Ready)
    }
}

#[test]
fn a_panicking_function_fails_the_job_and_the_cluster_keeps_serving() {
    common::with_cluster(
        common::cluster(2, 2),
        Duration::from_secs(60),
        |c| async move {
            let env = StreamEnv::new("panics");
            env.sequence(1, 10_000)
                .set_parallelism(2)
                .map(|x: u64| if x == 5_000 { panic!("boom at {x}") } else { x })
                .collect();
            let r = c.execute(&env, None).await.expect("result");
            assert_eq!(r.status, JobStatus::Failed);
            let cause = r.failure.expect("a cause");
            assert!(cause.contains("boom at 5000"), "{cause}");

            let env = StreamEnv::new("after");
            let out = env.sequence(1, 100).map(|x: u64| x * 2).collect();
            let r = c.execute(&env, None).await.expect("result");
            assert_eq!(r.status, JobStatus::Finished);
            assert_eq!(out.take().iter().sum::<u64>(), 10_100);
        },
    );
}

#[test]
fn an_erroring_process_function_names_its_error() {
    let env = StreamEnv::new("errors");
    env.from_elements(1..=10u64)
        .process(
            |v: u64,
             _ctx: &mut rill::api::ProcessContext<'_>,
             out: &mut Collector<'_, u64>|
             -> Result<(), UserError> {
                if v == 7 {
                    return Err(format!("bad record {v}").into());
                }
                out.collect(v);
                Ok(())
            },
        )
        .collect();
    let r = common::run(&env, common::cluster(1, 2));
    assert_eq!(r.status, JobStatus::Failed);
    assert!(
        r.failure.as_deref().unwrap_or("").contains("bad record 7"),
        "{:?}",
        r.failure
    );
}

#[test]
fn cancelling_an_unbounded_job_ends_it_within_a_second() {
    common::with_cluster(
        common::cluster(1, 4),
        Duration::from_secs(60),
        |c| async move {
            let env = StreamEnv::new("endless");
            env.set_parallelism(2);
            env.add_source("Endless", Endless(0))
                .rebalance()
                .map(|x: u64| x + 1)
                .add_sink("Discard", rill::operators::sinks::DiscardSink::default());
            let job = c.submit(&env, None).await.expect("submit");
            tokio::time::sleep(Duration::from_millis(300)).await;
            let start = Instant::now();
            c.cancel(job).await.expect("cancel");
            let r = c.wait(job).await.expect("result");
            let took = start.elapsed();
            assert_eq!(r.status, JobStatus::Canceled);
            assert!(took < Duration::from_secs(1), "cancel took {took:?}");
            assert_eq!(
                c.transport().entries(),
                0,
                "channel registrations are cleaned up"
            );
        },
    );
}
