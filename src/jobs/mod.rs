//! The job registry: jobs are Rust code compiled into the binary and registered by name, so
//! every node can rebuild the same plan from a job's name and arguments. The bundled jobs live
//! in `examples/`.

use std::path::PathBuf;
use std::str::FromStr;

use crate::api::StreamEnv;
use crate::graph::{GraphError, StreamGraph};

#[path = "../../examples/clickstream.rs"]
pub mod clickstream;
#[path = "../../examples/key_stats.rs"]
pub mod key_stats;
#[path = "../../examples/keyed_sum.rs"]
pub mod keyed_sum;
#[path = "../../examples/nexmark.rs"]
pub mod nexmark;
#[path = "../../examples/partitioners.rs"]
pub mod partitioners;
#[path = "../../examples/shuffle.rs"]
pub mod shuffle;
#[path = "../../examples/socket_window_wordcount.rs"]
pub mod socket_window_wordcount;
#[path = "../../examples/socket_wordcount.rs"]
pub mod socket_wordcount;
#[path = "../../examples/windowed_count.rs"]
pub mod windowed_count;
#[path = "../../examples/wordcount.rs"]
pub mod wordcount;

/// Why a job could not be built from its name and arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// No job of that name.
    #[error("unknown job '{name}' (known: {known})")]
    UnknownJob {
        /// The name asked for.
        name: String,
        /// The registered names.
        known: String,
    },
    /// A required argument is missing.
    #[error("{job}: missing argument --{arg} (usage: {job} {usage})")]
    MissingArgument {
        /// The job.
        job: String,
        /// The argument.
        arg: String,
        /// The job's usage.
        usage: String,
    },
    /// An argument the job does not take.
    #[error("{job}: unknown argument '{arg}' (usage: {job} {usage})")]
    UnknownArgument {
        /// The job.
        job: String,
        /// The argument.
        arg: String,
        /// The job's usage.
        usage: String,
    },
    /// An argument's value does not parse.
    #[error("{job}: bad value '{value}' for --{arg}: {reason}")]
    BadValue {
        /// The job.
        job: String,
        /// The argument.
        arg: String,
        /// The value.
        value: String,
        /// Why.
        reason: String,
    },
    /// An input file does not exist.
    #[error("{job}: input file {path} does not exist")]
    InputNotFound {
        /// The job.
        job: String,
        /// The path.
        path: String,
    },
    /// The job's graph is invalid.
    #[error("{0}")]
    Graph(#[from] GraphError),
    /// A SQL job's statements do not plan (the planner's message).
    #[error("{0}")]
    Sql(String),
}

/// A job's arguments: `--name value` pairs, checked against what the job takes.
#[derive(Debug, Clone)]
pub struct JobArgs {
    job: String,
    usage: String,
    pairs: Vec<(String, String)>,
}

impl JobArgs {
    /// Parses `args` for `spec`.
    pub fn parse(spec: &JobSpec, args: &[String]) -> Result<Self, JobError> {
        let mut pairs = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let unknown = || JobError::UnknownArgument {
                job: spec.name.into(),
                arg: a.clone(),
                usage: spec.usage.into(),
            };
            let name = a.strip_prefix("--").ok_or_else(unknown)?;
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => {
                    let v = it.next().ok_or_else(|| JobError::BadValue {
                        job: spec.name.into(),
                        arg: name.into(),
                        value: String::new(),
                        reason: "a value is required".into(),
                    })?;
                    (name.to_string(), v.clone())
                }
            };
            if !spec.arguments.contains(&name.as_str()) {
                return Err(unknown());
            }
            pairs.push((name, value));
        }
        Ok(Self {
            job: spec.name.into(),
            usage: spec.usage.into(),
            pairs,
        })
    }

    /// The value of `--name`, if given (the last one wins).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a required argument.
    pub fn required(&self, name: &str) -> Result<&str, JobError> {
        self.get(name).ok_or_else(|| JobError::MissingArgument {
            job: self.job.clone(),
            arg: name.into(),
            usage: self.usage.clone(),
        })
    }

    /// A parsed value, or `default` when absent.
    pub fn parse_or<T: FromStr>(&self, name: &str, default: T) -> Result<T, JobError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e: T::Err| JobError::BadValue {
                job: self.job.clone(),
                arg: name.into(),
                value: v.into(),
                reason: e.to_string(),
            }),
        }
    }

    /// A required path to a file that must exist.
    pub fn input_file(&self, name: &str) -> Result<PathBuf, JobError> {
        let p = PathBuf::from(self.required(name)?);
        if !p.is_file() {
            return Err(JobError::InputNotFound {
                job: self.job.clone(),
                path: p.display().to_string(),
            });
        }
        Ok(p)
    }
}

/// Builds a job's streams in an environment.
pub type BuildFn = fn(&StreamEnv, &JobArgs) -> Result<(), JobError>;

