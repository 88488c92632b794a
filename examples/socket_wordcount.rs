//! `socket-wordcount --host H --port P [--max-line-bytes 1048576] [--on-long-line fail|skip]`:
//! reads lines from a TCP socket and prints a running count per word (Flink's `N> ` prefix
//! above parallelism 1). Unbounded: it runs until the peer closes the connection or the job is
//! cancelled. A line longer than `--max-line-bytes` fails the job, or is skipped and counted.

use crate::api::StreamEnv;
use crate::jobs::wordcount::tokenize;
use crate::jobs::{JobArgs, JobError, JobSpec};
use crate::operators::sources::SocketOptions;

/// The registry entry.
pub fn spec() -> JobSpec {
    JobSpec {
        name: "socket-wordcount",
        description: "running word counts of lines read from a TCP socket, printed",
        usage: "--host HOST --port PORT [--max-line-bytes 1048576] [--on-long-line fail|skip]",
        arguments: &["host", "port", "max-line-bytes", "on-long-line"],
        build,
    }
}

/// The `--host` and `--port` of a socket job (both required).
pub fn socket_address(args: &JobArgs) -> Result<(String, u16), JobError> {
    let host = args.required("host")?.to_string();
    let port: u16 = args.parse_or("port", 0)?;
    if port == 0 {
        args.required("port")?;
    }
    Ok((host, port))
}

/// The `--max-line-bytes` and `--on-long-line` of a socket job.
pub fn socket_options(args: &JobArgs) -> Result<SocketOptions, JobError> {
    let defaults = SocketOptions::default();
    Ok(SocketOptions {
        max_line_bytes: args.parse_or("max-line-bytes", defaults.max_line_bytes)?,
        on_long_line: args.parse_or("on-long-line", defaults.on_long_line)?,
    })
}

fn build(env: &StreamEnv, args: &JobArgs) -> Result<(), JobError> {
    let (host, port) = socket_address(args)?;
    env.socket_text_stream_with(&host, port, socket_options(args)?)
        .flat_map(tokenize)
        .name("Tokenizer")
        .key_by(|(w, _): &(String, u64)| w.clone())
        .sum(|t: &mut (String, u64)| &mut t.1)
        .print();
    Ok(())
}
