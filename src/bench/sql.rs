//! (g) Issue 20's two-phase aggregation benchmark: an unbounded `GROUP BY` over generated rows
//! whose key is skewed (one key holds half of them, the rest spread over 1,000), at p=2, in one
//! phase and in two (`table.optimizer.agg-phase-strategy`). In one phase the subtask that owns
//! the hot key receives half the rows; in two, each buffer reaches it as one partial row per
//! key.
//!
//! Records/s are input rows over the job's wall time on one mini cluster (one TaskManager of
//! two slots); the result goes to a `blackhole` table.

use actix::System;

use crate::bench::{bench_cluster, measure, BenchResult};
use crate::jobs::JobRegistry;

/// The script: `n` rows of `datagen` (a sequence, unpaced), half of them on key 0.
pub fn skewed_group_by(n: u64, strategy: &str) -> String {
    format!(
        "SET 'table.optimizer.agg-phase-strategy' = '{strategy}';
         CREATE TABLE gen (id BIGINT, k AS CASE WHEN MOD(id, 2) = 0 THEN 0 ELSE MOD(id, 1000) + 1 END)
         WITH ('connector' = 'datagen', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1',
               'fields.id.end' = '{n}', 'rows-per-second' = '0');
         CREATE TABLE out (k BIGINT, c BIGINT, s BIGINT) WITH ('connector' = 'blackhole');
         INSERT INTO out SELECT k, COUNT(*), SUM(id) FROM gen GROUP BY k;"
    )
}

/// Runs (g) `runs` times in each phase strategy over `n` rows.
pub fn run(n: u64, runs: usize) -> Result<Vec<BenchResult>, crate::Error> {
    System::new().block_on(async move {
        let cluster = bench_cluster(JobRegistry::bundled()).await?;
        let cluster = &cluster;
        let mut results = Vec::new();
        for strategy in ["ONE_PHASE", "TWO_PHASE"] {
            let args = vec!["--statements".to_string(), skewed_group_by(n, strategy)];
            let args = &args;
            let name = format!("(g) GROUP BY a skewed key (50% one key), {strategy}, p=2");
            results.push(
                measure(&name, n, runs, || async move {
                    let job = cluster.submit_registered("sql", args, Some(2)).await?;
                    Ok((cluster.wait(job).await?, None))
                })
                .await?,
            );
        }
        cluster.shutdown();
        Ok(results)
    })
}
