use crate::provider;
use crate::request::StartBody;
use genbase_shared::deps::{require_user, Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{route, ApiRequest, ApiResponse};
use genbase_shared::rpc::{Rpc, RpcAuth};
use genbase_shared::validate::{Cursor, Id, Limit};
use serde_json::{json, Value};

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/generations"),
    ("GET", "/v1/generations"),
    ("GET", "/v1/generations/:id"),
    ("POST", "/v1/generations/:id/cancel"),
    // Served here, not by the admin function: it calls the provider with the pool's tokens.
    ("POST", "/v1/admin/reconcile"),
];

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let (endpoint, params) = route(&req.method, &req.path, ROUTES)?;
    let caller = require_user(req, deps).await?;
    match endpoint {
        0 => start(req, deps, &caller).await,
        1 => list(req, deps, &caller).await,
        2 => {
            let id = Id::parse("id", &params[0])?;
            let g = deps
                .rpc()
                .call("get_generation", json!({"p_id": id}), &caller.auth)
                .await?;
            Ok(ApiResponse::ok(g))
        }
        // SQL (reconcile_candidates) refuses a caller who is not an active admin.
        4 => Ok(ApiResponse::ok(
            crate::reconcile::run(deps, &caller.auth).await?,
        )),
        _ => cancel(deps, &caller, Id::parse("id", &params[0])?).await,
    }
}

/// Reserve + record in one SQL transaction, then hand the work to its executor. A replay of
/// the same Idempotency-Key gets the first result and submits nothing again.
async fn start(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let body: StartBody = req.json_body()?;
    let start = body.validate(req.header("idempotency-key"))?;
    let created = deps
        .rpc()
        .call("create_generation", start.args, &caller.auth)
        .await?;
    let mut generation = created["generation"].clone();
    let fresh = created["created"].as_bool().unwrap_or(false);
    if fresh && created["route"] == "provider" {
        let provider_ref = created["provider_ref"].as_str().unwrap_or_default();
        let id = generation["id"].as_str().unwrap_or_default();
        match provider::submit(deps, provider_ref, id, &created["provider_input"]).await {
            Ok(prediction_id) => {
                let args = json!({"p_generation_id": id, "p_provider": "replicate", "p_prediction_id": prediction_id});
                generation = deps
                    .rpc()
                    .call("mark_generation_submitted", args, &RpcAuth::ServiceRole)
                    .await?;
            }
            Err(e) => {
                // The hold must not outlive a submission that never happened.
                let detail = e.cause.clone().unwrap_or_else(|| e.message.clone());
                let args = json!({"p_generation_id": id, "p_error": detail});
                deps.rpc()
                    .call("fail_generation_submission", args, &RpcAuth::ServiceRole)
                    .await?;
                return Err(e);
            }
        }
    }
    let status = if fresh { 202 } else { 200 };
    Ok(ApiResponse::json(
        status,
        json!({ "generation": generation, "replayed": !fresh }),
    ))
}

async fn list(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let limit = Limit::parse(req.query_param("limit"))?;
    let mut args = json!({
        "p_kind": req.query_param("kind"), "p_status": req.query_param("status"), "p_limit": limit.get(),
    });
    if let Some(c) = req.query_param("cursor") {
        let c = Cursor::decode(c)?;
        let (Some(at), Some(id)) = (c["created_at"].as_str(), c["id"].as_str()) else {
            return Err(ApiError::validation("cursor is not valid"));
        };
        args["p_cursor_created_at"] = json!(at);
        args["p_cursor_id"] = json!(Id::parse("cursor", id)?);
    }
    let page = deps
        .rpc()
        .call("list_generations", args, &caller.auth)
        .await?;
    let next = match &page["next_cursor"] {
        Value::Null => Value::Null,
        c => json!(Cursor::encode(c)),
    };
    Ok(ApiResponse::ok(
        json!({ "items": page["items"], "next_cursor": next }),
    ))
}

async fn cancel(deps: &impl Deps, caller: &Caller, id: Id) -> Result<ApiResponse, ApiError> {
    let g = deps
        .rpc()
        .call("cancel_generation", json!({"p_id": id}), &caller.auth)
        .await?;
    if let Some(prediction) = g["provider_prediction_id"].as_str() {
        provider::cancel(deps, prediction).await;
    }
    Ok(ApiResponse::ok(g))
}
