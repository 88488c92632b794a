//! The SQL Gateway's sessions and operations (Flink's `SqlGatewayService`), without I/O: the
//! REST routes ([`crate::rest::sql_gateway`]) open sessions, run statements in them, submit
//! the jobs they make and keep each operation's result for fetching.
//!
//! ## Bounds
//! At most [`MAX_SESSIONS`] sessions; one idle for [`SESSION_IDLE_TIMEOUT`] (Flink's
//! `sql-gateway.session.idle-timeout`) is closed when a new one is opened, and the jobs of its
//! queries that had not ended are handed to the caller to cancel. A session keeps the
//! results of its last [`MAX_OPERATIONS`] operations.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::connectors::collect::CollectedRow;
use crate::sql::session::{Outcome, Session};
use crate::sql::types::Field;
use crate::sql::SqlError;

/// The most sessions open at once.
pub const MAX_SESSIONS: usize = 256;
/// The most operation results a session keeps.
pub const MAX_OPERATIONS: usize = 64;
/// How long a fetch of a query's page may take before another may begin.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a session lives without a request.
pub const SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Why a gateway request failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No open session of that handle.
    #[error("Session '{0}' does not exist")]
    SessionNotFound(String),
    /// No operation of that handle in the session.
    #[error("Operation '{0}' does not exist in the session")]
    OperationNotFound(String),
    /// Every session slot is taken by sessions in use.
    #[error("too many open sessions (at most {MAX_SESSIONS}); close one")]
    TooManySessions,
    /// The statement failed.
    #[error("{0}")]
    Sql(#[from] SqlError),
}

/// An operation's result: column names and rows of text, and the job it submitted, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationResult {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<String>>,
    /// The job it submitted.
    pub job_id: Option<String>,
    /// Whether it produced content (`SUCCESS_WITH_CONTENT`) or only succeeded.
    pub with_content: bool,
    /// A query's rows, fetched page by page from its job's `collect` sinks.
    pub query: Option<QueryCursor>,
}

/// Where the reader of a query's rows is: its columns, and the last page it was given (a
/// fetch of the same token again answers it again, as Flink's gateway does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryCursor {
    /// The query's columns.
    pub columns: Vec<Field>,
    /// The last token answered with rows, and those rows.
    pub last: Option<(u64, Vec<CollectedRow>)>,
    /// The token answered with the end (`EOS`), once it was.
    pub ended_at: Option<u64>,
    /// Since when a request is fetching its next page, if one is.
    pub fetching: Option<Instant>,
}

impl QueryCursor {
    /// The token the next page of new rows is fetched with.
    pub fn next_token(&self) -> u64 {
        self.last.as_ref().map_or(0, |(t, _)| t + 1)
    }
}

impl OperationResult {
    /// The result of a job submitted as `job_id`.
    pub fn job(job_id: String) -> Self {
        Self {
            columns: vec!["job id".into()],
            rows: vec![vec![job_id.clone()]],
            job_id: Some(job_id),
            with_content: true,
            query: None,
        }
    }

    /// The result of a query whose job was submitted as `job_id`.
    pub fn query(job_id: String, columns: Vec<Field>) -> Self {
        Self {
            columns: columns.iter().map(|f| f.name.clone()).collect(),
            rows: vec![],
            job_id: Some(job_id),
            with_content: true,
            query: Some(QueryCursor {
                columns,
                last: None,
                ended_at: None,
                fetching: None,
            }),
        }
    }

    /// The result of a statement that answered at once.
    pub fn of(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Done(_) => Self {
                columns: vec!["result".into()],
                rows: vec![vec!["OK".into()]],
                job_id: None,
                with_content: false,
                query: None,
            },
            Outcome::Table { header, rows } => Self {
                columns: header.clone(),
                rows: rows.clone(),
                job_id: None,
                with_content: true,
                query: None,
            },
            Outcome::Explain(text) => Self {
                columns: vec!["result".into()],
                rows: vec![vec![text.clone()]],
                job_id: None,
                with_content: true,
                query: None,
            },
            Outcome::Job(_) => Self {
                columns: vec![],
                rows: vec![],
                job_id: None,
                with_content: false,
                query: None,
            },
        }
    }
}

/// The job of `r` if it is a query whose reader did not see its end.
fn unended_query(r: &OperationResult) -> Option<String> {
    r.query
        .as_ref()
        .filter(|q| q.ended_at.is_none())
        .and(r.job_id.clone())
}

struct GatewaySession {
    session: Session,
    operations: VecDeque<(String, OperationResult)>,
    last_used: Instant,
}

/// The open sessions.
#[derive(Default)]
pub struct Gateway {
    sessions: BTreeMap<String, GatewaySession>,
    /// The jobs of queries whose sessions expired before their end, for the caller to cancel.
    abandoned: Vec<String>,
}

