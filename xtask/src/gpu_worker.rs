//! The reference GPU worker: claims tasks over HTTP, heartbeats while "rendering", and
//! completes them with the measured duration, so the whole loop can be watched locally.
//! A real worker replaces `render` with the model call and keeps everything else.
//!
//! The protocol's budget rule: a task states `max_seconds`, the most GPU time it may bill.
//! The worker stops there and fails the task (not retryable: another attempt would cost the
//! same); a completion that reports more is charged `max_seconds` and flagged for operators.

use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub struct Worker {
    pub api_url: String,
    pub key: String,
    pub task_types: Vec<String>,
    pub lease_seconds: u64,
    /// Simulated render time per second of output asked for (`input.duration_seconds`).
    pub render_ms_per_second: u64,
    agent: ureq::Agent,
}

impl Worker {
    pub fn new(api_url: &str, key: &str, task_types: Vec<String>) -> Worker {
        Worker {
            api_url: api_url.trim_end_matches('/').to_string(),
            key: key.to_string(),
            task_types,
            lease_seconds: 30,
            render_ms_per_second: 240,
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(30))
                .build(),
        }
    }

    fn post(&self, path: &str, body: Value) -> Result<Value> {
        let r = self
            .agent
            .post(&format!("{}{path}", self.api_url))
            .set("authorization", &format!("Bearer {}", self.key))
            .send_json(body);
        match r {
            Ok(resp) => Ok(resp.into_json()?),
            Err(ureq::Error::Status(code, resp)) => {
                bail!("{path}: {code} {}", resp.into_string().unwrap_or_default())
            }
            Err(e) => bail!("{path}: {e}"),
        }
    }

    /// Claims at most one task and runs it; returns whether there was one.
    pub fn run_once(&self) -> Result<bool> {
        let tasks = self.post(
            "/v1/worker/claim",
            json!({"task_types": self.task_types, "limit": 1, "lease_seconds": self.lease_seconds}),
        )?;
        let Some(task) = tasks.as_array().and_then(|t| t.first()).cloned() else {
            return Ok(false);
        };
        let id = task["id"].as_str().unwrap_or_default().to_string();
        let started = Instant::now();
        match self.render(&id, &task) {
            Ok(None) => {
                let budget = task["max_seconds"].as_f64().unwrap_or_default();
                self.post(
                    &format!("/v1/worker/tasks/{id}/fail"),
                    json!({"error": format!("GPU budget of {budget} s reached"), "retryable": false}),
                )?;
                eprintln!("worker: task {id} stopped at its budget of {budget} s");
            }
            Ok(Some(output)) => {
                let seconds = started.elapsed().as_secs_f64();
                self.post(
                    &format!("/v1/worker/tasks/{id}/complete"),
                    json!({"output": output, "duration_seconds": seconds}),
                )?;
                eprintln!("worker: task {id} done in {seconds:.2}s");
            }
            Err(e) => {
                self.post(
                    &format!("/v1/worker/tasks/{id}/fail"),
                    json!({"error": e.to_string(), "retryable": true}),
                )?;
            }
        }
        Ok(true)
    }

    /// Stands in for the model: "renders" `render_ms_per_second` for each second of video the
    /// validated input asks for, heartbeating every third of the lease so a long render never
    /// loses its task. `None` when the task's GPU budget ran out first.
    fn render(&self, id: &str, task: &Value) -> Result<Option<Value>> {
        // The task carries the validated input (the worker's names) and its budget.
        let seconds = task["params"]["input"]["duration_seconds"]
            .as_u64()
            .unwrap_or(5);
        let total = Duration::from_millis(seconds * self.render_ms_per_second);
        let budget = task["max_seconds"]
            .as_f64()
            .filter(|s| (0.0..1e9).contains(s))
            .map_or(Duration::MAX, Duration::from_secs_f64);
        let beat = Duration::from_secs(self.lease_seconds / 3).max(Duration::from_millis(500));
        let started = Instant::now();
        while started.elapsed() < total {
            if started.elapsed() >= budget {
                return Ok(None);
            }
            let left = total.min(budget).saturating_sub(started.elapsed());
            std::thread::sleep(beat.min(left));
            if started.elapsed() < total.min(budget) {
                self.post(
                    &format!("/v1/worker/tasks/{id}/heartbeat"),
                    json!({"lease_seconds": self.lease_seconds}),
                )?;
            }
        }
        Ok(Some(self.upload(id)?))
    }

    /// Uploads the "rendered" file where the API says (a signed upload URL into storage we
    /// own) and returns the output that completes the task: the stored paths.
    fn upload(&self, id: &str) -> Result<Value> {
        let granted = self.post(
            &format!("/v1/worker/tasks/{id}/uploads"),
            json!({"content_types": ["video/mp4"]}),
        )?;
        let mut files = Vec::new();
        for upload in granted["uploads"].as_array().into_iter().flatten() {
            let url = upload["url"].as_str().unwrap_or_default();
            // A few bytes of an MP4 header: what matters here is the path, not the picture.
            ureq::put(url)
                .set("content-type", "video/mp4")
                .send_bytes(b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom")?;
            files.push(json!({"path": upload["path"]}));
        }
        Ok(json!({ "files": files }))
    }
}
