//! The DataStream API's operators on a running cluster, with exact results: side outputs,
//! connected streams, union, the keyed rolling aggregations and the text file sink.

mod common;

use std::collections::BTreeMap;

use rill::api::{Collector, OutputTag, ProcessContext, StreamEnv};
use rill::graph::JobStatus;
use rill::operators::UserError;

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

#[test]
fn side_outputs_split_a_stream_by_tag_and_type() {
    let odd = OutputTag::<u64>::new("odd");
    let big = OutputTag::<String>::new("big");
    let env = StreamEnv::new("side outputs");
    let (o, b) = (odd.clone(), big.clone());
    let main = env
        .sequence(1, 100)
        .set_parallelism(2)
        .process(
            move |v: u64,
                  ctx: &mut ProcessContext<'_>,
                  out: &mut Collector<'_, u64>|
                  -> Result<(), UserError> {
                if v % 2 == 0 {
                    out.collect(v);
                } else {
                    ctx.output(&o, v);
                }
                if v > 95 {
                    ctx.output(&b, format!("big {v}"));
                }
                Ok(())
            },
        )
        .set_parallelism(2);
    let evens = main.collect();
    // A side output is a stream like any other: it can be transformed and repartitioned.
    let odds = main
        .side_output(&odd)
        .map(|v: u64| v * 10)
        .rebalance()
        .collect();
    let bigs = main.side_output(&big).collect();
    let r = common::run(&env, common::cluster(1, 4));
    assert_eq!(r.status, JobStatus::Finished, "{:?}", r.failure);
    assert_eq!(
        sorted(evens.take()),
        (1..=50).map(|i| 2 * i).collect::<Vec<u64>>()
    );
    assert_eq!(
        sorted(odds.take()),
        (0..50).map(|i| (2 * i + 1) * 10).collect::<Vec<u64>>()
    );
    assert_eq!(
        sorted(bigs.take()),
        ["big 100", "big 96", "big 97", "big 98", "big 99"]
    );
}

#[test]
fn connected_streams_map_each_input_with_its_own_function() {
    let env = StreamEnv::new("connect");
    let numbers = env.from_elements(vec![1u64, 2, 3]);
    let words = env.from_elements(vec!["a b".to_string(), "c".to_string()]);
    let mapped = numbers
        .connect(&words)
        .co_map(
            |n: u64| format!("n{n}"),
            |w: String| format!("w{}", w.len()),
        )
        .collect();
    let flat = numbers
        .connect(&words)
        .co_flat_map(
            |n: u64, out: &mut Collector<'_, String>| {
                for i in 0..n {
                    out.collect(format!("{n}.{i}"));
                }
            },
            |w: String, out: &mut Collector<'_, String>| {
                for part in w.split(' ') {
                    out.collect(part.to_string());
                }
            },
        )
        .set_parallelism(2)
        .collect();
    let r = common::run(&env, common::cluster(1, 4));
    assert_eq!(r.status, JobStatus::Finished, "{:?}", r.failure);
    assert_eq!(sorted(mapped.take()), ["n1", "n2", "n3", "w1", "w3"]);
    assert_eq!(
        sorted(flat.take()),
        ["1.0", "2.0", "2.1", "3.0", "3.1", "3.2", "a", "b", "c"]
    );
}

#[test]
fn union_merges_streams_of_different_parallelism() {
    let env = StreamEnv::new("union");
    let a = env.sequence(1, 1000).set_parallelism(3);
    let b = env.sequence(1001, 1500).set_parallelism(1);
    let c = env.from_elements(vec![0u64]);
    let all = a
        .union(&b)
        .union(&c)
        .map(|v: u64| v + 1)
        .set_parallelism(2)
        .collect();
    let r = common::run(&env, common::cluster(1, 4));
    assert_eq!(r.status, JobStatus::Finished, "{:?}", r.failure);
    assert_eq!(sorted(all.take()), (1..=1501).collect::<Vec<u64>>());
}

/// `(key, value, seq)`: the input of the rolling aggregations, in this order per key.
fn readings() -> Vec<(u32, i64, u32)> {
    vec![
        (1, 5, 0),
        (2, 7, 1),
        (1, 3, 2),
        (1, 9, 3),
        (2, 7, 4),
        (1, 3, 5),
        (2, 1, 6),
        (1, 4, 7),
    ]
}

type Reading = (u32, i64, u32);

/// Runs one rolling aggregation with the source at parallelism 1 (so each key's records keep
/// their order) and the aggregation at 2; returns each key's emitted records in order.
fn rolling(
    agg: impl FnOnce(&rill::KeyedStream<u32, Reading>) -> rill::DataStream<Reading>,
) -> BTreeMap<u32, Vec<Reading>> {
    let env = StreamEnv::new("rolling");
    let keyed = env.from_elements(readings()).key_by(|r: &Reading| r.0);
    let out = agg(&keyed).set_parallelism(2).collect();
    let r = common::run(&env, common::cluster(1, 2));
    assert_eq!(r.status, JobStatus::Finished, "{:?}", r.failure);
    let mut by_key: BTreeMap<u32, Vec<Reading>> = BTreeMap::new();
    // Each key is aggregated by one subtask, whose channel to the sink keeps its order;
    // the collect sink appends buffers in arrival order.
    for rec in out.take() {
        by_key.entry(rec.0).or_default().push(rec);
    }
    by_key
}

