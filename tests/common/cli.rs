//! Helpers for tests that run the `rill` binary against a cluster: `rill local` on a free
//! port (killed on drop), and running `rill` commands to their end with a bound on their time.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a `rill` command (or the cluster's start) may take.
pub const LIMIT: Duration = Duration::from_secs(30);

/// A child process that is killed when this guard goes out of scope.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends each line of `child`'s stdout to the receiver as it comes, until it closes.
pub fn stdout_lines(child: &mut Killed) -> mpsc::Receiver<String> {
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let _ = tx.send(line);
        }
    });
    rx
}

/// `rill local` on a free port, killed on drop.
pub struct LocalCluster {
    _child: Killed,
    /// The REST API's URL.
    pub url: String,
}

impl LocalCluster {
    /// Starts `rill local` with 2 TaskManagers of 2 slots and waits for its REST URL.
    pub fn start() -> Self {
        let mut child = Killed(
            Command::new(env!("CARGO_BIN_EXE_rill"))
                .args([
                    "local",
                    "--taskmanagers",
                    "2",
                    "--slots",
                    "2",
                    "--rest",
                    "127.0.0.1:0",
                ])
                .env_remove("RILL_REST")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("rill local starts"),
        );
        // Keeps draining stdout after the first line: jobs that print write there, and a
        // closed pipe would fail them.
        let rx = stdout_lines(&mut child);
        let line = rx
            .recv_timeout(LIMIT)
            .expect("rill local prints its REST URL");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_string();
        assert!(!url.ends_with(":0"), "the real port is printed: {url}");
        Self { _child: child, url }
    }
}

/// What a finished `rill` process left.
#[derive(Debug)]
pub struct Outcome {
    /// Its exit code.
    pub code: Option<i32>,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

/// `rill args` with `env`, stdin closed, stdout and stderr piped, `$RILL_REST` unset.
pub fn rill_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rill"));
    c.args(args)
        .env_remove("RILL_REST")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Waits for `child` to exit, killing it (and failing the test) after `limit`.
pub fn finish(mut child: Killed, limit: Duration, what: &str) -> Outcome {
    // Whatever of stdout and stderr the caller has not taken.
    fn read_all(r: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    }
    let readers = (
        read_all(child.0.stdout.take()),
        read_all(child.0.stderr.take()),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().expect("wait") {
            break s;
        }
        assert!(start.elapsed() < limit, "{what} ran past {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    };
    Outcome {
        code: status.code(),
        stdout: readers.0.join().expect("stdout reader"),
        stderr: readers.1.join().expect("stderr reader"),
    }
}

/// Runs `rill args` with `env` to its end.
pub fn rill(args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let child = Killed(rill_command(args, env).spawn().expect("rill starts"));
    finish(child, LIMIT, &format!("rill {args:?}"))
}

/// `p` as a `&str` (temp paths are UTF-8).
pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Runs `rill args…` with `script` on its standard input, to its end (at most `limit`).
pub fn run_with_stdin(args: &[&str], script: &str, limit: Duration, what: &str) -> Outcome {
    let mut cmd = rill_command(args, &[]);
    cmd.stdin(Stdio::piped());
    let mut child = Killed(cmd.spawn().expect("rill starts"));
    child
        .0
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("script written");
    finish(child, limit, what)
}
