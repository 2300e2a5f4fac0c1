//! The worker RPCs' arguments, validated from the worker key and the request bodies.

use genbase_shared::error::ApiError;
use genbase_shared::http::ApiRequest;
use genbase_shared::limits;
use genbase_shared::rpc::RpcArgs;
use genbase_shared::validate::{Id, ShortText};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;

/// `gw_` + hex digits, as `register_worker` issues them (64 of them); SQL checks its hash.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct WorkerKey(String);

impl WorkerKey {
    pub fn from_request(req: &ApiRequest) -> Result<WorkerKey, ApiError> {
        let key = req
            .bearer_token()
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <worker key>"))?;
        let well_formed = key.len() <= 128
            && key
                .strip_prefix("gw_")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if !well_formed {
            return Err(ApiError::unauthorized("not a worker key"));
        }
        Ok(WorkerKey(key.to_string()))
    }
}

fn lease(seconds: Option<i64>) -> Result<i64, ApiError> {
    match seconds.unwrap_or(60) {
        s @ limits::LEASE_SECONDS_MIN..=limits::LEASE_SECONDS_MAX => Ok(s),
        _ => Err(ApiError::validation(format!(
            "lease_seconds must be between {} and {}",
            limits::LEASE_SECONDS_MIN,
            limits::LEASE_SECONDS_MAX
        ))),
    }
}

/// `POST /v1/worker/claim` body; every field optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ClaimBody {
    task_types: Option<Vec<String>>,
    limit: Option<i64>,
    lease_seconds: Option<i64>,
}

/// `api.worker_claim`.
#[derive(Debug, Serialize)]
pub struct WorkerClaim {
    worker_key: WorkerKey,
    /// `None`: any type the worker is registered for.
    task_types: Option<Vec<ShortText>>,
    limit: i64,
    lease_seconds: i64,
}

impl RpcArgs for WorkerClaim {
    const FUNCTION: &'static str = "worker_claim";
}

impl WorkerClaim {
    pub fn new(worker_key: WorkerKey, body: ClaimBody) -> Result<Self, ApiError> {
        let task_types = body
            .task_types
            .map(|ts| {
                ts.iter()
                    .map(|t| ShortText::parse("task_types", t, limits::TASK_TYPE_CHARS))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let limit = match body.limit.unwrap_or(1) {
            n @ 1..=limits::CLAIM_LIMIT_MAX => n,
            _ => {
                return Err(ApiError::validation(format!(
                    "limit must be between 1 and {}",
                    limits::CLAIM_LIMIT_MAX
                )))
            }
        };
        Ok(WorkerClaim {
            worker_key,
            task_types,
            limit,
            lease_seconds: lease(body.lease_seconds)?,
        })
    }
}

/// `POST /v1/worker/tasks/:id/heartbeat` body; may be empty.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatBody {
    lease_seconds: Option<i64>,
}

/// `api.worker_heartbeat`.
#[derive(Debug, Serialize)]
pub struct TaskHeartbeat {
    worker_key: WorkerKey,
    task_id: Id,
    lease_seconds: i64,
}

impl RpcArgs for TaskHeartbeat {
    const FUNCTION: &'static str = "worker_heartbeat";
}

impl TaskHeartbeat {
    pub fn new(worker_key: WorkerKey, task_id: Id, body: HeartbeatBody) -> Result<Self, ApiError> {
        Ok(TaskHeartbeat {
            worker_key,
            task_id,
            lease_seconds: lease(body.lease_seconds)?,
        })
    }
}

/// `POST /v1/worker/tasks/:id/embeddings` body: an ingest task's chunks (SQL checks them);
/// nothing for a task whose inputs SQL knows (messages).
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingsBody {
    chunks: Option<Value>,
}

/// `api.begin_embeddings`: holds the batch's credits and names its inputs.
#[derive(Debug, Serialize)]
pub struct BeginEmbeddings {
    worker_key: WorkerKey,
    task_id: Id,
    chunks: Option<Value>,
}

impl RpcArgs for BeginEmbeddings {
    const FUNCTION: &'static str = "begin_embeddings";
}

impl BeginEmbeddings {
    pub fn new(worker_key: WorkerKey, task_id: Id, body: EmbeddingsBody) -> BeginEmbeddings {
        BeginEmbeddings {
            worker_key,
            task_id,
            chunks: body.chunks,
        }
    }
}

/// `POST /v1/worker/tasks/:id/complete` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    output: Value,
    duration_seconds: f64,
}

/// `api.worker_complete`: charged by the measured duration, capped by the task's budget.
#[derive(Debug, Serialize)]
pub struct TaskComplete {
    worker_key: WorkerKey,
    task_id: Id,
    output: Value,
    duration_seconds: f64,
}

impl RpcArgs for TaskComplete {
    const FUNCTION: &'static str = "worker_complete";
}

