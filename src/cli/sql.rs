//! `rill sql`: Flink's SQL Client. Statements come from `-f FILE`, from standard input, or
//! typed at the `Flink SQL>` prompt (a statement ends with `;` and may span lines); DDL and
//! `SET` change the session, `SHOW`/`DESCRIBE`/`EXPLAIN` answer at once, and each `INSERT`
//! becomes a job submitted to the cluster (or run on an embedded mini cluster with
//! `--local`), followed to its end as `rill run` does unless `--detached`.
//!
//! A `SELECT` runs as a job whose rows print here as a changelog (`+I[…]`, `-U[…]`, `+U[…]`):
//! with `--local` the embedded cluster's sink prints them; on a cluster the query goes through
//! its SQL Gateway and its rows are fetched page by page as they come ([`super::sql_rows`]).
//! With `--json` they are changelog JSON lines (`{"op":"+I","data":{"word":"a","n":1}}`), and
//! everything else the shell says goes to standard error, so standard output is only rows.
//!
//! ## Exit codes (scripts)
//! `rill run`'s: 0 when every statement succeeded and every job FINISHED; 1 when a job FAILED
//! or was CANCELED; 2 when a statement is rejected (syntax, names, types), with its message.
//! At the prompt, an error is printed and the session goes on.
//!
//! ## The prompt
//! Lines are edited as in a shell (arrows, Ctrl-A/E, Ctrl-R search). Each statement, its
//! lines joined, goes into the history, which is kept in `--history FILE` (default
//! `$HOME/.rill-sql-history`) after every statement, so Up recalls statements of earlier
//! sessions too. Ctrl-C drops the statement being typed; Ctrl-D, `quit;` or `exit;` leave.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::remote;
use crate::cli::{run_local, EXIT_USAGE};
use crate::graph::job_graph::SubmitOptions;
use crate::jobs::JobRegistry;
use crate::sql::job::parse_duration;
use crate::sql::parser::parse_script;
use crate::sql::session::{Outcome, Session, SqlJob};

/// Where `rill sql`'s jobs run and how they are followed.
pub(super) struct SqlTarget {
    /// The registry (for `--local`).
    pub registry: Arc<JobRegistry>,
    /// Run on an embedded mini cluster.
    pub local: bool,
    /// `--jobmanager-rest`.
    pub rest: Option<String>,
    /// `-p`.
    pub parallelism: Option<usize>,
    /// `--taskmanagers` (local).
    pub taskmanagers: usize,
    /// `--slots` (local).
    pub slots: Option<usize>,
    /// Submit without waiting for the end.
    pub detached: bool,
    /// The submission options of the command line.
    pub options: SubmitOptions,
    /// `--history`: where the prompt keeps its statements.
    pub history: Option<std::path::PathBuf>,
    /// `--json`: a query's rows as changelog JSON lines, alone on standard output.
    pub json: bool,
}

impl SqlTarget {
    /// Says `text` to the user: on standard output, or standard error with `--json` (whose
    /// standard output holds only rows).
    pub(super) fn say(&self, text: &str) {
        if self.json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }

    /// A new session; with `--json`, one whose queries print JSON lines.
    fn session(&self) -> Session {
        let mut session = Session::new();
        if self.json {
            let set = format!("SET '{}' = 'json';", crate::sql::job::RESULT_FORMAT);
            if let Err(e) = session.execute_script(&set) {
                eprintln!("rill: {e}");
            }
        }
        session
    }
}

/// Runs `rill sql`.
pub(super) fn sql(target: SqlTarget, file: Option<&std::path::Path>) -> ExitCode {
    let script = match file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("rill: cannot read {}: {e}", path.display());
                return ExitCode::from(EXIT_USAGE);
            }
        },
        None if std::io::stdin().is_terminal() => return interactive(&target),
        None => {
            let mut s = String::new();
            if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
                eprintln!("rill: cannot read standard input: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
            s
        }
    };
    run_script(&target, &script)
}

