//! The claim loop: `concurrency` slots, each claiming one task at a time, running it under a
//! heartbeat and reporting how it ended (complete, or fail with a reason and whether a retry
//! may help).

use crate::api::Api;
use crate::config::Config;
use crate::heartbeat::Heartbeat;
use crate::task::{self, Context, Failure, EMBED_MESSAGES, INGEST_FILE};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The task types this worker claims (its key must have them as capabilities).
pub const TASK_TYPES: [&str; 2] = [INGEST_FILE, EMBED_MESSAGES];

/// The longest wait between claims while the API cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The most characters of a failure reason: the file's `error` column keeps 500.
const REASON_CHARS: usize = 500;

struct Worker {
    config: Config,
    api: Api,
    agent: ureq::Agent,
    /// Set when a slot hits an error no slot can get past (the key refused).
    stop: AtomicBool,
}

/// Runs until the key is refused, or with `--once` until each slot has claimed once.
pub fn run(config: Config) -> Result<(), String> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(10))
        // An embeddings call waits for the provider.
        .timeout_read(Duration::from_secs(120))
        .timeout_write(Duration::from_secs(60))
        .build();
    let api = Api::new(
        agent.clone(),
        &config.api_url,
        &config.worker_key,
        config.retry,
    );
    eprintln!(
        "genbase-ingest: polling {} for {} ({} at a time)",
        config.api_url,
        TASK_TYPES.join(", "),
        config.concurrency
    );
    let worker = Worker {
        config,
        api,
        agent,
        stop: AtomicBool::new(false),
    };
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let slots: Vec<_> = (0..worker.config.concurrency)
            .map(|_| s.spawn(|| worker.poll()))
            .collect();
        slots
            .into_iter()
            .map(|slot| {
                slot.join()
                    .unwrap_or_else(|_| Err("a slot panicked".into()))
            })
            .collect()
    });
    results.into_iter().collect()
}

impl Worker {
    fn poll(&self) -> Result<(), String> {
        let mut backoff = self.config.idle_wait;
        while !self.stop.load(Ordering::SeqCst) {
            match self.api.claim(&TASK_TYPES, self.config.lease_seconds) {
                Ok(Some(task)) => {
                    self.run_task(&task);
                    backoff = self.config.idle_wait;
                }
                Ok(None) if !self.config.once => std::thread::sleep(self.config.idle_wait),
                Ok(None) => {}
                Err(e) if matches!(e.status, Some(401 | 403)) => {
                    self.stop.store(true, Ordering::SeqCst);
                    return Err(format!("the API refused the worker key: {e}"));
                }
                Err(e) if self.config.once => return Err(format!("claim failed: {e}")),
                Err(e) => {
                    eprintln!("genbase-ingest: claim failed ({e}); again in {backoff:?}");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            if self.config.once {
                break;
            }
        }
        Ok(())
    }

    fn run_task(&self, task: &Value) {
        let id = task["id"].as_str().unwrap_or_default();
        let task_type = task["task_type"].as_str().unwrap_or_default();
        let started = Instant::now();
        // Beats until the task is reported: retried reports take time too.
        let heartbeat = Heartbeat::start(
            self.api.clone(),
            id.to_string(),
            self.config.lease_seconds,
            self.config.heartbeat_every,
        );
        let ctx = Context {
            api: &self.api,
            agent: &self.agent,
            max_bytes: self.config.max_bytes,
            heartbeat: &heartbeat,
        };
        let outcome = match task_type {
            INGEST_FILE => task::ingest_file(&ctx, id, &task["params"]),
            EMBED_MESSAGES => task::embed_messages(&ctx, id),
            other => Err(Failure::Final(format!(
                "the ingest worker does not run {other} tasks"
            ))),
        };
        let seconds = started.elapsed().as_secs_f64();
        let reported = match &outcome {
            Ok(output) => self.api.complete(id, output.clone(), seconds).or_else(|e| {
                // Refused (the API found a chunk missing, say): a new attempt starts over.
                eprintln!("genbase-ingest: task {id}: complete refused ({e})");
                self.fail(
                    id,
                    &format!("the results could not be saved: {}", e.message),
                    true,
                )
            }),
            Err(Failure::Final(reason)) => self.fail(id, reason, false),
            Err(Failure::Transient(reason)) => self.fail(id, reason, true),
            Err(Failure::LeaseLost) => Ok(()),
        };
        match (&outcome, reported) {
            (_, Err(e)) => {
                eprintln!("genbase-ingest: task {id}: could not report the outcome ({e})")
            }
            (Ok(output), Ok(())) => {
                eprintln!("genbase-ingest: task {id} ({task_type}) done in {seconds:.2}s: {output}")
            }
            (Err(Failure::LeaseLost), Ok(())) => {
                eprintln!("genbase-ingest: task {id} ({task_type}) given up: lease lost")
            }
            (Err(Failure::Final(r) | Failure::Transient(r)), Ok(())) => {
                eprintln!("genbase-ingest: task {id} ({task_type}) failed: {r}")
            }
        }
    }

    fn fail(&self, id: &str, reason: &str, retryable: bool) -> Result<(), crate::api::CallError> {
        let reason: String = reason.chars().take(REASON_CHARS).collect();
        self.api.fail(id, &reason, retryable)
    }
}
