//! Which subtask each record reaches, for every partitioner, in running jobs: the exact rules of
//! forward, rebalance, rescale (2→4 and 4→2), shuffle, broadcast, global, hash (key groups) and
//! custom partitioning.

mod common;

use std::collections::BTreeMap;

use rill::api::{Collector, DataStream, ProcessContext, ProcessFunction, StreamEnv};
use rill::graph::JobStatus;
use rill::operators::UserError;
use rill::state::key_group::subtask_for_key;

/// Tags each record with the subtask that received it.
#[derive(Clone)]
struct Where;

impl ProcessFunction<u64, (usize, u64)> for Where {
    fn process_element(
        &mut self,
        v: u64,
        ctx: &mut ProcessContext<'_>,
        out: &mut Collector<'_, (usize, u64)>,
    ) -> Result<(), UserError> {
        out.collect((ctx.runtime().subtask_index, v));
        Ok(())
    }
}

/// Runs `source → partitioning → Where (parallelism p)`; returns value → receiving subtasks.
fn placement(
    p: usize,
    build: impl FnOnce(&StreamEnv) -> DataStream<(usize, u64)>,
) -> BTreeMap<u64, Vec<usize>> {
    let env = StreamEnv::new("placement");
    let out = build(&env).set_parallelism(p).collect();
    let r = common::run(&env, common::cluster(1, 8));
    assert_eq!(r.status, JobStatus::Finished, "{:?}", r.failure);
    let mut m: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (s, v) in out.take() {
        m.entry(v).or_default().push(s);
    }
    for subs in m.values_mut() {
        subs.sort();
    }
    m
}

fn only(m: &BTreeMap<u64, Vec<usize>>) -> BTreeMap<u64, usize> {
    m.iter()
        .map(|(v, s)| {
            assert_eq!(s.len(), 1, "value {v} delivered {} times", s.len());
            (*v, s[0])
        })
        .collect()
}

#[test]
fn forward_keeps_the_subtask_index() {
    let m = only(&placement(3, |env| {
        env.sequence(0, 299)
            .set_parallelism(3)
            .forward()
            .process(Where)
    }));
    assert_eq!(m.len(), 300);
    for (v, s) in m {
        assert_eq!(
            s,
            v as usize / 100,
            "sequence subtask i holds [100i, 100i+100)"
        );
    }
}

#[test]
fn rebalance_is_round_robin_over_all() {
    let m = only(&placement(3, |env| {
        env.from_elements(0..300u64).rebalance().process(Where)
    }));
    let start = m[&0];
    for (v, s) in &m {
        assert_eq!(*s, (start + *v as usize) % 3, "value {v}");
    }
}

#[test]
fn rescale_two_to_four_uses_a_local_subset() {
    let m = only(&placement(4, |env| {
        env.sequence(0, 399)
            .set_parallelism(2)
            .rescale()
            .process(Where)
    }));
    for (v, s) in m {
        let (producer, offset) = (v as usize / 200, v as usize % 200);
        assert_eq!(
            s,
            producer * 2 + offset % 2,
            "value {v}: producer {producer} feeds consumers {} and {}",
            producer * 2,
            producer * 2 + 1
        );
    }
}

#[test]
fn rescale_four_to_two_merges_neighbours() {
    let m = only(&placement(2, |env| {
        env.sequence(0, 399)
            .set_parallelism(4)
            .rescale()
            .process(Where)
    }));
    for (v, s) in m {
        assert_eq!(s, (v as usize / 100) / 2, "value {v}");
    }
}

#[test]
fn shuffle_delivers_each_record_once_and_spreads() {
    let m = only(&placement(3, |env| {
        env.from_elements(0..3000u64).shuffle().process(Where)
    }));
    assert_eq!(m.len(), 3000);
    let mut per = [0usize; 3];
    for s in m.values() {
        per[*s] += 1;
    }
    assert!(per.iter().all(|&n| n > 700), "{per:?}");
}

#[test]
fn broadcast_reaches_every_subtask() {
    let m = placement(3, |env| {
        env.from_elements(0..100u64).broadcast().process(Where)
    });
    assert_eq!(m.len(), 100);
    assert!(m.values().all(|s| s == &vec![0, 1, 2]));
}

#[test]
fn global_sends_everything_to_subtask_zero() {
    let m = only(&placement(3, |env| {
        env.sequence(0, 299)
            .set_parallelism(3)
            .global()
            .process(Where)
    }));
    assert!(m.values().all(|&s| s == 0));
    assert_eq!(m.len(), 300);
}

#[test]
fn hash_follows_key_groups() {
    let m = only(&placement(3, |env| {
        env.sequence(0, 999)
            .set_parallelism(2)
            .key_by(|v: &u64| v % 37)
            .process(Where)
    }));
    assert_eq!(m.len(), 1000);
    for (v, s) in m {
        assert_eq!(s, subtask_for_key(&(v % 37), 128, 3), "value {v}");
    }
}

#[test]
fn custom_partitioner_picks_the_subtask() {
    let m = only(&placement(3, |env| {
        env.sequence(0, 299)
            .partition_custom(|k: &u64, n| (*k as usize * 7) % n, |v: &u64| *v)
            .process(Where)
    }));
    for (v, s) in m {
        assert_eq!(s, (v as usize * 7) % 3);
    }
}

#[test]
fn custom_partitioner_out_of_range_fails_the_job() {
    let env = StreamEnv::new("bad-custom");
    env.sequence(0, 10)
        .partition_custom(|_: &u64, n| n + 1, |v: &u64| *v)
        .process(Where)
        .set_parallelism(2)
        .collect();
    let r = common::run(&env, common::cluster(1, 4));
    assert_eq!(r.status, JobStatus::Failed);
    assert!(
        r.failure
            .as_deref()
            .unwrap_or("")
            .contains("selected channel 3, but there are only 2"),
        "{:?}",
        r.failure
    );
}

#[test]
fn the_bundled_partitioners_job_counts_exactly() {
    let dir = common::temp_dir("partitioners");
    let out = dir.join("summary.txt");
    let args = ["--count", "20000", "--output", out.to_str().expect("utf8")];
    let r = common::run_registered(
        common::cluster(2, 3),
        std::time::Duration::from_secs(60),
        "partitioners",
        &args,
        3,
    );
    assert_eq!(r.status, JobStatus::Finished, "{:?}", r.failure);
    assert_eq!(
        std::fs::read_to_string(&out).expect("output"),
        format!("records=32 sum={}\n", 20000u64 * 20001)
    );
    std::fs::remove_dir_all(dir).ok();
}
