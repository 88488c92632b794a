//! A small etcd v3 client over etcd's JSON gateway (`POST /v3/kv/range`, `/v3/kv/txn`,
//! `/v3/lease/grant`, …, served on the client port by every etcd since 3.3), with the HTTP
//! client Rill already has (`ureq`). The gRPC client crates (`etcd-client`: tonic, prost and
//! `protoc` at build time) would add minutes to a clean build for the handful of calls HA
//! needs: leases, a create-if-absent transaction, fenced puts, reads by key and prefix.
//!
//! Keys and values travel base64-encoded, 64-bit numbers as strings, and fields at their
//! default value are left out of the answers (a missing `succeeded` is false, a missing `TTL`
//! is 0), as the gateway's JSON mapping of the protobuf messages does. Each call tries the
//! endpoints in order, so a cluster of several etcd members keeps answering while one is down.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

/// Why etcd could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcdError {
    /// No endpoint answered.
    #[error("etcd is unavailable at {endpoints}: {message}")]
    Unavailable {
        /// The endpoints tried, comma-separated.
        endpoints: String,
        /// The last endpoint's error.
        message: String,
    },
    /// An endpoint answered with an error or with something that is not etcd's answer.
    #[error("etcd at {endpoint} refused {call}: {message}")]
    Refused {
        /// The endpoint.
        endpoint: String,
        /// The call (its path).
        call: &'static str,
        /// What it said.
        message: String,
    },
}

/// A key's current value and revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// Its value.
    pub value: Vec<u8>,
    /// The revision that created it (unique per creation: a fencing token).
    pub create_revision: i64,
    /// The revision of its last change.
    pub mod_revision: i64,
    /// The lease it is bound to (0: none).
    pub lease: i64,
}

/// A connection to an etcd cluster.
#[derive(Clone)]
pub struct Etcd {
    endpoints: Vec<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd")
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

fn b64(s: &[u8]) -> String {
    B64.encode(s)
}

/// A 64-bit number of an answer: a string, or missing (0).
fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

impl Etcd {
    /// Connects to `endpoints` (`host:port` or `http://host:port`) and checks that one
    /// answers; the error names them all.
    pub fn connect(endpoints: &[String], timeout: Duration) -> Result<Self, EtcdError> {
        let etcd = Self::unchecked(endpoints, timeout);
        etcd.call("/v3/maintenance/status", json!({}))?;
        Ok(etcd)
    }

    /// A client of `endpoints` that has not checked them yet.
    pub fn unchecked(endpoints: &[String], timeout: Duration) -> Self {
        let endpoints: Vec<String> = endpoints
            .iter()
            .map(|e| {
                let e = e.trim_end_matches('/');
                if e.contains("://") {
                    e.to_string()
                } else {
                    format!("http://{e}")
                }
            })
            .collect();
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(timeout)
            .timeout(timeout)
            .build();
        Self { endpoints, agent }
    }

    /// The endpoints, as given.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Posts `body` to `call` at the first endpoint that answers.
    fn call(&self, call: &'static str, body: Value) -> Result<Value, EtcdError> {
        let mut last = String::from("no endpoint given");
        for endpoint in &self.endpoints {
            match self
                .agent
                .post(&format!("{endpoint}{call}"))
                .send_json(&body)
            {
                Ok(answer) => {
                    return answer.into_json().map_err(|e| EtcdError::Refused {
                        endpoint: endpoint.clone(),
                        call,
                        message: e.to_string(),
                    })
                }
                Err(ureq::Error::Status(status, answer)) => {
                    return Err(EtcdError::Refused {
                        endpoint: endpoint.clone(),
                        call,
                        message: format!(
                            "{status}: {}",
                            answer.into_string().unwrap_or_default().trim()
                        ),
                    })
                }
                Err(e) => last = format!("{endpoint}: {e}"),
            }
        }
        Err(EtcdError::Unavailable {
            endpoints: self.endpoints.join(","),
            message: last,
        })
    }

    /// Grants a lease of `ttl` seconds; returns its id.
    pub fn grant(&self, ttl: i64) -> Result<i64, EtcdError> {
        let a = self.call("/v3/lease/grant", json!({ "TTL": ttl.to_string() }))?;
        Ok(int(&a["ID"]))
    }

    /// Renews a lease; returns the seconds it has left (0: it expired).
    pub fn keep_alive(&self, lease: i64) -> Result<i64, EtcdError> {
        let a = self.call("/v3/lease/keepalive", json!({ "ID": lease.to_string() }))?;
        Ok(int(&a["result"]["TTL"]))
    }

    /// Revokes a lease: the keys bound to it are deleted at once.
    pub fn revoke(&self, lease: i64) -> Result<(), EtcdError> {
        self.call("/v3/lease/revoke", json!({ "ID": lease.to_string() }))
            .map(drop)
    }

