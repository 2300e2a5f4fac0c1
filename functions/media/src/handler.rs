use crate::query::ListMedia;
use genbase_shared::deps::{require_user, Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::keyset::{self, NewestFirst};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::storage::render_outputs;
use genbase_shared::storage_jobs;
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
    let mut page = keyset::fetch::<_, NewestFirst>(deps, &args, &caller.auth).await?;
    if let Some(items) = page.items.as_array_mut() {
        let mut items: Vec<&mut Value> = items.iter_mut().collect();
        render_outputs(deps, &caller.auth, &mut items).await?;
    }
    keyset::page_response(page)
}
