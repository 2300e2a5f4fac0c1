//! The worker API (functions/worker) as this worker speaks it: `Authorization: Bearer gw_...`
//! and JSON both ways. Postgres checks the key and that the worker holds the task's lease, so
//! a 409 means the task is no longer this worker's.

use serde_json::{json, Value};
use std::fmt;
use std::time::Duration;

/// A call that did not succeed: the HTTP status (`None`: no answer at all) and the API's
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub status: Option<u16>,
    pub message: String,
}

impl CallError {
    /// Whether trying again later may succeed: no answer, an overloaded or failing server.
    pub fn is_transient(&self) -> bool {
        self.status.is_none_or(|s| s >= 500 || s == 429)
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "{status} {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

/// How transient failures of a call are retried: `retries` more tries, waiting `first_wait`,
/// then twice as long each time.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub retries: u32,
    pub first_wait: Duration,
}

#[derive(Clone)]
pub struct Api {
    base: String,
    key: String,
    agent: ureq::Agent,
    retry: Retry,
}

impl Api {
    pub fn new(agent: ureq::Agent, base: &str, key: &str, retry: Retry) -> Api {
        Api {
            base: base.trim_end_matches('/').to_string(),
            key: key.to_string(),
            agent,
            retry,
        }
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value, CallError> {
        let answer = self
            .agent
            .post(&format!("{}{path}", self.base))
            .set("authorization", &format!("Bearer {}", self.key))
            .send_json(body);
        match answer {
            Ok(r) => r.into_json().map_err(|e| CallError {
                status: None,
                message: format!("{path}: unreadable answer: {e}"),
            }),
            Err(ureq::Error::Status(status, r)) => {
                let text = r.into_string().unwrap_or_default();
                // Our functions answer {"error": {"code", "message"}}; a proxy may not.
                let message = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                    .unwrap_or(text);
                Err(CallError {
                    status: Some(status),
                    message,
                })
            }
            Err(e) => Err(CallError {
                status: None,
                message: format!("{path}: {e}"),
            }),
        }
    }

    /// [`Api::post`], with transient failures retried.
    fn post_retried(&self, path: &str, body: &Value) -> Result<Value, CallError> {
        let mut wait = self.retry.first_wait;
        let mut tries_left = self.retry.retries;
        loop {
            match self.post(path, body) {
                Err(e) if e.is_transient() && tries_left > 0 => {
                    eprintln!("genbase-ingest: {path} failed ({e}); again in {wait:?}");
                    std::thread::sleep(wait);
                    wait *= 2;
                    tries_left -= 1;
                }
                answer => return answer,
            }
        }
    }

    /// Leases at most one due task of `task_types`. Not retried: the caller polls again.
    pub fn claim(
        &self,
        task_types: &[&str],
        lease_seconds: u64,
    ) -> Result<Option<Value>, CallError> {
        let tasks = self.post(
            "/v1/worker/claim",
            &json!({"task_types": task_types, "limit": 1, "lease_seconds": lease_seconds}),
        )?;
        Ok(tasks.as_array().and_then(|t| t.first()).cloned())
    }

    /// Extends the lease. Not retried: the next beat comes soon, well within the lease.
    pub fn heartbeat(&self, task_id: &str, lease_seconds: u64) -> Result<(), CallError> {
        self.post(
            &format!("/v1/worker/tasks/{task_id}/heartbeat"),
            &json!({"lease_seconds": lease_seconds}),
        )
        .map(drop)
    }

    /// Stores and embeds a batch of chunks (`{"chunks": [...]}`), or the task's messages
    /// (`{}`); answers `{embedded, tokens, credits_charged}`.
    pub fn embeddings(&self, task_id: &str, body: &Value) -> Result<Value, CallError> {
        self.post_retried(&format!("/v1/worker/tasks/{task_id}/embeddings"), body)
    }

    pub fn complete(&self, task_id: &str, output: Value, seconds: f64) -> Result<(), CallError> {
        self.post_retried(
            &format!("/v1/worker/tasks/{task_id}/complete"),
            &json!({"output": output, "duration_seconds": seconds}),
        )
        .map(drop)
    }

    pub fn fail(&self, task_id: &str, reason: &str, retryable: bool) -> Result<(), CallError> {
        self.post_retried(
            &format!("/v1/worker/tasks/{task_id}/fail"),
            &json!({"error": reason, "retryable": retryable}),
        )
        .map(drop)
    }
}