impl TaskComplete {
    pub fn new(worker_key: WorkerKey, task_id: Id, body: CompleteBody) -> Result<Self, ApiError> {
        result_error(&body.output, body.duration_seconds)
            .map_or(Ok(()), |e| Err(ApiError::validation(e)))?;
        Ok(TaskComplete {
            worker_key,
            task_id,
            output: body.output,
            duration_seconds: body.duration_seconds,
        })
    }
}

/// What is wrong with a task's result, as SQL's `private.task_result_error` words it.
fn result_error(output: &Value, seconds: f64) -> Option<String> {
    let max = limits::TASK_DURATION_SECONDS_MAX;
    if !output.is_object() || output.to_string().len() > limits::TASK_OUTPUT_BYTES {
        return Some(format!(
            "output must be a JSON object of at most {} bytes",
            limits::TASK_OUTPUT_BYTES
        ));
    }
    if !(seconds.is_finite() && (0.0..=max).contains(&seconds)) {
        return Some(format!("duration_seconds must be between 0 and {max}"));
    }
    None
}

/// `POST /v1/worker/tasks/complete` body: the results of several leased tasks, at most
/// [`limits::CLAIM_LIMIT_MAX`] (what one claim hands out) and within the request body limit.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteBatchBody {
    results: Vec<ResultBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultBody {
    task_id: String,
    output: Value,
    duration_seconds: f64,
}

/// One task's result, as `api.worker_complete_batch` reads it.
#[derive(Debug, Serialize)]
pub struct TaskResult {
    task_id: Id,
    output: Value,
    duration_seconds: f64,
}

/// `api.worker_complete_batch`: each task completes as `worker_complete` would, in one
/// transaction; the answer has one outcome per result, a task whose lease the worker lost
/// included.
#[derive(Debug, Serialize)]
pub struct TaskCompleteBatch {
    worker_key: WorkerKey,
    results: Vec<TaskResult>,
}

impl RpcArgs for TaskCompleteBatch {
    const FUNCTION: &'static str = "worker_complete_batch";
}

impl TaskCompleteBatch {
    /// The whole batch is refused for one bad result, as SQL refuses it.
    pub fn new(worker_key: WorkerKey, body: CompleteBatchBody) -> Result<Self, ApiError> {
        let max = limits::CLAIM_LIMIT_MAX as usize;
        if !(1..=max).contains(&body.results.len()) {
            return Err(ApiError::validation(format!(
                "results must be an array of 1 to {max} items"
            )));
        }
        let mut seen = HashSet::new();
        let results = body
            .results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let task_id = Id::parse(&format!("results[{i}].task_id"), &r.task_id)?;
                if let Some(e) = result_error(&r.output, r.duration_seconds) {
                    return Err(ApiError::validation(format!("results[{i}]: {e}")));
                }
                if !seen.insert(task_id) {
                    return Err(ApiError::validation("each task may be listed once"));
                }
                Ok(TaskResult {
                    task_id,
                    output: r.output,
                    duration_seconds: r.duration_seconds,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(TaskCompleteBatch {
            worker_key,
            results,
        })
    }
}

/// `POST /v1/worker/tasks/:id/fail` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailBody {
    error: String,
    #[serde(default = "yes")]
    retryable: bool,
}

fn yes() -> bool {
    true
}

/// `api.worker_fail`: retried with backoff unless `retryable` is false or attempts run out.
#[derive(Debug, Serialize)]
pub struct TaskFail {
    worker_key: WorkerKey,
    task_id: Id,
    error: ShortText,
    retryable: bool,
}

impl RpcArgs for TaskFail {
    const FUNCTION: &'static str = "worker_fail";
}

impl TaskFail {
    pub fn new(worker_key: WorkerKey, task_id: Id, body: FailBody) -> Result<Self, ApiError> {
        Ok(TaskFail {
            worker_key,
            task_id,
            error: ShortText::parse("error", &body.error, limits::TASK_ERROR_CHARS)?,
            retryable: body.retryable,
        })
    }
}

/// `POST /v1/worker/tasks/:id/uploads` body: the content type of each output, in order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadsBody {
    content_types: Vec<String>,
}

/// `api.worker_output_paths`: SQL checks the lease, the types the kind stores and how many
/// files the generation may have, and names the paths.
#[derive(Debug, Serialize)]
pub struct TaskOutputPaths {
    worker_key: WorkerKey,
    task_id: Id,
    content_types: Vec<String>,
}

impl RpcArgs for TaskOutputPaths {
    const FUNCTION: &'static str = "worker_output_paths";
}

impl TaskOutputPaths {
    pub fn new(worker_key: WorkerKey, task_id: Id, body: UploadsBody) -> TaskOutputPaths {
        TaskOutputPaths {
            worker_key,
            task_id,
            content_types: body.content_types,
        }
    }
}
