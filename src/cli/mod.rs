//! The `rill` command line. A user's own binary can call [`main_with`] with its own registry.
//!
//! ## Exit codes
//! 0: success (for `run`, the job FINISHED). 1: the job FAILED or was CANCELED, or the cluster
//! could not be reached or failed. 2: bad input: a bad command line, or a request the cluster
//! rejected (unknown job, bad arguments, missing input file, unknown job id).
//!
//! ## `--json`
//! `run` (without `--local`), `list`, `savepoint`, `stop` and `cancel` take `--json`: stdout
//! then carries only JSON, one document per line, and a failure is `{"errors":[message]}` on
//! stdout, with the same exit code. The shapes are listed in `remote`'s docs and in each
//! command's `--help`. A command line clap rejects is still clap's text on stderr (exit 2).

mod bench;
mod bench_nexmark;
mod local;
mod nexmark;
mod processes;
mod progress;
mod remote;
mod sql;
mod sql_rows;
mod submit;

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::graph::JobGraph;
use crate::jobs::JobRegistry;

use local::{local_cluster, run_local};
use processes::{jobmanager, taskmanager, Endpoint};
use submit::SubmitFlags;

/// Exit code for bad input (unknown job, bad arguments, missing files).
pub const EXIT_USAGE: u8 = 2;
/// Exit code for a job that ended FAILED or CANCELED.
pub const EXIT_JOB_FAILED: u8 = 1;
/// Where `run`, `list` and `cancel` find the JobManager's REST API by default.
pub const DEFAULT_REST_URL: &str = "http://127.0.0.1:8081";
/// The environment variable that overrides [`DEFAULT_REST_URL`].
pub const REST_URL_ENV: &str = "RILL_REST";

#[derive(Parser, Debug)]
#[command(
    name = "rill",
    version,
    about = "Rill: a distributed, stateful stream processor built from actors"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The shape of the mini cluster `run --local` and `sql --local` embed.
