//! The activity function: what the running service records about itself and its users.
//!
//! - `GET /v1/activity`: the caller's own actions (their successful writes), newest first.
//! - `GET /v1/admin/errors`: every 5xx answered, with its request id (moderator and up).
//! - `GET /v1/admin/performance`: per function and hour, requests, errors and latency
//!   percentiles (admin and up), rolled up by a scheduled job.
//!
//! Every rule is SQL's (migration 20261122001033_activity.sql): who may read what (RLS and
//! `private.require_staff`), the page and hour bounds. The function parses the query into
//! typed arguments and makes one RPC as the caller.

use genbase_shared::deps::{require_user, Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse, Params};
use genbase_shared::keyset::{self, NewestFirst, NewestFirstArgs};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::Id;
use serde::Serialize;

genbase_shared::endpoints! {
    enum Endpoint {
        GET "/v1/activity" => Activity,
        GET "/v1/admin/errors" => Errors,
        GET "/v1/admin/performance" => Performance,
    }
}

/// `api.list_my_activity`.
#[derive(Serialize)]
struct ListActivity {
    #[serde(flatten)]
    page: NewestFirstArgs,
}

impl RpcArgs for ListActivity {
    const FUNCTION: &'static str = "list_my_activity";
}

/// `api.list_error_logs`: optionally one function's, or one user's.
#[derive(Serialize)]
struct ListErrors<'q> {
    function: Option<&'q str>,
    user_id: Option<Id>,
    #[serde(flatten)]
    page: NewestFirstArgs,
}

impl RpcArgs for ListErrors<'_> {
    const FUNCTION: &'static str = "list_error_logs";
}

/// `api.get_performance_metrics`: the last `hours` (SQL's default and bounds).
#[derive(Serialize)]
struct Performance<'q> {
    function: Option<&'q str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hours: Option<i32>,
}

impl RpcArgs for Performance<'_> {
    const FUNCTION: &'static str = "get_performance_metrics";
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let endpoint = Endpoint::parse(&req.method, &req.path)?;
    let caller = require_user(req, deps).await?;
    match endpoint {
        Endpoint::Activity => activity(req, deps, &caller).await,
        Endpoint::Errors => errors(req, deps, &caller).await,
        Endpoint::Performance => performance(req, deps, &caller).await,
    }
}

/// `?cursor=&limit=`: `{items, next_cursor}`.
async fn activity(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let params = Params::new(&req.query, &["cursor", "limit"])?;
    let args = ListActivity {
        page: NewestFirstArgs::parse(params.get("cursor"), params.get("limit"))?,
    };
    keyset::page_response(keyset::fetch::<_, NewestFirst>(deps, &args, &caller.auth).await?)
}

/// `?function=&user_id=&cursor=&limit=`: `{items, next_cursor}`.
async fn errors(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let params = Params::new(&req.query, &["function", "user_id", "cursor", "limit"])?;
    let args = ListErrors {
        function: params.get("function"),
        user_id: params
            .get("user_id")
            .map(|u| Id::parse("user_id", u))
            .transpose()?,
        page: NewestFirstArgs::parse(params.get("cursor"), params.get("limit"))?,
    };
    keyset::page_response(keyset::fetch::<_, NewestFirst>(deps, &args, &caller.auth).await?)
}

/// `?function=&hours=`: `{from, items}`.
async fn performance(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let params = Params::new(&req.query, &["function", "hours"])?;
    let hours = params
        .get("hours")
        .map(|h| {
            h.parse::<i32>()
                .map_err(|_| ApiError::validation("hours must be an integer"))
        })
        .transpose()?;
    let args = Performance {
        function: params.get("function"),
        hours,
    };
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

genbase_edge::entry!("activity", handle);

#[cfg(test)]
mod handler_tests;