/// A registered job.
#[derive(Clone, Debug)]
pub struct JobSpec {
    /// Its name.
    pub name: &'static str,
    /// One line on what it does.
    pub description: &'static str,
    /// Its arguments, as a usage line.
    pub usage: &'static str,
    /// The argument names it accepts.
    pub arguments: &'static [&'static str],
    /// Builds it.
    pub build: BuildFn,
}

/// The jobs this binary can run, and the SQL functions it adds.
#[derive(Clone, Debug, Default)]
pub struct JobRegistry {
    jobs: Vec<JobSpec>,
    functions: Vec<crate::sql::functions::udf::ScalarUdf>,
}

impl JobRegistry {
    /// The bundled jobs.
    pub fn bundled() -> Self {
        let mut r = Self::default();
        r.register(wordcount::spec());
        r.register(socket_wordcount::spec());
        r.register(socket_window_wordcount::spec());
        r.register(partitioners::spec());
        r.register(shuffle::spec());
        r.register(windowed_count::spec());
        r.register(key_stats::spec());
        r.register(keyed_sum::spec());
        r.register(clickstream::spec());
        r.register(nexmark::spec());
        r.register(crate::sql::job::spec());
        r
    }

    /// Adds (or replaces) a job.
    pub fn register(&mut self, spec: JobSpec) {
        self.jobs.retain(|j| j.name != spec.name);
        self.jobs.push(spec);
    }

    /// Adds a Rust scalar function for SQL (see [`crate::sql::functions::udf`]): called by
    /// its name, or named by `CREATE FUNCTION f AS 'identifier'`.
    pub fn with_function(mut self, f: crate::sql::functions::udf::ScalarUdf) -> Self {
        self.functions.push(f);
        self
    }

    /// Registers the SQL functions in this process (`main_with` does, before anything runs).
    pub fn register_functions(&self) {
        for f in &self.functions {
            crate::sql::functions::udf::register(f.clone());
        }
    }

    /// The registered jobs.
    pub fn jobs(&self) -> &[JobSpec] {
        &self.jobs
    }

    /// The job named `name`.
    pub fn get(&self, name: &str) -> Result<&JobSpec, JobError> {
        self.jobs
            .iter()
            .find(|j| j.name == name)
            .ok_or_else(|| JobError::UnknownJob {
                name: name.into(),
                known: self
                    .jobs
                    .iter()
                    .map(|j| j.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Builds job `name` with `args` and resolves its graph.
    pub fn build(
        &self,
        name: &str,
        args: &[String],
        parallelism: Option<usize>,
        cluster_default: usize,
    ) -> Result<StreamGraph, JobError> {
        let spec = self.get(name)?;
        let parsed = JobArgs::parse(spec, args)?;
        let env = StreamEnv::new(name);
        (spec.build)(&env, &parsed)?;
        Ok(env.stream_graph(parallelism, cluster_default)?)
    }
}

/// Where a bundled job writes its results (`--sink`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputSink {
    /// One file of sorted lines, written at the end of input (the default).
    Sorted,
    /// A directory of part files committed by the two-phase-commit sink at each checkpoint
    /// (exactly once across failures); the result is their sorted concatenation.
    TwoPhaseCommit,
}

impl OutputSink {
    /// The `--sink` argument of `job`.
    pub fn from_args(job: &str, args: &JobArgs) -> Result<Self, JobError> {
        match args.get("sink").unwrap_or("sorted") {
            "sorted" => Ok(Self::Sorted),
            "2pc" => Ok(Self::TwoPhaseCommit),
            other => Err(JobError::BadValue {
                job: job.into(),
                arg: "sink".into(),
                value: other.into(),
                reason: "expected sorted or 2pc".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn bad_arguments_are_named() {
        let r = JobRegistry::bundled();
        let e = r.build("nope", &[], None, 1).expect_err("unknown");
        assert!(e.to_string().contains("unknown job 'nope'"), "{e}");
        let e = r
            .build("wordcount", &args(&["--output", "x"]), None, 1)
            .expect_err("missing");
        assert!(e.to_string().contains("missing argument --input"), "{e}");
        let e = r
            .build("wordcount", &args(&["--bogus", "1"]), None, 1)
            .expect_err("unknown arg");
        assert!(e.to_string().contains("unknown argument '--bogus'"), "{e}");
        let e = r
            .build(
                "wordcount",
                &args(&["--input", "/no/such/file", "--output", "x"]),
                None,
                1,
            )
            .expect_err("missing file");
        assert!(e.to_string().contains("does not exist"), "{e}");
        let e = r
            .build("partitioners", &args(&["--count", "ten"]), None, 1)
            .expect_err("bad value");
        assert!(e.to_string().contains("bad value 'ten'"), "{e}");
    }
}
