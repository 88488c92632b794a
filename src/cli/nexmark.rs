//! `rill nexmark generate`: Nexmark's events written as files for Flink (or anything) to read,
//! the same events the `nexmark` connector makes for the same settings.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use crate::cli::{EXIT_JOB_FAILED, EXIT_USAGE};
use crate::connectors::nexmark::files::{generate, FileFormat, GenerateError};
use crate::connectors::nexmark::generator::{NexmarkConfig, DEFAULT_BASE_TIME};

/// `rill nexmark`'s commands.
#[derive(clap::Subcommand, Debug)]
pub(super) enum NexmarkCommand {
    /// Write the events as JSON or CSV lines, one file per split (`DIR/part-<i>.json` or
    /// `.csv`), in the benchmark's table's shape (`event_type`, `person`, `auction`, `bid`)
    Generate(GenerateArgs),
}

/// `rill nexmark generate`'s flags.
#[derive(clap::Args, Debug)]
pub(super) struct GenerateArgs {
    /// How many events.
    #[arg(long)]
    events: u64,
    /// The directory the files go into (made if missing).
    #[arg(long)]
    out: PathBuf,
    /// How many files (the events dealt to them in blocks of 65,536).
    #[arg(long, default_value_t = 1)]
    splits: usize,
    /// The files' format: json, or csv (Flink's `csv` format: a ROW is one field, its values
    /// joined by `;`).
    #[arg(long, default_value = "json")]
    format: String,
    /// Seeds every field.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Events per second of event time (the connector's `first-event.rate`).
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// When event 0 happens, epoch milliseconds [default: 2015-07-15 00:00:00 UTC].
    #[arg(long, default_value_t = DEFAULT_BASE_TIME)]
    base_time: i64,
}

pub(super) fn nexmark(command: NexmarkCommand) -> ExitCode {
    let NexmarkCommand::Generate(a) = command;
    let Some(format) = FileFormat::parse(&a.format) else {
        eprintln!("rill: unknown --format {} (formats: json, csv)", a.format);
        return ExitCode::from(EXIT_USAGE);
    };
    let config = NexmarkConfig {
        seed: a.seed,
        rate: a.rate,
        base_time: a.base_time,
        ..NexmarkConfig::default()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = Instant::now();
    match generate(&config, a.events, (a.splits, format), &a.out, threads) {
        Ok(w) => {
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{} events in {} file{} under {} ({:.1} MB) in {secs:.1} s",
                a.events,
                w.files.len(),
                if w.files.len() == 1 { "" } else { "s" },
                a.out.display(),
                w.bytes as f64 / 1e6
            );
            ExitCode::SUCCESS
        }
        Err(e @ GenerateError::Config(_)) => {
            eprintln!("rill: {e}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(e) => {
            eprintln!("rill: {e}");
            ExitCode::from(EXIT_JOB_FAILED)
        }
    }
}
