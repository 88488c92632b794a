//! (c) Shuffle throughput between TaskManager processes: the bundled `shuffle` job at
//! parallelism 2 → 2 over a rebalance, its sources on one TaskManager process and its sinks on
//! another, so every record crosses QUIC on loopback; and, beside it, the same job in one
//! TaskManager process (4 slots), where the exchange stays in memory.
//!
//! ## How it is measured
//! The benchmark starts the processes ([`crate::launch`]), submits the job over REST and reads
//! `GET /jobs/{id}` every 50 ms; the JobMaster pulls the sinks' counters from the TaskManagers
//! at each read. The rate is taken over the steady part of the run: from the first reading with
//! 10% of the records received to the last one below 90%, which leaves out deployment and the
//! tail. Payload bytes are the serialized bytes the sinks received (data frames: a 5-byte
//! header and the MessagePack-encoded buffer).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::bench::median;
use crate::launch::{LaunchError, ProcessCluster};

/// One payload's figures in one placement.
#[derive(Debug, Clone)]
pub struct ShuffleResult {
    /// What was measured.
    pub name: String,
    /// Records per run.
    pub records: u64,
    /// Records per second of each run.
    pub records_per_s: Vec<f64>,
    /// Serialized bytes per second of each run (0 where nothing is serialized).
    pub bytes_per_s: Vec<f64>,
}

impl ShuffleResult {
    /// The median records per second.
    pub fn median_records(&self) -> f64 {
        median(&self.records_per_s)
    }

    /// The median serialized bytes per second.
    pub fn median_bytes(&self) -> f64 {
        median(&self.bytes_per_s)
    }
}

impl std::fmt::Display for ShuffleResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let runs: Vec<String> = self
            .records_per_s
            .iter()
            .map(|r| format!("{:.2}", r / 1e6))
            .collect();
        write!(
            f,
            "{}: median {:.2} M records/s",
            self.name,
            self.median_records() / 1e6
        )?;
        if self.median_bytes() > 0.0 {
            write!(f, ", {:.0} MB/s serialized", self.median_bytes() / 1e6)?;
        }
        write!(
            f,
            " over {} runs of {} records (runs: {} M/s)",
            self.records_per_s.len(),
            self.records,
            runs.join(", ")
        )
    }
}

/// The payloads: the job's `--payload` value, a label and the records per run.
fn payloads(records: u64) -> [(&'static str, &'static str, u64); 2] {
    [
        ("pair", "(u64, u64)", records),
        // A 100-byte string costs several times a pair to make, move and drop.
        ("string", "100-byte strings", (records / 4).max(1)),
    ]
}

/// Runs the benchmark with the `rill` executable `exe`: `records` pairs (a quarter as many
/// strings) per run, `runs` runs of each payload in each placement.
pub fn run(exe: &Path, records: u64, runs: usize) -> Result<Vec<ShuffleResult>, LaunchError> {
    let secret = format!("bench-{:x}", std::process::id());
    let mut results = Vec::new();
    // The in-memory exchange is an order of magnitude faster: it gets more records, so that
    // its runs also last seconds.
    for (slots, placement, scale) in [
        (&[2, 2][..], "across 2 TaskManager processes (QUIC)", 1),
        (&[4][..], "in one TaskManager process (local exchange)", 5),
    ] {
        let cluster = ProcessCluster::start(exe, None, &secret, slots)?;
        for (payload, label, n) in payloads(records * scale) {
            let mut r = ShuffleResult {
                name: format!("(c) shuffle {label}, p=2 -> 2, {placement}"),
                records: n,
                records_per_s: Vec::new(),
                bytes_per_s: Vec::new(),
            };
            for _ in 0..runs {
                let (rec, bytes) = measure(&cluster, payload, n, slots.len() > 1)?;
                r.records_per_s.push(rec);
                r.bytes_per_s.push(bytes);
            }
            results.push(r);
        }
    }
    Ok(results)
}

fn failed(msg: String) -> LaunchError {
    LaunchError::Failed(msg)
}

/// Runs the job once; returns records/s and bytes/s over the steady part.
fn measure(
    c: &ProcessCluster,
    payload: &str,
    n: u64,
    across: bool,
) -> Result<(f64, f64), LaunchError> {
    let records = n.to_string();
    let job = c.submit("shuffle", &["--records", &records, "--payload", payload], 2)?;
    let limit = Instant::now() + Duration::from_secs(600);
    let mut samples: Vec<(Instant, u64, u64)> = Vec::new();
    let last = loop {
        let d = c.get(&format!("/jobs/{job}"))?;
        let at = Instant::now();
        match d["state"].as_str() {
            Some("FINISHED") => break d,
            Some("FAILED" | "CANCELED") => {
                return Err(failed(format!(
                    "benchmark job ended {}: {}",
                    d["state"], d["failure"]
                )))
            }
            Some("RUNNING") => {
                let m = &d["vertices"][1]["metrics"];
                samples.push((
                    at,
                    m["read-records"].as_u64().unwrap_or(0),
                    m["read-bytes"].as_u64().unwrap_or(0),
                ));
            }
            _ => {}
        }
        if Instant::now() > limit {
            return Err(failed(format!(
                "benchmark job {job} still running after 600 s"
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let received = last["vertices"][1]["metrics"]["read-records"].as_u64();
    if received != Some(n) {
        return Err(failed(format!(
            "the sinks received {received:?} of {n} records"
        )));
    }
    if across {
        check_placement(c, &job, &last)?;
    }
    let first = samples.iter().find(|s| s.1 >= n / 10);
    let end = samples.iter().rev().find(|s| s.1 <= n / 10 * 9);
    match (first, end) {
        (Some(a), Some(b)) if b.0 > a.0 && b.1 > a.1 => {
            let secs = b.0.duration_since(a.0).as_secs_f64();
            Ok(((b.1 - a.1) as f64 / secs, (b.2 - a.2) as f64 / secs))
        }
        _ => Err(failed(format!(
            "too few readings while job {job} ran ({}): use more records",
            samples.len()
        ))),
    }
}

/// Fails unless the sources and the sinks ran on different TaskManagers.
fn check_placement(
    c: &ProcessCluster,
    job: &str,
    d: &serde_json::Value,
) -> Result<(), LaunchError> {
    let on = |v: usize| c.placement(job, d["vertices"][v]["id"].as_str().unwrap_or_default());
    let (sources, sinks) = (on(0)?, on(1)?);
    if sources.is_disjoint(&sinks) && !sources.is_empty() && !sinks.is_empty() {
        Ok(())
    } else {
        Err(failed(format!(
            "sources on {sources:?} and sinks on {sinks:?}: not all traffic crossed processes"
        )))
    }
}
