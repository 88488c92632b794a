//! `socket-wordcount --host H --port P`: reads lines from a TCP socket and prints a running
//! count per word (Flink's `N> ` prefix above parallelism 1). Unbounded: it runs until the
//! peer closes the connection or the job is cancelled.

use crate::api::StreamEnv;
use crate::jobs::wordcount::tokenize;
use crate::jobs::{JobArgs, JobError, JobSpec};

/// The registry entry.
pub fn spec() -> JobSpec {
    JobSpec {
        name: "socket-wordcount",
        description: "running word counts of lines read from a TCP socket, printed",
        usage: "--host HOST --port PORT",
        arguments: &["host", "port"],
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

fn build(env: &StreamEnv, args: &JobArgs) -> Result<(), JobError> {
    let (host, port) = socket_address(args)?;
    env.socket_text_stream(&host, port)
        .flat_map(tokenize)
        .name("Tokenizer")
        .key_by(|(w, _): &(String, u64)| w.clone())
        .sum(|t: &mut (String, u64)| &mut t.1)
        .print();
    Ok(())
}
