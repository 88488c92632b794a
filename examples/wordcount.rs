//! `wordcount --input FILE --output FILE [--on-bad-line fail|skip] [--sink sorted|2pc]`: counts
//! the words of a text file and writes the final counts as `word,count` lines sorted by word
//! (`--sink 2pc`: `--output` is a directory of part files committed by the two-phase-commit
//! sink; their sorted concatenation is the result).
//!
//! A word is a maximal run of alphanumeric characters, lowercased. The job runs in batch mode, so
//! the keyed sum emits each word's final count once, when the input has ended.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use crate::api::{Collector, RuntimeMode, SinkFunction, StreamEnv};
use crate::jobs::{JobArgs, JobError, JobSpec, OutputSink};
use crate::operators::sources::DecodePolicy;
use crate::operators::two_phase::TwoPhaseCommitFileSink;
use crate::operators::{OperatorError, RuntimeContext, UserError};

/// The registry entry.
pub fn spec() -> JobSpec {
    JobSpec {
        name: "wordcount",
        description: "count the words of a text file; write sorted word,count lines",
        usage: "--input FILE --output FILE [--on-bad-line fail|skip] [--sink sorted|2pc]",
        arguments: &["input", "output", "on-bad-line", "sink"],
        build,
    }
}

/// Splits a line into lowercase words.
pub fn tokenize(line: String, out: &mut Collector<'_, (String, u64)>) {
    for w in line
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        out.collect((w.to_lowercase(), 1));
    }
}

fn build(env: &StreamEnv, args: &JobArgs) -> Result<(), JobError> {
    let input = args.input_file("input")?;
    let output = PathBuf::from(args.required("output")?);
    let policy: DecodePolicy = args.parse_or("on-bad-line", DecodePolicy::Fail)?;
    let sink = OutputSink::from_args("wordcount", args)?;
    env.set_runtime_mode(RuntimeMode::Batch);
    let counts = env
        .read_text_file_with(input, policy)
        .flat_map(tokenize)
        .name("Tokenizer")
        .key_by(|(w, _): &(String, u64)| w.clone())
        .sum(|t: &mut (String, u64)| &mut t.1);
    match sink {
        OutputSink::Sorted => {
            counts
                .add_sink("Sorted Text File", SortedCountsSink::new(output))
                .set_parallelism(1);
        }
        OutputSink::TwoPhaseCommit => {
            counts
                .map(|(w, n): (String, u64)| format!("{w},{n}"))
                .add_sink(
                    "Two-Phase-Commit Files",
                    TwoPhaseCommitFileSink::<String>::new(output),
                );
        }
    }
    Ok(())
}

/// Gathers `(word, count)` records and writes them sorted by word when the input ends.
#[derive(Clone)]
pub struct SortedCountsSink {
    path: PathBuf,
    counts: BTreeMap<String, u64>,
}

impl SortedCountsSink {
    /// A sink writing to `path`.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            counts: BTreeMap::new(),
        }
    }
}

impl SinkFunction<(String, u64)> for SortedCountsSink {
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), UserError> {
        self.counts.clear();
        Ok(())
    }

    fn invoke(&mut self, (word, count): (String, u64)) -> Result<(), UserError> {
        self.counts.insert(word, count);
        Ok(())
    }

    fn finish(&mut self) -> Result<(), UserError> {
        let io = |e: std::io::Error| -> UserError {
            Box::new(OperatorError::io(
                "Sorted Text File",
                self.path.display(),
                &e,
            ))
        };
        let file = std::fs::File::create(&self.path).map_err(io)?;
        let mut w = std::io::BufWriter::new(file);
        for (word, count) in &self.counts {
            writeln!(w, "{word},{count}").map_err(io)?;
        }
        w.flush().map_err(io)?;
        Ok(())
    }
}
