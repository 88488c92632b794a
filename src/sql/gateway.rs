//! The SQL Gateway's sessions and operations (Flink's `SqlGatewayService`), without I/O: the
//! REST routes ([`crate::rest::sql_gateway`]) open sessions, run statements in them, submit
//! the jobs they make and keep each operation's result for fetching.
//!
//! ## Bounds
//! At most [`MAX_SESSIONS`] sessions; one idle for [`SESSION_IDLE_TIMEOUT`] (Flink's
//! `sql-gateway.session.idle-timeout`) is closed when a new one is opened. A session keeps the
//! results of its last [`MAX_OPERATIONS`] operations.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::sql::session::{Outcome, Session};
use crate::sql::SqlError;

/// The most sessions open at once.
pub const MAX_SESSIONS: usize = 256;
/// The most operation results a session keeps.
pub const MAX_OPERATIONS: usize = 64;
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
}

impl OperationResult {
    /// The result of a job submitted as `job_id`.
    pub fn job(job_id: String) -> Self {
        Self {
            columns: vec!["job id".into()],
            rows: vec![vec![job_id.clone()]],
            job_id: Some(job_id),
            with_content: true,
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
            },
            Outcome::Table { header, rows } => Self {
                columns: header.clone(),
                rows: rows.clone(),
                job_id: None,
                with_content: true,
            },
            Outcome::Explain(text) => Self {
                columns: vec!["result".into()],
                rows: vec![vec![text.clone()]],
                job_id: None,
                with_content: true,
            },
            Outcome::Job(_) => Self {
                columns: vec![],
                rows: vec![],
                job_id: None,
                with_content: false,
            },
        }
    }
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
        self.sessions
            .retain(|_, s| now.saturating_duration_since(s.last_used) < SESSION_IDLE_TIMEOUT);
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

    /// Closes a session.
    pub fn close(&mut self, session: &str) -> Result<(), GatewayError> {
        self.sessions
            .remove(session)
            .map(|_| ())
            .ok_or_else(|| GatewayError::SessionNotFound(session.to_string()))
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

    /// Closes an operation (its result is dropped).
    pub fn close_operation(
        &mut self,
        session: &str,
        operation: &str,
        now: Instant,
    ) -> Result<(), GatewayError> {
        let s = self.get(session, now)?;
        let before = s.operations.len();
        s.operations.retain(|(h, _)| h != operation);
        if s.operations.len() == before {
            return Err(GatewayError::OperationNotFound(operation.to_string()));
        }
        Ok(())
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
        // Idle sessions close when another opens.
        let later = t0 + SESSION_IDLE_TIMEOUT + Duration::from_secs(1);
        let _other = g.open(&BTreeMap::new(), later).expect("opens");
        assert!(matches!(
            g.heartbeat(&s, later),
            Err(GatewayError::SessionNotFound(_))
        ));
    }
}
