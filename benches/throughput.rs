//! `cargo bench`: the engine's throughput benchmarks (see `rill::bench`).

fn main() {
    let runs = std::env::var("RILL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    match rill::bench::run(200_000_000, 40_000_000, runs) {
        Ok(results) => {
            for r in results {
                println!("{r}");
            }
        }
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            std::process::exit(1);
        }
    }
}