fn run_script(target: &SqlTarget, script: &str) -> ExitCode {
    // The whole script parses before anything runs: a syntax error on line 40 does not leave
    // the first jobs running.
    let statements = match parse_script(script) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("[ERROR] Could not execute SQL statement. Reason:\n{e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut session = target.session();
    for s in &statements {
        target.say(&format!("Flink SQL> {}", s.text));
        match session.execute(s) {
            Ok(outcome) => {
                let code = show(target, &session, outcome);
                if code != ExitCode::SUCCESS {
                    return code;
                }
            }
            Err(e) => {
                eprintln!(
                    "[ERROR] Could not execute SQL statement (line {}). Reason:\n{e}",
                    s.line
                );
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    ExitCode::SUCCESS
}

fn interactive(target: &SqlTarget) -> ExitCode {
    use rustyline::error::ReadlineError;
    let mut editor = match rustyline::DefaultEditor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("rill: cannot open the terminal: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let history = target.history.clone().or_else(|| {
        std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".rill-sql-history"))
    });
    if let Some(h) = &history {
        // A first session has no history yet.
        let _ = editor.load_history(h);
    }
    let mut session = target.session();
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.trim().is_empty() {
            "Flink SQL> "
        } else {
            "> "
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("rill: cannot read the terminal: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        };
        buffer.push_str(&line);
        buffer.push('\n');
        let trimmed = buffer.trim();
        if trimmed.eq_ignore_ascii_case("quit;") || trimmed.eq_ignore_ascii_case("exit;") {
            break;
        }
        if !trimmed.ends_with(';') {
            continue;
        }
        let entry = trimmed.lines().map(str::trim).collect::<Vec<_>>().join(" ");
        let _ = editor.add_history_entry(entry);
        if let Some(h) = &history {
            if let Err(e) = editor.save_history(h) {
                eprintln!("[WARNING] cannot write the history to {}: {e}", h.display());
            }
        }
        match session.execute_script(&buffer) {
            Ok(outcomes) => {
                for o in outcomes {
                    let _ = show(target, &session, o);
                }
            }
            Err(e) => eprintln!("[ERROR] Could not execute SQL statement. Reason:\n{e}"),
        }
        buffer.clear();
    }
    ExitCode::SUCCESS
}

/// Shows an outcome; runs a job. The exit code of a job's end.
fn show(target: &SqlTarget, session: &Session, outcome: Outcome) -> ExitCode {
    match outcome {
        Outcome::Done(m) => target.say(&m),
        Outcome::Explain(text) => target.say(&text),
        Outcome::Table { header, rows } => target.say(&table_text(&header, &rows)),
        Outcome::Job(job) => return submit(target, session, &job),
    }
    ExitCode::SUCCESS
}

fn submit(target: &SqlTarget, session: &Session, job: &SqlJob) -> ExitCode {
    let catalog = session.catalog();
    let mut options = target.options.clone();
    if options.savepoint_path.is_none() {
        options.savepoint_path = Session::submit_options(job).savepoint_path;
    }
    if options.checkpoint_interval_ms.is_none() {
        if let Some(d) = catalog
            .option("execution.checkpointing.interval")
            .and_then(parse_duration)
        {
            options.checkpoint_interval_ms = Some(d.as_millis() as u64);
        }
    }
    let parallelism = target.parallelism.or(job.parallelism);
    let detached = target.detached || catalog.option("table.dml-sync") == Some("false");
    if job.prints_rows && !target.local {
        return crate::cli::sql_rows::remote_query(target, job);
    }
    if target.local {
        target.say("[INFO] Submitting SQL update statement to the embedded cluster:");
        return run_local(
            target.registry.clone(),
            parallelism,
            target.taskmanagers,
            target.slots,
            "sql",
            &job.args(),
            &options,
        );
    }
    target.say("[INFO] Submitting SQL update statement to the cluster...");
    let client = remote::client(target.rest.clone());
    let req = crate::rest::model::SubmitJobRequest {
        job: "sql".into(),
        args: job.args(),
        parallelism,
        options,
    };
    remote::run(&client, &req, detached, false)
}

fn table_text(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let rule = format!(
        "+{}+",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("+")
    );
    let line = |cells: &[String]| {
        let cells: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!(" {c:>w$} ", w = *w))
            .collect();
        format!("|{}|", cells.join("|"))
    };
    let mut text = format!("{rule}\n{}\n{rule}\n", line(header));
    for r in rows {
        text.push_str(&line(r));
        text.push('\n');
    }
    text.push_str(&format!(
        "{rule}\n{} row{} in set",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ));
    text
}
