//! The admin function. Postgres checks the caller's role in each RPC (moderators list users;
//! admins do the rest; super_admins manage admins) and audits each change; this function only
//! authenticates, parses and forwards the staff member's own token.

mod args;
mod audit;
#[cfg(test)]
mod handler_tests;
mod users;

use args::{
    AdjustCredits, Adjustment, EnableProviderToken, GetGeneration, ListProviderTokens, QueueStats,
    Reason, RegisterWorker, Registration, Stats,
};
use audit::ListAudit;
use genbase_shared::deps::{require_user, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::keyset::{self, NewestFirst};
use genbase_shared::rpc::Rpc;
use genbase_shared::validate::Id;
use users::{ListUsers, UpdateUser, UserPatch};

genbase_shared::endpoints! {
    enum Endpoint {
        POST "/v1/admin/credits" => AdjustCredits,
        GET "/v1/admin/queue" => QueueStats,
        GET "/v1/admin/stats" => Stats,
        POST "/v1/admin/workers" => RegisterWorker,
        GET "/v1/admin/provider-tokens" => ProviderTokens,
        POST "/v1/admin/provider-tokens/:id/enable" => EnableProviderToken { id: Id },
        GET "/v1/admin/generations/:id" => Generation { id: Id },
        GET "/v1/admin/users" => ListUsers,
        PATCH "/v1/admin/users/:id" => UpdateUser { id: Id },
        GET "/v1/admin/audit" => ListAudit,
    }
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let endpoint = Endpoint::parse(&req.method, &req.path)?;
    let caller = require_user(req, deps).await?;
    let rpc = deps.rpc();
    let auth = &caller.auth;
    let out = match endpoint {
        Endpoint::AdjustCredits => {
            let body: Adjustment = req.json_body()?;
            let args = AdjustCredits::new(body, req.header("idempotency-key"))?;
            rpc.invoke(&args, auth).await?
        }
        Endpoint::QueueStats => rpc.invoke(&QueueStats, auth).await?,
        // As of the view's last refresh (every 5 minutes), not counted per request.
        Endpoint::Stats => rpc.invoke(&Stats, auth).await?,
        Endpoint::RegisterWorker => {
            let body: Registration = req.json_body()?;
            rpc.invoke(&RegisterWorker::new(body)?, auth).await?
        }
        // The pool's health, never a token's secret (SQL leaves it out).
        Endpoint::ProviderTokens => rpc.invoke(&ListProviderTokens, auth).await?,
        Endpoint::EnableProviderToken { id } => {
            let body: Reason = req.json_body()?;
            let args = EnableProviderToken {
                token_id: id,
                reason: body.reason,
            };
            rpc.invoke(&args, auth).await?
        }
        // A generation with what its user does not see: provider and worker detail.
        Endpoint::Generation { id } => rpc.invoke(&GetGeneration { id }, auth).await?,
        Endpoint::ListUsers => {
            let args = ListUsers::from_query(&req.query)?;
            let page = keyset::fetch::<_, NewestFirst>(deps, &args, auth).await?;
            return keyset::page_response(page);
        }
        Endpoint::UpdateUser { id } => {
            let patch: UserPatch = req.json_body()?;
            rpc.invoke(&UpdateUser::new(id, patch), auth).await?
        }
        Endpoint::ListAudit => {
            let args = ListAudit::from_query(&req.query)?;
            let page = keyset::fetch::<_, NewestFirst>(deps, &args, auth).await?;
            return keyset::page_response(page);
        }
    };
    Ok(ApiResponse::ok(out))
}

genbase_edge::entry!("admin", handle);