impl Gateway {
    /// No sessions.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh handle: random, so handles do not repeat across JobManager restarts.
    fn handle(&self) -> String {
        use crate::util::random_u64;
        format!("{:016x}{:016x}", random_u64(), random_u64())
    }

    /// Opens a session with `properties` set, closing idle ones first.
    pub fn open(
        &mut self,
        properties: &BTreeMap<String, String>,
        now: Instant,
    ) -> Result<String, GatewayError> {
        let abandoned = &mut self.abandoned;
        self.sessions.retain(|_, s| {
            let alive = now.saturating_duration_since(s.last_used) < SESSION_IDLE_TIMEOUT;
            if !alive {
                abandoned.extend(s.operations.iter().filter_map(|(_, r)| unended_query(r)));
            }
            alive
        });
        if self.sessions.len() >= MAX_SESSIONS {
            return Err(GatewayError::TooManySessions);
        }
        let mut session = Session::new();
        for (k, v) in properties {
            let quote = |s: &str| s.replace('\'', "''");
            session.execute_script(&format!("SET '{}' = '{}'", quote(k), quote(v)))?;
        }
        let handle = self.handle();
        self.sessions.insert(
            handle.clone(),
            GatewaySession {
                session,
                operations: VecDeque::new(),
                last_used: now,
            },
        );
        Ok(handle)
    }

    /// The jobs of queries whose sessions expired (closed for idleness when a session was
    /// opened) before they ended: the caller cancels them.
    pub fn take_abandoned(&mut self) -> Vec<String> {
        std::mem::take(&mut self.abandoned)
    }

    /// Closes a session; the jobs of its queries that had not ended, which the caller
    /// cancels.
    pub fn close(&mut self, session: &str) -> Result<Vec<String>, GatewayError> {
        let s = self
            .sessions
            .remove(session)
            .ok_or_else(|| GatewayError::SessionNotFound(session.to_string()))?;
        Ok(s.operations
            .iter()
            .filter_map(|(_, r)| unended_query(r))
            .collect())
    }

    /// Keeps a session alive.
    pub fn heartbeat(&mut self, session: &str, now: Instant) -> Result<(), GatewayError> {
        self.get(session, now).map(|_| ())
    }

    /// The session's options (`GET /sessions/{s}`).
    pub fn properties(
        &mut self,
        session: &str,
        now: Instant,
    ) -> Result<BTreeMap<String, String>, GatewayError> {
        Ok(self.get(session, now)?.session.catalog().options().clone())
    }

    fn get(&mut self, session: &str, now: Instant) -> Result<&mut GatewaySession, GatewayError> {
        let s = self
            .sessions
            .get_mut(session)
            .ok_or_else(|| GatewayError::SessionNotFound(session.to_string()))?;
        s.last_used = now;
        Ok(s)
    }

    /// Runs one statement (a script of one or more) in a session: its outcomes, in order.
    pub fn execute(
        &mut self,
        session: &str,
        statement: &str,
        now: Instant,
    ) -> Result<Vec<Outcome>, GatewayError> {
        let s = self.get(session, now)?;
        Ok(s.session.execute_script(statement)?)
    }

    /// Records an operation's result; its handle.
    pub fn record(
        &mut self,
        session: &str,
        result: OperationResult,
        now: Instant,
    ) -> Result<String, GatewayError> {
        let handle = self.handle();
        let s = self.get(session, now)?;
        if s.operations.len() >= MAX_OPERATIONS {
            s.operations.pop_front();
        }
        s.operations.push_back((handle.clone(), result));
        Ok(handle)
    }

    /// An operation's result.
    pub fn result(
        &mut self,
        session: &str,
        operation: &str,
        now: Instant,
    ) -> Result<OperationResult, GatewayError> {
        let s = self.get(session, now)?;
        s.operations
            .iter()
            .find(|(h, _)| h == operation)
            .map(|(_, r)| r.clone())
            .ok_or_else(|| GatewayError::OperationNotFound(operation.to_string()))
    }

    fn query_mut(
        &mut self,
        session: &str,
        operation: &str,
        now: Instant,
    ) -> Result<&mut OperationResult, GatewayError> {
        let s = self.get(session, now)?;
        s.operations
            .iter_mut()
            .find(|(h, _)| h == operation)
            .map(|(_, r)| r)
            .ok_or_else(|| GatewayError::OperationNotFound(operation.to_string()))
    }

    /// Marks a query's result as being fetched; false if it already is (by another request
    /// that began less than [`FETCH_TIMEOUT`] ago).
    pub fn begin_fetch(
        &mut self,
        session: &str,
        operation: &str,
        now: Instant,
    ) -> Result<bool, GatewayError> {
        let r = self.query_mut(session, operation, now)?;
        Ok(match r.query.as_mut() {
            Some(q)
                if q.fetching
                    .is_none_or(|t| now.saturating_duration_since(t) > FETCH_TIMEOUT) =>
            {
                q.fetching = Some(now);
                true
            }
            _ => false,
        })
    }

