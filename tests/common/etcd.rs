//! A real etcd for the tests: Debian's `etcd-server` (scripts/deps.sh installs it) on two free
//! loopback ports, with a data directory of its own ([`super::spawn_watched`]: it ends with
//! the test process); drop stops it and removes its data.

use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

/// A running single-member etcd.
pub struct EtcdServer {
    child: Child,
    dir: PathBuf,
    /// Its client port on 127.0.0.1.
    pub port: u16,
}

fn free_port() -> u16 {
    rill::launch::free_tcp_port().expect("a free port")
}

impl EtcdServer {
    /// Starts etcd and waits until it answers (30 s at most).
    pub fn start() -> Self {
        let (port, peer) = (free_port(), free_port());
        let dir = super::temp_dir("etcd");
        let args = rill::launch::etcd_args("rill-test", &dir.join("data"), port, peer);
        let child = super::spawn_watched("etcd".as_ref(), &args)
            .expect("etcd starts (scripts/deps.sh --tests installs etcd-server)");
        let s = Self { child, dir, port };
        let status = format!("http://127.0.0.1:{port}/v3/maintenance/status");
        super::wait_until(
            &format!("etcd did not answer on port {port}"),
            Duration::from_millis(50),
            || ureq::post(&status).send_string("{}").is_ok(),
        );
        s
    }

    /// Its client endpoint, `127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl EtcdServer {
    /// Stops it (SIGKILL), as a lost etcd.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
