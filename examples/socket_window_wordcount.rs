//! `socket-window-wordcount --host H --port P [--size-ms 2000] [--slide-ms 1000]
//! [--max-line-bytes 1048576] [--on-long-line fail|skip]`: Flink's
//! classic SocketWindowWordCount. Reads lines from a TCP socket and prints, for every
//! processing-time window of 2 s sliding by 1 s, each word's count in it (Flink's `N> ` prefix
//! above parallelism 1). A word seen once shows in the two windows that cover it. Unbounded: it
//! runs until the peer closes the connection (windows still open then are not emitted, as in
//! Flink) or the job is cancelled. Long lines as in `socket-wordcount`.

use std::time::Duration;

use crate::api::StreamEnv;
use crate::jobs::socket_wordcount::{socket_address, socket_options};
use crate::jobs::wordcount::tokenize;
use crate::jobs::{JobArgs, JobError, JobSpec};
use crate::windowing::assigners::TimeWindows;

/// The registry entry.
pub fn spec() -> JobSpec {
    JobSpec {
        name: "socket-window-wordcount",
        description: "word counts per 2 s processing-time window sliding by 1 s, of lines read from a TCP socket, printed",
        usage: "--host HOST --port PORT [--size-ms 2000] [--slide-ms 1000] [--max-line-bytes 1048576] [--on-long-line fail|skip]",
        arguments: &["host", "port", "size-ms", "slide-ms", "max-line-bytes", "on-long-line"],
        build,
    }
}

fn build(env: &StreamEnv, args: &JobArgs) -> Result<(), JobError> {
    let (host, port) = socket_address(args)?;
    let size = Duration::from_millis(args.parse_or("size-ms", 2000)?);
    let slide = Duration::from_millis(args.parse_or("slide-ms", 1000)?);
    env.socket_text_stream_with(&host, port, socket_options(args)?)
        .flat_map(tokenize)
        .name("Tokenizer")
        .key_by(|(w, _): &(String, u64)| w.clone())
        .window(TimeWindows::sliding_processing_time(size, slide))
        .reduce(|a: (String, u64), b: (String, u64)| (a.0, a.1 + b.1))
        .print();
    Ok(())
}
