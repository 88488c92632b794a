//! Pipelined regions: the subtasks that exchange data, directly or through others. Every
//! exchange of a streaming job is pipelined, so a region is a connected component of the
//! subtask graph (a pointwise edge joins the subtasks it connects, an all-to-all edge joins
//! every producer with every consumer). A job of independent pipelines, or of forward chains
//! at equal parallelism, has several regions; one all-to-all exchange makes its two sides one
//! region. Region failover restarts only the region of a failed subtask.

use serde::{Deserialize, Serialize};

use crate::graph::partitioner::connected_consumers;
use crate::graph::JobGraph;

/// How much of a job a failure restarts (Flink's `jobmanager.execution.failover-strategy`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FailoverStrategy {
    /// Every subtask.
    Full,
    /// The pipelined region of the failed subtask (the whole job when a TaskManager is lost
    /// or the failure is the job's own, e.g. too many failed checkpoints).
    #[default]
    Region,
}

impl std::str::FromStr for FailoverStrategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "full" => Ok(Self::Full),
            "region" => Ok(Self::Region),
            other => Err(format!(
                "unknown failover strategy '{other}': full or region"
            )),
        }
    }
}

/// The region of every subtask, by vertex and subtask index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regions {
    of: Vec<Vec<usize>>,
    count: usize,
}

impl Regions {
    /// The regions of `jg`.
    pub fn of_job(jg: &JobGraph) -> Self {
        let offsets: Vec<usize> = jg
            .vertices
            .iter()
            .scan(0, |next, v| {
                let at = *next;
                *next += v.parallelism;
                Some(at)
            })
            .collect();
        let total: usize = jg.vertices.iter().map(|v| v.parallelism).sum();
        let mut parent: Vec<usize> = (0..total).collect();
        for e in &jg.edges {
            let (s, t) = (
                jg.vertices[e.source].parallelism,
                jg.vertices[e.target].parallelism,
            );
            for i in 0..s {
                for c in connected_consumers(e.distribution, s, t, i) {
                    union(&mut parent, offsets[e.source] + i, offsets[e.target] + c);
                }
            }
        }
        let mut ids: Vec<Option<usize>> = vec![None; total];
        let mut count = 0;
        let of = jg
            .vertices
            .iter()
            .enumerate()
            .map(|(v, vertex)| {
                (0..vertex.parallelism)
                    .map(|s| {
                        let root = find(&mut parent, offsets[v] + s);
                        *ids[root].get_or_insert_with(|| {
                            count += 1;
                            count - 1
                        })
                    })
                    .collect()
            })
            .collect();
        Self { of, count }
    }

    /// The region of subtask `s` of vertex `v`.
    pub fn region(&self, v: usize, s: usize) -> Option<usize> {
        self.of.get(v)?.get(s).copied()
    }

    /// How many regions.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The subtasks `(vertex, subtask)` of region `r`.
    pub fn members(&self, r: usize) -> Vec<(usize, usize)> {
        self.of
            .iter()
            .enumerate()
            .flat_map(|(v, subs)| {
                subs.iter()
                    .enumerate()
                    .filter(move |(_, x)| **x == r)
                    .map(move |(s, _)| (v, s))
            })
            .collect()
    }
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (a, b) = (find(parent, a), find(parent, b));
    if a != b {
        parent[a.max(b)] = a.min(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::StreamEnv;
    use crate::operators::sources::Generated;

    fn regions(env: &StreamEnv) -> (Regions, JobGraph) {
        let sg = env.stream_graph(None, 1).expect("graph");
        let jg = JobGraph::from_stream_graph(&sg);
        (Regions::of_job(&jg), jg)
    }

    #[test]
    fn independent_pipelines_are_separate_regions() {
        let env = StreamEnv::new("two");
        env.sequence(1, 10)
            .set_parallelism(1)
            .map(|x: u64| x)
            .collect();
        env.sequence(1, 10)
            .set_parallelism(1)
            .map(|x: u64| x + 1)
            .collect();
        let (r, jg) = regions(&env);
        assert_eq!(r.count(), 2, "{:?}", jg.vertices.len());
        let a = r.region(0, 0);
        assert!(jg
            .vertices
            .iter()
            .enumerate()
            .any(|(v, _)| r.region(v, 0) != a));
    }

    #[test]
    fn an_all_to_all_exchange_joins_its_sides_and_forward_chains_stay_apart() {
        let env = StreamEnv::new("keyed");
        env.set_parallelism(2);
        env.add_source("G", Generated::new(10, |i: u64| i))
            .key_by(|x: &u64| *x)
            .reduce(|a: u64, b: u64| a + b)
            .collect();
        let (r, _) = regions(&env);
        assert_eq!(r.count(), 1);
        assert_eq!(r.members(0).len(), 4);

        let env = StreamEnv::new("forward");
        env.set_parallelism(2);
        env.add_source("G", Generated::new(10, |i: u64| i))
            .map(|x: u64| x)
            .disable_chaining()
            .filter(|x: &u64| *x > 1)
            .collect();
        let (r, jg) = regions(&env);
        assert!(jg.vertices.len() >= 2, "chaining was disabled");
        assert_eq!(r.count(), 2, "subtask i of every vertex forms region i");
        for v in 0..jg.vertices.len() {
            assert_eq!(r.region(v, 0), Some(0));
            assert_eq!(r.region(v, 1), Some(1));
        }
    }
}
