//! Issue 4's joins: a window join and an interval join of two keyed streams in event time,
//! against hand-computed pairs.

mod common;

use std::time::Duration;

use rill::api::{Collector, DataStream, StreamEnv};
use rill::eventtime::WatermarkStrategy;
use rill::graph::JobStatus;
use rill::windowing::assigners::TimeWindows;

type Ev = (String, i64, i64); // key, value, timestamp

fn timed(env: &StreamEnv, events: &[(&str, i64, i64)]) -> DataStream<Ev> {
    let items: Vec<Ev> = events
        .iter()
        .map(|(k, v, t)| (k.to_string(), *v, *t))
        .collect();
    env.from_elements(items).assign_timestamps_and_watermarks(
        WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|e: &Ev, _| e.2),
    )
}

#[test]
fn window_join_pairs_elements_of_one_key_and_window() {
    let env = StreamEnv::new("window-join");
    env.set_parallelism(2);
    let a = timed(&env, &[("a", 1, 1), ("a", 2, 2), ("b", 3, 3), ("a", 4, 14)]);
    let b = timed(
        &env,
        &[("a", 10, 5), ("a", 20, 25), ("b", 30, 7), ("c", 40, 8)],
    );
    let sink = a
        .join(&b)
        .where_equal_to(|e: &Ev| e.0.clone(), |e: &Ev| e.0.clone())
        .window(TimeWindows::tumbling_event_time(Duration::from_millis(10)))
        .apply(|x: &Ev, y: &Ev| (x.0.clone(), x.1, y.1))
        .collect();
    let result = common::run(&env, common::cluster(1, 4));
    assert_eq!(result.status, JobStatus::Finished, "{:?}", result.failure);
    let mut got = sink.take();
    got.sort();
    // [0, 10): a 1 and 2 with a 10; b 3 with b 30; c has no partner. a 4 (at 14) and a 20 (at
    // 25) are in different windows.
    assert_eq!(
        got,
        [
            ("a".to_string(), 1, 10),
            ("a".to_string(), 2, 10),
            ("b".to_string(), 3, 30)
        ]
    );
}

fn interval(lower_exclusive: bool) -> Vec<(String, i64, i64, i64)> {
    let env = StreamEnv::new("interval-join");
    env.set_parallelism(2);
    let a = timed(&env, &[("a", 1, 10), ("a", 2, 20), ("b", 3, 10)]);
    let b = timed(
        &env,
        &[("a", 10, 8), ("a", 20, 12), ("a", 30, 25), ("b", 40, 30)],
    );
    let join = a
        .key_by(|e: &Ev| e.0.clone())
        .interval_join(&b.key_by(|e: &Ev| e.0.clone()))
        .between(-2, 3);
    let join = if lower_exclusive {
        join.lower_bound_exclusive()
    } else {
        join
    };
    // Each pair with the later of the two timestamps, as the join emits it.
    let sink = join
        .process(
            |x: &Ev, y: &Ev, out: &mut Collector<'_, (String, i64, i64, i64)>| {
                out.collect((x.0.clone(), x.1, y.1, x.2.max(y.2)))
            },
        )
        .collect();
    let result = common::run(&env, common::cluster(1, 4));
    assert_eq!(result.status, JobStatus::Finished, "{:?}", result.failure);
    let mut got = sink.take();
    got.sort();
    got
}

#[test]
fn interval_join_pairs_elements_within_the_bounds() {
    // a@10 meets b in [8, 13]: the b at 8 and at 12; a@20 meets [18, 23]: none; b's a@10
    // meets [8, 13]: its only b is at 30.
    assert_eq!(
        interval(false),
        [("a".to_string(), 1, 10, 10), ("a".to_string(), 1, 20, 12)]
    );
    // Excluding the lower bound drops the b exactly at 10 - 2.
    assert_eq!(interval(true), [("a".to_string(), 1, 20, 12)]);
}
