//! The admin function. Postgres checks the caller's role in each RPC; this function only
//! authenticates, validates and forwards the admin's own token.

use genbase_shared::deps::{require_user, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{route, ApiRequest, ApiResponse};
use genbase_shared::limits;
use genbase_shared::rpc::Rpc;
use genbase_shared::validate::{Id, IdempotencyKey, ShortText};
use serde::Deserialize;
use serde_json::json;

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/admin/credits"),
    ("GET", "/v1/admin/queue"),
    ("POST", "/v1/admin/workers"),
    ("GET", "/v1/admin/provider-tokens"),
    ("POST", "/v1/admin/provider-tokens/:id/enable"),
    ("GET", "/v1/admin/generations/:id"),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Adjust {
    user_id: String,
    kind: String,
    amount: i64,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Register {
    name: String,
    capabilities: Vec<String>,
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let (endpoint, params) = route(&req.method, &req.path, ROUTES)?;
    let caller = require_user(req, deps).await?;
    let (function, args) = match endpoint {
        0 => {
            let body: Adjust = req.json_body()?;
            if body.kind != "grant" && body.kind != "adjustment" {
                return Err(ApiError::validation("kind must be grant or adjustment"));
            }
            if body.amount == 0
                || (body.kind == "grant" && body.amount < 0)
                || body.amount.abs() > limits::CREDIT_AMOUNT_MAX
            {
                return Err(ApiError::validation(format!(
                    "amount must be non-zero, positive for a grant, and at most {}",
                    limits::CREDIT_AMOUNT_MAX
                )));
            }
            let key = req
                .header("idempotency-key")
                .ok_or_else(|| ApiError::validation("Idempotency-Key header is required"))?;
            let args = json!({
                "p_user_id": Id::parse("user_id", &body.user_id)?,
                "p_kind": body.kind,
                "p_amount": body.amount,
                "p_reason": ShortText::parse("reason", &body.reason, limits::REASON_CHARS)?.into_string(),
                "p_idempotency_key": IdempotencyKey::parse(key)?.as_str(),
            });
            ("admin_adjust_credits", args)
        }
        1 => ("admin_queue_stats", json!({})),
        2 => {
            let body: Register = req.json_body()?;
            let caps = body
                .capabilities
                .iter()
                .map(|c| {
                    ShortText::parse("capabilities", c, limits::TASK_TYPE_CHARS)
                        .map(|c| c.into_string())
                })
                .collect::<Result<Vec<_>, _>>()?;
            if caps.is_empty() || caps.len() > limits::WORKER_CAPABILITIES_MAX {
                return Err(ApiError::validation(format!(
                    "capabilities must name 1 to {} task types",
                    limits::WORKER_CAPABILITIES_MAX
                )));
            }
            let name = ShortText::parse("name", &body.name, limits::WORKER_NAME_CHARS)?;
            let args = json!({ "p_name": name, "p_capabilities": caps });
            ("admin_register_worker", args)
        }
        // The pool's health, never a token's secret (SQL leaves it out).
        3 => ("admin_list_provider_tokens", json!({})),
        4 => {
            let id = Id::parse("id", &params[0])?;
            ("admin_enable_provider_token", json!({ "p_token_id": id }))
        }
        // A generation with what its user does not see: provider and worker detail.
        5 => {
            let id = Id::parse("id", &params[0])?;
            ("admin_get_generation", json!({ "p_id": id }))
        }
        _ => return Err(ApiError::internal("admin: a route without a handler")),
    };
    let out = deps.rpc().call(function, args, &caller.auth).await?;
    Ok(ApiResponse::ok(out))
}

genbase_edge::entry!("admin", handle);
