//! The worker function: `POST /v1/worker/claim`, `/v1/worker/tasks/:id/{heartbeat,
//! uploads,embeddings,complete,fail}` and `/v1/worker/tasks/complete` (several results at
//! once), for GPU workers and the ingest worker.
//! Workers authenticate with their worker key (`Authorization: Bearer gw_...`), not a user
//! JWT; Postgres checks the key's hash and that the worker holds the task's lease, so a
//! worker can act only on its own tasks and read nothing else.
//!
//! The ingest worker extracts and chunks files; it never holds a provider key: it posts each
//! batch of chunks to `embeddings`, where SQL holds the credits and this function embeds
//! them with a pool key and stores them (`genbase_shared::embeddings`).
//!
//! Outputs go to storage we own: a worker asks for signed upload URLs (`uploads`), PUTs each
//! file to its URL, and completes with `{"files": [{"path": ...}]}`, which SQL checks
//! against storage before the generation succeeds.

mod args;
#[cfg(test)]
mod handler_tests;

use args::{
    BeginEmbeddings, ClaimBody, CompleteBatchBody, CompleteBody, EmbeddingsBody, FailBody,
    HeartbeatBody, TaskComplete, TaskCompleteBatch, TaskFail, TaskHeartbeat, TaskOutputPaths,
    UploadsBody, WorkerClaim, WorkerKey,
};
use genbase_shared::deps::Deps;
use genbase_shared::embeddings;
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::{Rpc, RpcAuth};
use genbase_shared::storage;
use genbase_shared::storage_inputs::sign_inputs;
use genbase_shared::validate::Id;
use serde::Deserialize;
use serde_json::{json, Value};

genbase_shared::endpoints! {
    enum Endpoint {
        POST "/v1/worker/claim" => Claim,
        POST "/v1/worker/tasks/complete" => CompleteBatch,
        POST "/v1/worker/tasks/:id/heartbeat" => Heartbeat { id: Id },
        POST "/v1/worker/tasks/:id/uploads" => Uploads { id: Id },
        POST "/v1/worker/tasks/:id/embeddings" => Embeddings { id: Id },
        POST "/v1/worker/tasks/:id/complete" => Complete { id: Id },
        POST "/v1/worker/tasks/:id/fail" => Fail { id: Id },
    }
}

/// An empty body means "all defaults" for claim and heartbeat.
fn optional_body<T: Default + for<'de> Deserialize<'de>>(req: &ApiRequest) -> Result<T, ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    req.json_body()
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let endpoint = Endpoint::parse(&req.method, &req.path)?;
    let key = WorkerKey::from_request(req)?;
    // No user: the service role calls, and SQL authorizes the worker by its key.
    let (rpc, auth) = (deps.rpc(), &RpcAuth::ServiceRole);
    let out = match endpoint {
        Endpoint::Claim => {
            let body: ClaimBody = optional_body(req)?;
            let mut tasks = rpc.invoke(&WorkerClaim::new(key, body)?, auth).await?;
            // Uploaded files the input names reach the worker as fresh signed URLs, as they
            // reach a provider.
            for task in tasks.as_array_mut().into_iter().flatten() {
                sign_inputs(deps, &mut task["params"]["input"]).await?;
            }
            tasks
        }
        Endpoint::Heartbeat { id } => {
            let body: HeartbeatBody = optional_body(req)?;
            rpc.invoke(&TaskHeartbeat::new(key, id, body)?, auth)
                .await?
        }
        Endpoint::Uploads { id } => {
            let body: UploadsBody = req.json_body()?;
            let paths = rpc
                .invoke(&TaskOutputPaths::new(key, id, body), auth)
                .await?;
            upload_urls(deps, &paths).await?
        }
        Endpoint::Embeddings { id } => {
            let body: EmbeddingsBody = optional_body(req)?;
            let begun = rpc
                .invoke(&BeginEmbeddings::new(key, id, body), auth)
                .await?;
            embeddings::run_batch(deps, &begun).await?.answer
        }
        Endpoint::Complete { id } => {
            let body: CompleteBody = req.json_body()?;
            rpc.invoke(&TaskComplete::new(key, id, body)?, auth).await?
        }
        Endpoint::CompleteBatch => {
            let body: CompleteBatchBody = req.json_body()?;
            rpc.invoke(&TaskCompleteBatch::new(key, body)?, auth)
                .await?
        }
        Endpoint::Fail { id } => {
            let body: FailBody = req.json_body()?;
            rpc.invoke(&TaskFail::new(key, id, body)?, auth).await?
        }
    };
    Ok(ApiResponse::ok(out))
}

/// A signed upload URL for each path SQL named. Upserts, so a worker that retries an
/// upload replaces its own earlier attempt.
async fn upload_urls(deps: &impl Deps, paths: &Value) -> Result<Value, ApiError> {
    let mut uploads = Vec::new();
    for p in paths.as_array().into_iter().flatten() {
        let path = p["path"].as_str().unwrap_or_default();
        let signed = storage::sign_upload(
            deps,
            &RpcAuth::ServiceRole,
            storage::GENERATIONS_BUCKET,
            path,
            true,
        )
        .await?;
        uploads.push(json!({
            "path": path,
            "content_type": p["content_type"],
            "url": signed.url,
            "expires_at": deps.now_unix() + storage::UPLOAD_URL_SECONDS,
        }));
    }
    Ok(json!({ "uploads": uploads }))
}

// A batch of chunks to embed (64 of at most 8,000 characters) is larger than a user's body.
genbase_edge::entry!("worker", handle, body_limit = 1 << 20);
