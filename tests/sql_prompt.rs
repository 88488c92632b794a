//! Issue 20: `rill sql` as a person and as a script use it.
//! - The prompt on a terminal (a pseudo-terminal from util-linux `script`): statements span
//!   lines, Up recalls earlier statements (of this session, and of an earlier one through the
//!   history file), and Ctrl-D leaves.
//! - `--json`: a query's rows as changelog JSON lines, alone on standard output.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::cli::{finish, Killed};

/// Types `keys` (each after a pause, as a person would) into `rill sql --local` on a
/// pseudo-terminal; everything the terminal showed.
fn session(history: &std::path::Path, keys: &[&str]) -> String {
    let rill = env!("CARGO_BIN_EXE_rill");
    let command = format!("{rill} sql --local --history {}", history.display());
    let mut child = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env_remove("RILL_REST")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) starts");
    let mut stdin = child.stdin.take().expect("stdin");
    for k in keys {
        std::thread::sleep(Duration::from_millis(300));
        stdin.write_all(k.as_bytes()).expect("typed");
        stdin.flush().expect("flushed");
    }
    std::thread::sleep(Duration::from_millis(300));
    drop(stdin);
    let out = finish(
        Killed(child),
        Duration::from_secs(60),
        "rill sql on a terminal",
    );
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    out.stdout
}

const UP: &str = "\x1b[A";
const CTRL_D: &str = "\x04";

#[test]
fn the_prompt_recalls_statements_across_sessions() {
    let dir = common::temp_dir("sql-prompt");
    let history = dir.join("history");
    let shown = session(
        &history,
        &[
            "SHOW TABLES;\r",
            "CREATE TABLE t1 (a INT)\r",
            "WITH ('connector' = 'blackhole');\r",
            // Up twice: SHOW TABLES again, now with t1.
            &format!("{UP}{UP}\r"),
            CTRL_D,
        ],
    );
    assert_eq!(shown.matches("0 rows in set").count(), 1, "{shown}");
    assert_eq!(shown.matches("1 row in set").count(), 1, "{shown}");
    assert!(shown.contains("|         t1 |"), "{shown}");
    let kept = std::fs::read_to_string(&history).expect("the history file");
    assert!(
        kept.contains("CREATE TABLE t1 (a INT) WITH ('connector' = 'blackhole');"),
        "a statement of two lines is one entry: {kept}"
    );
    // A new session: Up recalls the last statement of the one before (a new catalog: no t1).
    let shown = session(&history, &[&format!("{UP}\r"), CTRL_D]);
    assert!(shown.contains("0 rows in set"), "{shown}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn json_rows_are_alone_on_standard_output() {
    let dir = common::temp_dir("sql-json");
    let input = dir.join("words.csv");
    let words: Vec<String> = (0..300).map(|i| format!("w{}", (i * i) % 13)).collect();
    std::fs::write(&input, words.join("\n") + "\n").expect("words");
    let script = format!(
        "CREATE TABLE words (word STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
         SHOW TABLES;
         SELECT word, COUNT(*) AS n FROM words GROUP BY word;",
        common::cli::path(&input)
    );
    let out = common::cli::run_with_stdin(
        &["sql", "--local", "-p", "2", "--json"],
        &script,
        Duration::from_secs(60),
        "rill sql --json",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("1 row in set"),
        "the shell speaks on stderr: {}",
        out.stderr
    );
    // Every line of stdout is a changelog row; applied in order they end in the counts.
    let mut counts: std::collections::BTreeMap<String, i64> = Default::default();
    let mut lines = 0;
    for line in out.stdout.lines() {
        let row: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let (op, data) = (row["op"].as_str().expect("op"), &row["data"]);
        let word = data["word"].as_str().expect("word").to_string();
        let n = data["n"].as_i64().expect("n");
        match op {
            "+I" | "+U" => assert!(counts.insert(word, n).is_none(), "{line}"),
            "-U" | "-D" => assert_eq!(counts.remove(&word), Some(n), "{line}"),
            other => panic!("op {other}"),
        }
        lines += 1;
    }
    let mut want: std::collections::BTreeMap<String, i64> = Default::default();
    for w in &words {
        *want.entry(w.clone()).or_insert(0) += 1;
    }
    assert!(
        lines > want.len(),
        "a changelog, not only final rows: {lines} lines"
    );
    assert_eq!(counts, want);
    std::fs::remove_dir_all(&dir).ok();
}
