//! The usage function: `GET /v1/usage?month=YYYY-MM` (the current month when omitted).

use genbase_shared::deps::{require_user, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{match_route, ApiRequest, ApiResponse};
use genbase_shared::rpc::Rpc;
use genbase_shared::validate::Month;
use serde_json::json;

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    match_route(&req.method, &req.path, &[("GET", "/v1/usage")])?;
    let caller = require_user(req, deps).await?;
    let month = match req.query_param("month") {
        Some(m) => Month::parse(m)?,
        None => Month::of_unix(deps.now_unix()),
    };
    let usage = deps.rpc().call("get_monthly_usage", json!({ "p_month": month.first_day() }), &caller.auth).await?;
    Ok(ApiResponse::ok(usage))
}

genbase_edge::entry!("usage", handle);
