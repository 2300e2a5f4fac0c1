//! The webhooks function: `POST /v1/webhooks/replicate`. Authenticity comes from the Standard
//! Webhooks signature (no JWT: the caller is the provider); exactly-once comes from SQL, which
//! records each webhook id before applying it. A success whose outputs wait for their copy
//! into storage gets it right after the provider has its answer (the storage job runner,
//! for this generation only); the Cron Trigger's run is the retry.

#[cfg(test)]
mod body_props;

use genbase_shared::deps::Deps;
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::{ProviderWebhook, Rpc, RpcAuth};
use genbase_shared::storage_jobs;
use genbase_shared::webhook::verify_webhook;
use serde::Deserialize;
use serde_json::{json, Value};

genbase_shared::endpoints! {
    enum Endpoint {
        POST "/v1/webhooks/replicate" => Replicate,
    }
}

/// Replicate's documented tolerance for webhook timestamps.
const TOLERANCE_SECS: i64 = 300;

/// The part of Replicate's prediction object that matters for billing and status.
#[derive(Deserialize)]
struct Prediction {
    id: String,
    status: String,
    #[serde(default)]
    output: Value,
    #[serde(default)]
    error: Value,
    #[serde(default)]
    metrics: Value,
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let Endpoint::Replicate = Endpoint::parse(&req.method, &req.path)?;
    let secret = deps
        .var("REPLICATE_WEBHOOK_SECRET")
        .ok_or_else(|| ApiError::unavailable("REPLICATE_WEBHOOK_SECRET is not configured"))?;
    let header = |name: &str| {
        req.header(name)
            .ok_or_else(|| ApiError::validation(format!("missing {name} header")))
    };
    let webhook_id = header("webhook-id")?;
    verify_webhook(
        &secret,
        webhook_id,
        header("webhook-timestamp")?,
        header("webhook-signature")?,
        &req.body,
        deps.now_unix(),
        TOLERANCE_SECS,
    )?;
    let p: Prediction = req.json_body()?;
    let args = ProviderWebhook {
        provider: "replicate",
        webhook_id: webhook_id.to_string(),
        prediction_id: p.id,
        status: p.status,
        error: error_text(&p.error),
        output: p.output,
        metrics: p.metrics,
    };
    match deps.rpc().invoke(&args, &RpcAuth::ServiceRole).await {
        Ok(v) => {
            let answer = ApiResponse::ok(json!({ "received": true, "duplicate": v["duplicate"] }));
            let generation = &v["generation"];
            Ok(match generation["id"].as_str() {
                Some(id) if generation["outputs"]["storage"] == "pending" => {
                    answer.then(json!({ "persist": id }))
                }
                _ => answer,
            })
        }
        // The webhook can beat our own record of the prediction id by a few milliseconds:
        // answer retryable so the provider delivers it again.
        Err(e) if e.status == 404 => Err(ApiError::unavailable(e.message)),
        Err(e) => Err(e),
    }
}

fn error_text(error: &Value) -> Value {
    match error {
        Value::Null => Value::Null,
        Value::String(s) => json!(s.chars().take(2000).collect::<String>()),
        other => json!(other.to_string().chars().take(2000).collect::<String>()),
    }
}

/// After the response: the copy of the outputs the webhook settled. A failure here is the
/// job's to retry (the queue's backoff, the Cron Trigger's run), so it is only logged.
// Only the wasm32 build has a fetch entry point to call it.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
async fn after(deps: &impl Deps, work: Value) {
    let Some(id) = work["persist"].as_str() else {
        return;
    };
    if let Err(e) = storage_jobs::run(deps, &RpcAuth::ServiceRole, Some(id)).await {
        log(&format!(
            "copying the outputs of {id}: {}",
            e.cause.unwrap_or(e.message)
        ));
    }
}

fn log(line: &str) {
    #[cfg(target_arch = "wasm32")]
    worker::console_error!("{line}");
    #[cfg(not(target_arch = "wasm32"))]
    let _ = line;
}

genbase_edge::entry!(
    "webhooks",
    handle,
    body_limit = genbase_shared::http::MAX_WEBHOOK_BODY_BYTES,
    after = after
);
