//! Issue 20: the `socket` SQL connector reads a table from a TCP peer (a listener in this
//! test) until it closes the connection: an aggregate over it ends in the sums computed here;
//! a bad line fails the job naming it, or is skipped with `csv.ignore-parse-errors`.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use common::cli::run_with_stdin;

/// Serves `text` to the first connection on a loopback port, then closes it; the port.
fn serve(text: String) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().expect("its address").port();
    let served = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("rill connects");
        conn.write_all(text.as_bytes()).expect("lines sent");
    });
    (port, served)
}

/// `rill sql --local` over a socket table serving `text`: exit code, stdout, stderr.
fn run(text: String, ignore_errors: bool) -> (Option<i32>, String, String) {
    let (port, served) = serve(text);
    let script = format!(
        "CREATE TABLE s (w STRING, n BIGINT) WITH ('connector' = 'socket', 'hostname' = '127.0.0.1',
           'port' = '{port}', 'format' = 'csv', 'csv.ignore-parse-errors' = '{ignore_errors}');
         CREATE TABLE out (w STRING, total BIGINT) WITH ('connector' = 'print');
         INSERT INTO out SELECT w, SUM(n) FROM s GROUP BY w;"
    );
    let out = run_with_stdin(
        &["sql", "--local", "-p", "2"],
        &script,
        Duration::from_secs(60),
        "rill sql over a socket",
    );
    served.join().expect("the server thread");
    (out.code, out.stdout, out.stderr)
}

#[test]
fn a_socket_table_ends_when_its_peer_closes() {
    let rows: Vec<(String, i64)> = (0..2000)
        .map(|i| (format!("w{}", i % 17), i % 100))
        .collect();
    let mut text: String = rows.iter().map(|(w, n)| format!("{w},{n}\n")).collect();
    let mut want = std::collections::BTreeMap::new();
    for (w, n) in &rows {
        *want.entry(w.clone()).or_insert(0i64) += n;
    }
    let want: std::collections::BTreeMap<String, u64> = want
        .into_iter()
        .map(|(w, total)| (format!("{w}, {total}"), 1))
        .collect();
    let (code, stdout, stderr) = run(text.clone(), false);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(common::sql::final_rows(&stdout), want);

    // A line that does not decode: skipped and counted, or the job fails naming it.
    text.push_str("w1,not-a-number\n");
    let (code, stdout, stderr) = run(text.clone(), true);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(common::sql::final_rows(&stdout), want);
    let (code, stdout, stderr) = run(text, false);
    assert_eq!(code, Some(1), "the job fails: {stdout}{stderr}");
    assert!(
        (stdout.clone() + &stderr).contains("the line \"w1,not-a-number\" does not decode"),
        "{stdout}{stderr}"
    );
}