#[test]
fn keyed_rolling_aggregations_follow_flink() {
    // sum/min/max change only the field; the other fields are the key's first record's.
    let sum = rolling(|k| k.sum(|r: &mut Reading| &mut r.1));
    assert_eq!(
        sum[&1],
        [(1, 5, 0), (1, 8, 0), (1, 17, 0), (1, 20, 0), (1, 24, 0)]
    );
    assert_eq!(sum[&2], [(2, 7, 1), (2, 14, 1), (2, 15, 1)]);

    let min = rolling(|k| k.min(|r: &mut Reading| &mut r.1));
    assert_eq!(
        min[&1],
        [(1, 5, 0), (1, 3, 0), (1, 3, 0), (1, 3, 0), (1, 3, 0)]
    );
    assert_eq!(min[&2], [(2, 7, 1), (2, 7, 1), (2, 1, 1)]);

    let max = rolling(|k| k.max(|r: &mut Reading| &mut r.1));
    assert_eq!(
        max[&1],
        [(1, 5, 0), (1, 5, 0), (1, 9, 0), (1, 9, 0), (1, 9, 0)]
    );
    assert_eq!(max[&2], [(2, 7, 1), (2, 7, 1), (2, 7, 1)]);

    // min_by/max_by keep whole records: the first one on ties.
    let min_by = rolling(|k| k.min_by(|r: &Reading| r.1));
    assert_eq!(
        min_by[&1],
        [(1, 5, 0), (1, 3, 2), (1, 3, 2), (1, 3, 2), (1, 3, 2)]
    );
    assert_eq!(min_by[&2], [(2, 7, 1), (2, 7, 1), (2, 1, 6)]);

    let max_by = rolling(|k| k.max_by(|r: &Reading| r.1));
    assert_eq!(
        max_by[&1],
        [(1, 5, 0), (1, 5, 0), (1, 9, 3), (1, 9, 3), (1, 9, 3)]
    );
    assert_eq!(max_by[&2], [(2, 7, 1), (2, 7, 1), (2, 7, 1)]);

    let reduce = rolling(|k| k.reduce(|a: Reading, b: Reading| (a.0, a.1 * 10 + b.1, b.2)));
    assert_eq!(
        reduce[&2],
        [(2, 7, 1), (2, 77, 4), (2, 771, 6)],
        "reduce sees records in order and emits every rolling value"
    );
}

#[test]
fn write_text_above_parallelism_one_writes_a_file_per_subtask() {
    let dir = common::temp_dir("write-text");
    let target = dir.join("out");
    let env = StreamEnv::new("write text");
    env.sequence(1, 2000)
        .set_parallelism(2)
        .map(|v: u64| format!("line {v}"))
        .write_text(&target)
        .set_parallelism(2);
    let r = common::run(&env, common::cluster(1, 2));
    assert_eq!(r.status, JobStatus::Finished, "{:?}", r.failure);
    let mut names: Vec<String> = std::fs::read_dir(&target)
        .expect("a directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["1", "2"]);
    let mut lines = Vec::new();
    for n in &names {
        let text = std::fs::read_to_string(target.join(n)).expect("part");
        assert!(!text.is_empty(), "subtask {n} wrote nothing");
        lines.extend(text.lines().map(str::to_string));
    }
    let mut expected: Vec<String> = (1..=2000).map(|v| format!("line {v}")).collect();
    expected.sort();
    assert_eq!(sorted(lines), expected);

    // At parallelism 1 the path is the file itself.
    let single = dir.join("single.txt");
    let env = StreamEnv::new("write text p1");
    env.from_elements(vec![3u64, 1, 2]).write_text(&single);
    let r = common::run(&env, common::cluster(1, 1));
    assert_eq!(r.status, JobStatus::Finished, "{:?}", r.failure);
    assert_eq!(std::fs::read_to_string(&single).expect("file"), "3\n1\n2\n");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_rate_limited_source_emits_everything_no_faster_than_its_rate() {
    let env = StreamEnv::new("rate");
    // 600 records at 2,000 a second over 2 subtasks: at least 0.3 s.
    let out = env
        .sequence(1, 600)
        .set_parallelism(2)
        .rate_limit(2_000.0)
        .collect();
    let started = std::time::Instant::now();
    let r = common::run(&env, common::cluster(1, 2));
    let took = started.elapsed();
    assert_eq!(r.status, JobStatus::Finished, "{:?}", r.failure);
    assert_eq!(sorted(out.take()), (1..=600).collect::<Vec<u64>>());
    assert!(took >= std::time::Duration::from_millis(295), "{took:?}");
}

#[test]
fn rate_limit_applies_to_sources_with_a_positive_rate_only() {
    let env = StreamEnv::new("not a source");
    env.sequence(1, 10)
        .map(|v: u64| v)
        .rate_limit(10.0)
        .collect();
    let e = env.stream_graph(None, 1).expect_err("invalid");
    assert!(
        matches!(e, rill::graph::GraphError::NotASource { .. }),
        "{e}"
    );
    let env = StreamEnv::new("no rate");
    env.sequence(1, 10).rate_limit(0.0).collect();
    let e = env.stream_graph(None, 1).expect_err("invalid");
    assert!(e.to_string().contains("positive"), "{e}");
}
