//! The reference GPU worker: claims tasks over HTTP, heartbeats while "rendering", and
//! completes them with the measured duration, so the whole loop can be watched locally.
//! A real worker replaces `render` with the model call and keeps everything else.

use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub struct Worker {
    pub api_url: String,
    pub key: String,
    pub task_types: Vec<String>,
    pub lease_seconds: u64,
    agent: ureq::Agent,
}

impl Worker {
    pub fn new(api_url: &str, key: &str, task_types: Vec<String>) -> Worker {
        Worker {
            api_url: api_url.trim_end_matches('/').to_string(),
            key: key.to_string(),
            task_types,
            lease_seconds: 30,
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
            Ok(output) => {
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

    /// Stands in for the model: works for the generation's `render_ms` param (default 1200 ms), heartbeating
    /// every third of the lease so a long render never loses its task.
    fn render(&self, id: &str, task: &Value) -> Result<Value> {
        // The task carries the generation: its model, prompt and the params the user sent.
        let total = Duration::from_millis(
            task["params"]["params"]["render_ms"]
                .as_u64()
                .unwrap_or(1200),
        );
        let beat = Duration::from_secs(self.lease_seconds / 3).max(Duration::from_millis(500));
        let started = Instant::now();
        while started.elapsed() < total {
            std::thread::sleep(beat.min(total.saturating_sub(started.elapsed())));
            if started.elapsed() < total {
                self.post(
                    &format!("/v1/worker/tasks/{id}/heartbeat"),
                    json!({"lease_seconds": self.lease_seconds}),
                )?;
            }
        }
        Ok(json!({
            "urls": [format!("http://127.0.0.1/outputs/{id}.mp4")],
            "storage_path": format!("generations/{id}.mp4"),
        }))
    }
}