#[derive(clap::Args, Debug, Clone, Copy)]
struct LocalShape {
    /// TaskManagers of the embedded cluster (with --local) [default: 1].
    #[arg(long)]
    taskmanagers: Option<usize>,
    /// Slots per TaskManager (with --local) [default: enough for the job].
    #[arg(long)]
    slots: Option<usize>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start a JobManager: Dispatcher, ResourceManager and JobMasters, the RPC endpoint (QUIC)
    /// and the REST API. Runs until interrupted.
    Jobmanager {
        /// RPC address (UDP) [default: 127.0.0.1:6123].
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
        /// REST address (TCP) [default: 127.0.0.1:8081].
        #[arg(long)]
        rest: Option<std::net::SocketAddr>,
        /// With --ha: the IP address the other nodes reach this JobManager at, with the bound
        /// ports (required when --bind or --rest is unspecified, e.g. 0.0.0.0:6123).
        #[arg(long, value_name = "IP")]
        advertise: Option<std::net::IpAddr>,
        /// The cluster secret (else the config file, else $RILL_CLUSTER_SECRET, else generated).
        #[arg(long)]
        secret: Option<String>,
        /// Settings file (see `rill::cluster`).
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        #[command(flatten)]
        ha: processes::HaArgs,
    },
    /// Start a TaskManager that registers with a JobManager. Runs until interrupted.
    Taskmanager {
        /// The JobManager's RPC address (without --ha).
        #[arg(long)]
        jobmanager: Option<std::net::SocketAddr>,
        /// Slots [default: 2].
        #[arg(long)]
        slots: Option<usize>,
        /// This TaskManager's endpoint (data channels) [default: 127.0.0.1:0].
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
        /// The address other nodes reach this TaskManager at, with the bound port (required when
        /// --bind is unspecified, e.g. 0.0.0.0:6124) [default: the --bind address].
        #[arg(long, value_name = "IP")]
        advertise: Option<std::net::IpAddr>,
        /// Serve this TaskManager's Prometheus metrics (`GET /metrics`) on this address, e.g.
        /// 127.0.0.1:9249 [default: not served].
        #[arg(long, value_name = "HOST:PORT")]
        metrics: Option<std::net::SocketAddr>,
        /// The cluster secret (else the config file, else $RILL_CLUSTER_SECRET).
        #[arg(long)]
        secret: Option<String>,
        /// Settings file.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        #[command(flatten)]
        ha: processes::HaArgs,
    },
    /// Start a mini cluster (JobManager actors and TaskManagers in this process) that stays up
    /// until interrupted.
    Local {
        /// TaskManagers to start.
        #[arg(long, default_value_t = 1)]
        taskmanagers: usize,
        /// Slots per TaskManager.
        #[arg(long, default_value_t = 4)]
        slots: usize,
        /// Where the REST API listens (port 0 picks a free port).
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8081")]
        rest: String,
    },
    /// Run a bundled job: submit it to a running cluster's REST API and wait for its end, or
    /// run it on an embedded cluster with --local.
    ///
    /// While it waits it shows the job's progress (status, records in and out, out-rate, newest
    /// checkpoint): one line redrawn in place when stdout is a terminal, else a plain line at
    /// each status change and at most every 5 s (with --local on stderr, since the job's own
    /// output goes to stdout).
    Run {
        /// Run on an embedded mini cluster in this process.
        #[arg(long)]
        local: bool,
        /// The JobManager's REST API [default: $RILL_REST, else http://127.0.0.1:8081].
        #[arg(long, value_name = "URL", conflicts_with = "local")]
        jobmanager_rest: Option<String>,
        /// Print the job's id and return without waiting for its end.
        #[arg(long, conflicts_with = "local")]
        detached: bool,
        /// JSON lines on stdout: `{"event":"submitted","jobid","jobUrl"}`, then progress
        /// events `{"event":"progress","jobid","state","duration","records-in","records-out",
        /// "records-out-per-second","last-checkpoint":{"id","age-ms"}|null}`, then
        /// `{"event":"end","job":{…}}` (the body of `GET /jobs/{id}`); a failure is
        /// `{"errors":[…]}` on stdout.
        #[arg(long, conflicts_with = "local")]
        json: bool,
        /// The submission's parallelism (below the job's own settings).
        #[arg(short, long)]
        parallelism: Option<usize>,
        /// The embedded cluster's shape (with --local).
        #[command(flatten)]
        shape: LocalShape,
        /// Checkpoint and restore settings.
        #[command(flatten)]
        submit: SubmitFlags,
        /// The job's name (see `rill jobs`).
        job: String,
        /// The job's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Flink's SQL Client: run a SQL script (`-f FILE`, or standard input), or type
    /// statements at the `Flink SQL>` prompt. Each INSERT becomes a job on the cluster (or,
    /// with --local, on an embedded mini cluster), followed to its end unless --detached.
    Sql {
        /// Run the jobs on an embedded mini cluster in this process.
        #[arg(long)]
        local: bool,
        /// The JobManager's REST API [default: $RILL_REST, else http://127.0.0.1:8081].
        #[arg(long, value_name = "URL", conflicts_with = "local")]
        jobmanager_rest: Option<String>,
        /// The script to run [default: standard input, or the prompt on a terminal].
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<std::path::PathBuf>,
        /// Submit each INSERT without waiting for its end.
        #[arg(long, conflicts_with = "local")]
        detached: bool,
        /// The prompt's history file [default: $HOME/.rill-sql-history].
        #[arg(long, value_name = "FILE")]
        history: Option<std::path::PathBuf>,
        /// A query's rows as changelog JSON lines ({"op":"+I","data":{…}}), alone on standard
        /// output; what the shell says besides goes to standard error.
        #[arg(long)]
        json: bool,
        /// The jobs' parallelism [default: SET 'parallelism.default', else the cluster's].
        #[arg(short, long)]
        parallelism: Option<usize>,
        /// The embedded cluster's shape (with --local).
        #[command(flatten)]
        shape: LocalShape,
        /// Checkpoint and restore settings of the jobs.
        #[command(flatten)]
        submit: SubmitFlags,
    },
    /// List a running cluster's jobs: id, status and name.
    List {
        /// The JobManager's REST API [default: $RILL_REST, else http://127.0.0.1:8081].
        #[arg(long, value_name = "URL")]
        jobmanager_rest: Option<String>,
        /// Print the body of `GET /jobs/overview` (`{"jobs":[{"jid","name","state",…}]}`) on
        /// stdout; a failure is `{"errors":[…]}` on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a job on a running cluster and wait (briefly) for it to end.
    Cancel {
        /// The JobManager's REST API [default: $RILL_REST, else http://127.0.0.1:8081].
        #[arg(long, value_name = "URL")]
        jobmanager_rest: Option<String>,
        /// The job's id (see `rill list`).
        job_id: String,
        /// Print `{"jobid","state"}` on stdout (the status once it ended, else the last
        /// seen); a failure is `{"errors":[…]}` on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Take a savepoint of a running job and print its directory.
    Savepoint {
        /// The JobManager's REST API [default: $RILL_REST, else http://127.0.0.1:8081].
        #[arg(long, value_name = "URL")]
        jobmanager_rest: Option<String>,
        /// The job's id (see `rill list`).
        job_id: String,
        /// Where the savepoint goes [default: `savepoints/` in the checkpoint directory].
        dir: Option<String>,
        /// Print `{"jobid","location"}` on stdout; a failure is `{"errors":[…]}` on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Stop a job with a savepoint (restore it later with `rill run --savepoint DIR`).
    Stop {
        /// The JobManager's REST API [default: $RILL_REST, else http://127.0.0.1:8081].
        #[arg(long, value_name = "URL")]
        jobmanager_rest: Option<String>,
        /// The job's id (see `rill list`).
        job_id: String,
        /// Where the savepoint goes [default: `savepoints/` in the checkpoint directory].
        #[arg(long, value_name = "DIR")]
        savepoint: Option<String>,
        /// Emit the maximum watermark first, so every event-time window fires and the job
        /// ends FINISHED (without it the job is cancelled right after the savepoint, emitting
        /// nothing after it).
        #[arg(long)]
        drain: bool,
        /// Print `{"jobid","location","state"}` on stdout (the status once the job ended, else
        /// the last seen); a failure is `{"errors":[…]}` on stdout.
        #[arg(long)]
        json: bool,
    },
    /// List the bundled jobs and their arguments.
    Jobs,
    /// Print a job's JobGraph as JSON.
    Plan {
        /// The submission's parallelism.
        #[arg(short, long)]
        parallelism: Option<usize>,
        /// The job's name.
        job: String,
        /// The job's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the throughput benchmarks and print records/s.
    Bench(bench::BenchArgs),
    /// Nexmark, the streaming benchmark: write its events as files.
    #[command(subcommand)]
    Nexmark(nexmark::NexmarkCommand),
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RILL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Lines also go into the process's ring of recent lines (`GET /jobmanager/logs`).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::logs::Tee)
        .try_init();
}

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("rill: {msg}");
    ExitCode::from(EXIT_USAGE)
}

/// Runs the CLI with the bundled jobs.
pub fn main() -> ExitCode {
    main_with(JobRegistry::bundled())
}

/// Runs the CLI with `registry`'s jobs.
pub fn main_with(registry: JobRegistry) -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    registry.register_functions();
    let registry = Arc::new(registry);
    match cli.command {
        Command::Jobs => {
            for j in registry.jobs() {
                println!(
                    "{:<18} {}\n{:<18} usage: rill run --local {} {}",
                    j.name, j.description, "", j.name, j.usage
                );
            }
            ExitCode::SUCCESS
        }
        Command::Plan {
            parallelism,
            job,
            args,
        } => match registry.build(&job, &args, parallelism, 1) {
            Ok(sg) => {
                let jg = JobGraph::from_stream_graph(&sg);
                match serde_json::to_string_pretty(&jg.to_plan_json()) {
                    Ok(s) => {
                        println!("{s}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => usage_error(e),
                }
            }
            Err(e) => usage_error(e),
        },
        Command::Run {
            local,
            jobmanager_rest,
            detached,
            json,
            parallelism,
            shape: LocalShape {
                taskmanagers,
                slots,
            },
            submit,
            job,
            args,
        } => {
            init_logging("warn");
            let options = match submit.options() {
                Ok(o) => o,
                Err(e) => return remote::report_error(e.to_string(), EXIT_USAGE, json),
            };
            if !local {
                if taskmanagers.is_some() || slots.is_some() {
                    let e = "--taskmanagers and --slots shape the cluster of --local";
                    return remote::report_error(e, EXIT_USAGE, json);
                }
                let client = remote::client(jobmanager_rest);
                let req = crate::rest::model::SubmitJobRequest {
                    job,
                    args,
                    parallelism,
                    options,
                };
                return remote::run(&client, &req, detached, json);
            }
            run_local(
                registry,
                parallelism,
                taskmanagers.unwrap_or(1),
                slots,
                &job,
                &args,
                &options,
            )
        }
        Command::Sql {
            local,
            jobmanager_rest,
            file,
            detached,
            history,
            json,
            parallelism,
            shape: LocalShape {
                taskmanagers,
                slots,
            },
            submit,
        } => {
            init_logging("warn");
            let options = match submit.options() {
                Ok(o) => o,
                Err(e) => return usage_error(e),
            };
            let target = sql::SqlTarget {
                registry,
                local,
                rest: jobmanager_rest,
                parallelism,
                taskmanagers: taskmanagers.unwrap_or(1),
                slots,
                detached,
                options,
                history,
                json,
            };
            sql::sql(target, file.as_deref())
        }
        Command::List {
            jobmanager_rest,
            json,
        } => remote::list(&remote::client(jobmanager_rest), json),
        Command::Savepoint {
            jobmanager_rest,
            job_id,
            dir,
            json,
        } => remote::savepoint(
            &remote::client(jobmanager_rest),
            &job_id,
            dir.as_deref(),
            None,
            json,
        ),
        Command::Stop {
            jobmanager_rest,
            job_id,
            savepoint,
            drain,
            json,
        } => remote::savepoint(
            &remote::client(jobmanager_rest),
            &job_id,
            savepoint.as_deref(),
            Some(drain),
            json,
        ),
        Command::Cancel {
            jobmanager_rest,
            job_id,
            json,
        } => remote::cancel(&remote::client(jobmanager_rest), &job_id, json),
        Command::Jobmanager {
            bind,
            rest,
            advertise,
            secret,
            config,
            ha,
        } => {
            init_logging("info");
            let addresses = processes::JobManagerAddresses {
                bind,
                rest,
                advertise,
            };
            jobmanager(registry, addresses, secret, config, ha)
        }
        Command::Taskmanager {
            jobmanager,
            slots,
            bind,
            advertise,
            metrics,
            secret,
            config,
            ha,
        } => {
            init_logging("info");
            let endpoint = Endpoint {
                bind,
                advertise,
                metrics,
            };
            let jm = processes::JobManagerFlags { jobmanager, ha };
            taskmanager(registry, jm, slots, endpoint, secret, config)
        }
        Command::Local {
            taskmanagers,
            slots,
            rest,
        } => {
            init_logging("info");
            local_cluster(registry, taskmanagers, slots, &rest)
        }
        Command::Bench(args) => {
            init_logging("warn");
            bench::bench(args)
        }
        Command::Nexmark(command) => {
            init_logging("warn");
            nexmark::nexmark(command)
        }
    }
}
