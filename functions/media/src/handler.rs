use crate::query::{ListMedia, MediaPosition};
use genbase_shared::deps::{require_user, Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::storage::render_outputs;
use genbase_shared::storage_jobs;
use genbase_shared::validate::Page;
use serde::Serialize;
use serde_json::Value;

genbase_shared::endpoints! {
    enum Endpoint {
        GET "/v1/media" => List,
        GET "/v1/media/stats" => Stats,
        // Served here, not by the admin function: the job runner lives here.
        POST "/v1/admin/storage-jobs" => StorageJobs,
    }
}

/// `api.media_stats()`.
#[derive(Serialize)]
struct MediaStats;

impl RpcArgs for MediaStats {
    const FUNCTION: &'static str = "media_stats";
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let endpoint = Endpoint::parse(&req.method, &req.path)?;
    let caller = require_user(req, deps).await?;
    match endpoint {
        Endpoint::List => list(req, deps, &caller).await,
        Endpoint::Stats => Ok(ApiResponse::ok(
            deps.rpc().invoke(&MediaStats, &caller.auth).await?,
        )),
        // SQL (claim_storage_jobs) refuses a caller who is not an active admin.
        Endpoint::StorageJobs => Ok(ApiResponse::ok(
            storage_jobs::run(deps, &caller.auth, None).await?,
        )),
    }
}

/// A page of the library, each stored output signed for the caller: Storage signs with the
/// user's own token, so its policies decide, not this function.
async fn list(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let args = ListMedia::from_query(&req.query)?;
    let mut page = page_of(deps.rpc().invoke(&args, &caller.auth).await?)?;
    if let Some(items) = page.items.as_array_mut() {
        let mut items: Vec<&mut Value> = items.iter_mut().collect();
        render_outputs(deps, &caller.auth, &mut items).await?;
    }
    let body = serde_json::to_value(page).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(ApiResponse::ok(body))
}

/// What `api.list_media` answers: `{items, next_cursor}`, the cursor being the position after
/// the page (null on the last page).
fn page_of(mut answer: Value) -> Result<Page<MediaPosition>, ApiError> {
    let bad =
        |what: &dyn std::fmt::Display| ApiError::bad_gateway(format!("list_media answered {what}"));
    let items = match answer.get_mut("items").map(Value::take) {
        Some(items @ Value::Array(_)) => items,
        _ => return Err(bad(&"no items")),
    };
    let next = match answer.get_mut("next_cursor").map(Value::take) {
        None | Some(Value::Null) => None,
        Some(position) => Some(serde_json::from_value(position).map_err(|e| bad(&e))?),
    };
    Ok(Page::new(items, next))
}
