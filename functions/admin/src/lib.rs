//! The admin function. Postgres checks the caller's role in each RPC; this function only
//! authenticates, validates and forwards the admin's own token.

mod args;
#[cfg(test)]
mod handler_tests;

use args::{
    AdjustCredits, Adjustment, EnableProviderToken, GetGeneration, ListProviderTokens, QueueStats,
    RegisterWorker, Registration,
};
use genbase_shared::deps::{require_user, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::Rpc;
use genbase_shared::validate::Id;

genbase_shared::endpoints! {
    enum Endpoint {
        POST "/v1/admin/credits" => AdjustCredits,
        GET "/v1/admin/queue" => QueueStats,
        POST "/v1/admin/workers" => RegisterWorker,
        GET "/v1/admin/provider-tokens" => ProviderTokens,
        POST "/v1/admin/provider-tokens/:id/enable" => EnableProviderToken { id: Id },
        GET "/v1/admin/generations/:id" => Generation { id: Id },
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
        Endpoint::RegisterWorker => {
            let body: Registration = req.json_body()?;
            rpc.invoke(&RegisterWorker::new(body)?, auth).await?
        }
        // The pool's health, never a token's secret (SQL leaves it out).
        Endpoint::ProviderTokens => rpc.invoke(&ListProviderTokens, auth).await?,
        Endpoint::EnableProviderToken { id } => {
            rpc.invoke(&EnableProviderToken { token_id: id }, auth)
                .await?
        }
        // A generation with what its user does not see: provider and worker detail.
        Endpoint::Generation { id } => rpc.invoke(&GetGeneration { id }, auth).await?,
    };
    Ok(ApiResponse::ok(out))
}

genbase_edge::entry!("admin", handle);
