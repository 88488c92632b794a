//! Prometheus in tests: `promtool check metrics` on an exposition, and a real Prometheus
//! server on loopback scraping targets and answering a query.

use std::time::{Duration, Instant};

/// `promtool check metrics` finds no problem in `text` (Debian's `prometheus` package, which
/// scripts/deps.sh installs for the tests).
pub fn promtool_accepts(text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs (scripts/deps.sh installs Debian's prometheus package)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("written");
    let out = child.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A real Prometheus server on loopback scrapes `targets` (host:port each) once a second;
/// returns what its query API answers for `query` once the answer holds series from at least
/// `instances` targets (or the last answer after 30 s).
pub fn scrape(targets: &[&str], query: &str, instances: usize) -> String {
    let dir = super::temp_dir("prometheus");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let config = dir.join("prom.yml");
    let list = targets
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs: [{{job_name: rill, honor_labels: true, static_configs: [{{targets: [{list}]}}]}}]\n"
        ),
    )
    .expect("config written");
    let mut server = std::process::Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("prometheus starts (scripts/deps.sh installs it)");
    let url = format!("http://127.0.0.1:{port}/api/v1/query?query={query}");
    let mut last = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = ureq::get(&url).timeout(Duration::from_secs(2)).call() {
            last = r.into_string().unwrap_or_default();
            let seen = targets
                .iter()
                .filter(|t| last.contains(&format!("\"instance\":\"{t}\"")))
                .count();
            if last.contains("\"result\":[{") && seen >= instances {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    last
}
