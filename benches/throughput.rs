//! `cargo bench`: the engine's throughput benchmarks (see `rill::bench`): (a) and (b) in one
//! process, then (c), the shuffle between TaskManager processes, with the release `rill`
//! binary that cargo builds beside this benchmark.

fn main() {
    let runs = std::env::var("RILL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let lines = rill::bench::run(200_000_000, 40_000_000, runs)
        .map_err(|e| e.to_string())
        .map(|rs| rs.iter().map(ToString::to_string).collect::<Vec<_>>())
        .and_then(|mut lines| {
            let exe = std::path::Path::new(env!("CARGO_BIN_EXE_rill"));
            let shuffle =
                rill::bench::shuffle::run(exe, 40_000_000, runs).map_err(|e| e.to_string())?;
            lines.extend(shuffle.iter().map(ToString::to_string));
            Ok(lines)
        });
    match lines {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
        }
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            std::process::exit(1);
        }
    }
}