    /// Ends a fetch: keeps where the query's reader now is.
    pub fn end_fetch(
        &mut self,
        session: &str,
        operation: &str,
        mut cursor: QueryCursor,
        now: Instant,
    ) -> Result<(), GatewayError> {
        cursor.fetching = None;
        self.query_mut(session, operation, now)?.query = Some(cursor);
        Ok(())
    }

    /// Closes an operation (its result is dropped); the job of a query that had not ended,
    /// which the caller cancels.
    pub fn close_operation(
        &mut self,
        session: &str,
        operation: &str,
        now: Instant,
    ) -> Result<Option<String>, GatewayError> {
        let s = self.get(session, now)?;
        let i = s
            .operations
            .iter()
            .position(|(h, _)| h == operation)
            .ok_or_else(|| GatewayError::OperationNotFound(operation.to_string()))?;
        Ok(s.operations.remove(i).and_then(|(_, r)| unended_query(&r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_run_statements_keep_results_and_expire() {
        let mut g = Gateway::new();
        let t0 = Instant::now();
        let props = [("parallelism.default".to_string(), "2".to_string())].into();
        let s = g.open(&props, t0).expect("opens");
        assert_eq!(
            g.properties(&s, t0).expect("props")["parallelism.default"],
            "2"
        );
        let out = g
            .execute(
                &s,
                "CREATE TABLE t (a INT) WITH ('connector' = 'datagen')",
                t0,
            )
            .expect("runs");
        let op = g
            .record(&s, OperationResult::of(&out[0]), t0)
            .expect("recorded");
        assert_eq!(
            g.result(&s, &op, t0).expect("result").rows,
            vec![vec!["OK".to_string()]]
        );
        let out = g.execute(&s, "SHOW TABLES", t0).expect("runs");
        assert_eq!(
            OperationResult::of(&out[0]).rows,
            vec![vec!["t".to_string()]]
        );
        assert!(matches!(
            g.execute(&s, "SELECT nope FROM t", t0),
            Err(GatewayError::Sql(_))
        ));
        // Idle sessions close when another opens; their unfinished queries' jobs are named
        // for cancelling.
        let query = g
            .record(&s, OperationResult::query("ef56".into(), vec![]), t0)
            .expect("recorded");
        assert!(!query.is_empty());
        let later = t0 + SESSION_IDLE_TIMEOUT + Duration::from_secs(1);
        let _other = g.open(&BTreeMap::new(), later).expect("opens");
        assert_eq!(g.take_abandoned(), vec!["ef56".to_string()]);
        assert!(g.take_abandoned().is_empty());
        assert!(matches!(
            g.heartbeat(&s, later),
            Err(GatewayError::SessionNotFound(_))
        ));
    }

    #[test]
    fn a_querys_result_is_fetched_by_one_request_at_a_time_and_closing_it_names_its_job() {
        let mut g = Gateway::new();
        let t0 = Instant::now();
        let s = g.open(&BTreeMap::new(), t0).expect("opens");
        let op = g
            .record(&s, OperationResult::query("ab12".into(), vec![]), t0)
            .expect("recorded");
        assert!(g.begin_fetch(&s, &op, t0).expect("begins"));
        assert!(
            !g.begin_fetch(&s, &op, t0).expect("answers"),
            "one at a time"
        );
        let later = t0 + FETCH_TIMEOUT + Duration::from_secs(1);
        assert!(
            g.begin_fetch(&s, &op, later).expect("begins"),
            "a fetch that never ended is taken over"
        );
        let mut cursor = g
            .result(&s, &op, later)
            .expect("result")
            .query
            .expect("query");
        cursor.last = Some((0, vec![]));
        g.end_fetch(&s, &op, cursor, later).expect("ends");
        let cursor = g
            .result(&s, &op, later)
            .expect("result")
            .query
            .expect("query");
        assert_eq!((cursor.next_token(), cursor.fetching), (1, None));
        assert_eq!(
            g.close_operation(&s, &op, later).expect("closes"),
            Some("ab12".to_string()),
            "a query not read to its end: its job is cancelled"
        );
        let ended = g
            .record(&s, OperationResult::query("cd34".into(), vec![]), later)
            .expect("recorded");
        let mut cursor = g
            .result(&s, &ended, later)
            .expect("result")
            .query
            .expect("query");
        cursor.ended_at = Some(0);
        g.end_fetch(&s, &ended, cursor, later).expect("ends");
        assert_eq!(g.close(&s).expect("closes"), Vec::<String>::new());
    }
}
