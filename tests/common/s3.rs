//! A real S3 API server for the tests: moto's `moto_server` (PyPI `moto[s3]`, which
//! scripts/deps.sh installs into ~/.cache/rill-moto) on a free loopback port, with one bucket.
//! A watchdog ends the server when the test process ends, so a server shared by a test binary
//! (see [`shared`]) does not outlive it; [`S3Server::start`] gives a test one of its own,
//! stopped on drop.

use std::path::PathBuf;
use std::process::Child;
use std::sync::OnceLock;
use std::time::Duration;

/// The bucket every server holds.
pub const BUCKET: &str = "rill-test";

/// A running moto server.
pub struct S3Server {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

fn moto_server() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/rill-moto/bin/moto_server")
}

impl S3Server {
    /// Starts a server on a free port and creates [`BUCKET`]; panics (failing the test) when
    /// it does not answer within 30 s.
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self::start_on(port)
    }

    /// Starts a server on `port` (again, after [`S3Server::stop`]: its objects are gone, the
    /// bucket is made anew).
    pub fn start_on(port: u16) -> Self {
        let server = moto_server();
        assert!(
            server.exists(),
            "{} is missing: run scripts/deps.sh --tests",
            server.display()
        );
        let args = ["-H", "127.0.0.1", "-p", &port.to_string()].map(str::to_string);
        let child = super::spawn_watched(server.as_os_str(), &args).expect("moto_server starts");
        let s = Self { child, port };
        let bucket = format!("{}/{BUCKET}", s.endpoint());
        super::wait_until(
            &format!("moto_server did not answer on port {port}"),
            Duration::from_millis(100),
            || ureq::put(&bucket).call().is_ok(),
        );
        s
    }

    /// Its URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The options an object-store client needs to reach it.
    pub fn options(&self) -> Vec<(String, String)> {
        vec![
            ("endpoint".into(), self.endpoint()),
            ("allow_http".into(), "true".into()),
            ("region".into(), "us-east-1".into()),
            ("access_key_id".into(), "test".into()),
            ("secret_access_key".into(), "test".into()),
        ]
    }

    /// The same as the `AWS_*` environment variables of a process (`rill` started by a test).
    pub fn env(&self) -> Vec<(String, String)> {
        self.options()
            .into_iter()
            .map(|(k, v)| {
                let k = if k == "endpoint" {
                    "endpoint_url".to_string()
                } else {
                    k
                };
                (format!("AWS_{}", k.to_ascii_uppercase()), v)
            })
            .collect()
    }

    /// The settings file's `[s3]` section for this server.
    pub fn settings(&self) -> String {
        let mut out = String::from("[s3]\n");
        for (k, v) in self.options() {
            out.push_str(&format!("{k} = \"{v}\"\n"));
        }
        out
    }

    /// Makes this process's object-store clients use this server.
    pub fn configure(&self) {
        rill::checkpoint::store::configure(&self.options()).expect("options taken");
    }

    /// A fresh prefix in the bucket: `s3://rill-test/<name>-<pid>-<random>`.
    pub fn prefix(&self, name: &str) -> PathBuf {
        PathBuf::from(format!(
            "s3://{BUCKET}/{name}-{}-{}",
            std::process::id(),
            rill::util::random_u64() as u32
        ))
    }

    /// Stops the server (its objects are lost).
    pub fn stop(&mut self) {
        // The child is the server; its watchdog ends once it is gone.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The test binary's server, started by the first test that asks and configured as this
/// process's object store; ended with the process by its watchdog.
pub fn shared() -> &'static S3Server {
    static SERVER: OnceLock<S3Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let s = S3Server::start();
        s.configure();
        s
    })
}

/// Where a test's checkpoints go: a local directory or a prefix in the shared S3 server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// A local temporary directory.
    Local,
    /// The S3 API server.
    S3,
}

impl Storage {
    /// Both storages: the tests that take this run once on each.
    pub const ALL: [Storage; 2] = [Storage::Local, Storage::S3];

    /// A fresh location named after `name`.
    pub fn location(self, name: &str) -> PathBuf {
        match self {
            Storage::Local => super::temp_dir(name),
            Storage::S3 => shared().prefix(name),
        }
    }

    /// Removes what the test left at `location`.
    pub fn clean(self, location: &std::path::Path) {
        let _ = rill::checkpoint::store::remove_dir_all(location);
    }
}
