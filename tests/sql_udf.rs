//! Issue 20: a user's Rust scalar function in their own binary (`examples/sql_udf.rs`, built by
//! `scripts/test.sh` with `cargo build --example sql_udf`): called by its name, named again by
//! `CREATE FUNCTION … AS 'identifier'`, checked against its signature; the bundled `rill`
//! binary, which does not register it, refuses the `CREATE FUNCTION` with a message.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::cli::{finish, path, Killed};

/// The example binary, next to the `rill` binary under test.
fn example() -> PathBuf {
    let rill = PathBuf::from(env!("CARGO_BIN_EXE_rill"));
    let bin = rill
        .parent()
        .expect("a target directory")
        .join("examples")
        .join("sql_udf");
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build --example sql_udf` (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// Runs `script` with `binary sql --local -p p`: its exit code, stdout and stderr.
fn run(
    binary: &PathBuf,
    dir: &std::path::Path,
    name: &str,
    script: &str,
    p: usize,
) -> (Option<i32>, String, String) {
    let file = dir.join(format!("{name}.sql"));
    std::fs::write(&file, script).expect("script");
    let child = Command::new(binary)
        .args(["sql", "--local", "-p", &p.to_string(), "-f", path(&file)])
        .env_remove("RILL_REST")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let out = finish(Killed(child), Duration::from_secs(120), name);
    (out.code, out.stdout, out.stderr)
}

#[test]
fn rust_functions_of_a_user_binary_run_in_sql() {
    let dir = common::temp_dir("sql-udf");
    let input = dir.join("words.csv");
    let words: Vec<(i64, String)> = (0..500)
        .map(|i| {
            (
                i,
                format!(
                    "c{}a{}",
                    "c".repeat(i as usize % 7),
                    "x".repeat(i as usize % 3)
                ),
            )
        })
        .collect();
    let text: String = words.iter().map(|(i, w)| format!("{i},{w}\n")).collect();
    std::fs::write(&input, text).expect("input");
    let tables = format!(
        "CREATE TABLE words (id BIGINT, w STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
         CREATE TABLE out (id BIGINT, by_name BIGINT, by_class BIGINT, xs BIGINT) WITH ('connector' = 'print');",
        path(&input)
    );
    let script = format!(
        "{tables}
         CREATE FUNCTION cc AS 'com.github.nexmark.flink.udf.CountChar';
         SHOW FUNCTIONS;
         INSERT INTO out SELECT id, count_char(w, 'c'), cc(w, 'c'), COUNT_CHAR(w, 'x') FROM words WHERE cc(w, 'c') > 2;"
    );
    let want: BTreeMap<String, u64> = words
        .iter()
        .filter(|(_, w)| w.matches('c').count() > 2)
        .map(|(i, w)| {
            let (c, x) = (w.matches('c').count(), w.matches('x').count());
            (format!("{i}, {c}, {c}, {x}"), 1)
        })
        .collect();
    assert!(want.len() > 100);
    let bin = example();
    for p in [1, 2] {
        let (code, stdout, stderr) = run(&bin, &dir, &format!("udf-{p}"), &script, p);
        assert_eq!(code, Some(0), "{stderr}");
        assert!(
            stdout.contains("count_char(string, string) -> bigint"),
            "SHOW FUNCTIONS lists the registered function: {stdout}"
        );
        assert_eq!(common::sql::final_rows(&stdout), want, "p={p}");
    }

    // Arguments that do not fit the signature.
    let (code, stdout, stderr) = run(
        &bin,
        &dir,
        "udf-types",
        &format!("{tables}\nINSERT INTO out SELECT id, count_char(id, 'c'), 0, 0 FROM words;"),
        1,
    );
    assert_ne!(code, Some(0));
    let said = stdout + &stderr;
    assert!(
        said.contains("cannot apply COUNT_CHAR to (BIGINT, STRING); expected COUNT_CHAR(STRING, STRING) -> BIGINT"),
        "{said}"
    );
    // The bundled binary registers no function: the CREATE FUNCTION says so.
    let rill = PathBuf::from(env!("CARGO_BIN_EXE_rill"));
    let (code, stdout, stderr) = run(
        &rill,
        &dir,
        "udf-missing",
        "CREATE FUNCTION cc AS 'com.github.nexmark.flink.udf.CountChar';",
        1,
    );
    assert_ne!(code, Some(0));
    let said = stdout + &stderr;
    assert!(
        said.contains("Function class 'com.github.nexmark.flink.udf.CountChar' of function 'cc' is not registered in this binary (registered: none)"),
        "{said}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
