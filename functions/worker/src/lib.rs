//! The GPU worker function: `POST /v1/worker/claim` and `/v1/worker/tasks/:id/{heartbeat,
//! complete,fail}`. Workers authenticate with their worker key (`Authorization: Bearer
//! gw_...`), not a user JWT; Postgres checks the key's hash and that the worker holds the
//! task's lease, so a worker can act only on its own tasks and read nothing else.

use genbase_shared::deps::Deps;
use genbase_shared::error::ApiError;
use genbase_shared::http::{route, ApiRequest, ApiResponse};
use genbase_shared::limits;
use genbase_shared::rpc::{Rpc, RpcAuth};
use genbase_shared::validate::{Id, ShortText};
use serde::Deserialize;
use serde_json::{json, Value};

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/worker/claim"),
    ("POST", "/v1/worker/tasks/:id/heartbeat"),
    ("POST", "/v1/worker/tasks/:id/complete"),
    ("POST", "/v1/worker/tasks/:id/fail"),
];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Claim {
    task_types: Option<Vec<String>>,
    limit: Option<i64>,
    lease_seconds: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Heartbeat {
    lease_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Complete {
    output: Value,
    duration_seconds: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fail {
    error: String,
    #[serde(default = "yes")]
    retryable: bool,
}

fn yes() -> bool {
    true
}

/// `gw_` + 64 hex digits, as `register_worker` issues them.
fn worker_key(req: &ApiRequest) -> Result<String, ApiError> {
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
    Ok(key.to_string())
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

/// An empty body means "all defaults" for claim and heartbeat.
fn optional_body<T: Default + for<'de> Deserialize<'de>>(req: &ApiRequest) -> Result<T, ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    req.json_body()
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let (endpoint, params) = route(&req.method, &req.path, ROUTES)?;
    let key = worker_key(req)?;
    let (function, args) = match endpoint {
        0 => {
            let c: Claim = optional_body(req)?;
            let types = c
                .task_types
                .map(|ts| {
                    ts.iter()
                        .map(|t| {
                            ShortText::parse("task_types", t, limits::TASK_TYPE_CHARS)
                                .map(|t| t.into_string())
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?;
            let limit = match c.limit.unwrap_or(1) {
                n @ 1..=limits::CLAIM_LIMIT_MAX => n,
                _ => {
                    return Err(ApiError::validation(format!(
                        "limit must be between 1 and {}",
                        limits::CLAIM_LIMIT_MAX
                    )))
                }
            };
            let args = json!({"p_worker_key": key, "p_task_types": types, "p_limit": limit, "p_lease_seconds": lease(c.lease_seconds)?});
            ("worker_claim", args)
        }
        1 => {
            let h: Heartbeat = optional_body(req)?;
            let args = json!({"p_worker_key": key, "p_task_id": Id::parse("id", &params[0])?, "p_lease_seconds": lease(h.lease_seconds)?});
            ("worker_heartbeat", args)
        }
        2 => {
            let c: Complete = req.json_body()?;
            let max = limits::TASK_DURATION_SECONDS_MAX;
            if !(c.duration_seconds.is_finite() && (0.0..=max).contains(&c.duration_seconds)) {
                return Err(ApiError::validation(format!(
                    "duration_seconds must be between 0 and {max}"
                )));
            }
            if !c.output.is_object() || c.output.to_string().len() > limits::TASK_OUTPUT_BYTES {
                return Err(ApiError::validation(format!(
                    "output must be a JSON object of at most {} bytes",
                    limits::TASK_OUTPUT_BYTES
                )));
            }
            let args = json!({"p_worker_key": key, "p_task_id": Id::parse("id", &params[0])?, "p_output": c.output, "p_duration_seconds": c.duration_seconds});
            ("worker_complete", args)
        }
        _ => {
            let f: Fail = req.json_body()?;
            let args = json!({
                "p_worker_key": key, "p_task_id": Id::parse("id", &params[0])?,
                "p_error": ShortText::parse("error", &f.error, limits::TASK_ERROR_CHARS)?.into_string(), "p_retryable": f.retryable,
            });
            ("worker_fail", args)
        }
    };
    let out = deps
        .rpc()
        .call(function, args, &RpcAuth::ServiceRole)
        .await?;
    Ok(ApiResponse::ok(out))
}

genbase_edge::entry!("worker", handle);