    /// Puts `key` unless it exists, bound to `lease`: `Ok(create revision)` when it was put,
    /// `Err(the existing key)` when it was there.
    pub fn create(
        &self,
        key: &str,
        value: &[u8],
        lease: i64,
    ) -> Result<Result<i64, KeyValue>, EtcdError> {
        // The key can vanish between the compare and the read (its lease expired): try again.
        loop {
            if let Some(outcome) = self.try_create(key, value, lease)? {
                return Ok(outcome);
            }
        }
    }

    fn try_create(
        &self,
        key: &str,
        value: &[u8],
        lease: i64,
    ) -> Result<Option<Result<i64, KeyValue>>, EtcdError> {
        let k = b64(key.as_bytes());
        let a = self.call(
            "/v3/kv/txn",
            json!({
                "compare": [{"key": k, "result": "EQUAL", "target": "CREATE", "create_revision": "0"}],
                "success": [{"request_put": {"key": k, "value": b64(value), "lease": lease.to_string()}}],
                "failure": [{"request_range": {"key": k}}],
            }),
        )?;
        if a["succeeded"] == Value::Bool(true) {
            return Ok(Some(Ok(int(&a["header"]["revision"]))));
        }
        Ok(a["responses"][0]["response_range"]["kvs"]
            .as_array()
            .and_then(|kvs| kvs.first())
            .and_then(key_value)
            .map(Err))
    }

    /// Puts `key` only while `fence` still exists with create revision `token` (the writer
    /// still leads); returns whether it was put.
    pub fn put_fenced(
        &self,
        fence: &str,
        token: i64,
        key: &str,
        value: &[u8],
    ) -> Result<bool, EtcdError> {
        let a = self.call(
            "/v3/kv/txn",
            json!({
                "compare": [{"key": b64(fence.as_bytes()), "result": "EQUAL", "target": "CREATE", "create_revision": token.to_string()}],
                "success": [{"request_put": {"key": b64(key.as_bytes()), "value": b64(value)}}],
            }),
        )?;
        Ok(a["succeeded"] == Value::Bool(true))
    }

    /// Deletes `key` only while `fence` still exists with create revision `token`.
    pub fn delete_fenced(&self, fence: &str, token: i64, key: &str) -> Result<bool, EtcdError> {
        let a = self.call(
            "/v3/kv/txn",
            json!({
                "compare": [{"key": b64(fence.as_bytes()), "result": "EQUAL", "target": "CREATE", "create_revision": token.to_string()}],
                "success": [{"request_delete_range": {"key": b64(key.as_bytes())}}],
            }),
        )?;
        Ok(a["succeeded"] == Value::Bool(true))
    }

    /// The key, if it exists.
    pub fn get(&self, key: &str) -> Result<Option<KeyValue>, EtcdError> {
        let a = self.call("/v3/kv/range", json!({ "key": b64(key.as_bytes()) }))?;
        Ok(a["kvs"]
            .as_array()
            .and_then(|kvs| kvs.first())
            .and_then(key_value))
    }

    /// Every key starting with `prefix`, in key order.
    pub fn list(&self, prefix: &str) -> Result<Vec<KeyValue>, EtcdError> {
        let a = self.call(
            "/v3/kv/range",
            json!({ "key": b64(prefix.as_bytes()), "range_end": b64(&prefix_end(prefix.as_bytes())) }),
        )?;
        Ok(a["kvs"]
            .as_array()
            .map(|kvs| kvs.iter().filter_map(key_value).collect())
            .unwrap_or_default())
    }
}

/// The first key after every key starting with `prefix` (etcd's `range_end` for a prefix).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff (or empty): to the end of the key space.
    vec![0]
}

fn key_value(kv: &Value) -> Option<KeyValue> {
    let key = B64.decode(kv["key"].as_str()?).ok()?;
    let value = match kv["value"].as_str() {
        Some(v) => B64.decode(v).ok()?,
        None => Vec::new(),
    };
    Some(KeyValue {
        key: String::from_utf8(key).ok()?,
        value,
        create_revision: int(&kv["create_revision"]),
        mod_revision: int(&kv["mod_revision"]),
        lease: int(&kv["lease"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_after_its_last_byte_that_can_grow() {
        assert_eq!(prefix_end(b"/rill/jobs/"), b"/rill/jobs0".to_vec());
        assert_eq!(prefix_end(&[b'a', 0xff]), vec![b'b']);
        assert_eq!(prefix_end(&[0xff]), vec![0]);
    }

    #[test]
    fn numbers_are_strings_or_missing() {
        assert_eq!(int(&json!("42")), 42);
        assert_eq!(int(&json!(7)), 7);
        assert_eq!(int(&Value::Null), 0);
    }
}
