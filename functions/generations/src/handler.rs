use crate::args::{
    CancelGeneration, FailSubmission, GenerationKind, GenerationStatus, GetGeneration,
    ListGenerations, MarkSubmitted,
};
use crate::request::StartBody;
use crate::{inputs, library, provider};
use genbase_shared::deps::{require_user, Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::keyset::{self, NewestFirst, NewestFirstArgs};
use genbase_shared::rpc::{Rpc, RpcAuth};
use genbase_shared::validate::Id;
use serde_json::json;

genbase_shared::endpoints! {
    enum Endpoint {
        POST "/v1/generations" => Start,
        GET "/v1/generations" => List,
        POST "/v1/generations/delete" => DeleteMany,
        GET "/v1/generations/:id" => Get { id: Id },
        PATCH "/v1/generations/:id" => Update { id: Id },
        DELETE "/v1/generations/:id" => Delete { id: Id },
        POST "/v1/generations/:id/cancel" => Cancel { id: Id },
        // Served here, not by the admin function: it calls the provider with the pool's tokens.
        POST "/v1/admin/reconcile" => Reconcile,
    }
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let endpoint = Endpoint::parse(&req.method, &req.path)?;
    let caller = require_user(req, deps).await?;
    match endpoint {
        Endpoint::Start => start(req, deps, &caller).await,
        Endpoint::List => list(req, deps, &caller).await,
        Endpoint::Get { id } => {
            let g = deps
                .rpc()
                .invoke(&GetGeneration { id }, &caller.auth)
                .await?;
            Ok(ApiResponse::ok(
                library::rendered(deps, &caller.auth, g).await?,
            ))
        }
        Endpoint::Update { id } => library::update(req, deps, &caller, id).await,
        Endpoint::Delete { id } => library::delete_one(deps, &caller, id).await,
        Endpoint::DeleteMany => library::delete_many(req, deps, &caller).await,
        Endpoint::Cancel { id } => cancel(deps, &caller, id).await,
        // SQL (reconcile_candidates) refuses a caller who is not an active admin.
        Endpoint::Reconcile => Ok(ApiResponse::ok(
            crate::reconcile::run(deps, &caller.auth).await?,
        )),
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
    let args = body.validate(req.header("idempotency-key"))?;
    let created = deps.rpc().invoke(&args, &caller.auth).await?;
    let mut generation = created["generation"].clone();
    let fresh = created["created"].as_bool().unwrap_or(false);
    if fresh && created["route"] == "provider" {
        let provider_ref = created["provider_ref"].as_str().unwrap_or_default();
        let id = generation["id"].as_str().unwrap_or_default();
        match inputs::submit(deps, provider_ref, id, &created["provider_input"]).await {
            Ok(prediction_id) => {
                let args = MarkSubmitted {
                    generation_id: id,
                    provider: "replicate",
                    prediction_id: &prediction_id,
                };
                generation = deps.rpc().invoke(&args, &RpcAuth::ServiceRole).await?;
            }
            Err(e) => {
                // The hold must not outlive a submission that never happened.
                let detail = e.cause.as_deref().unwrap_or(&e.message);
                let args = FailSubmission {
                    generation_id: id,
                    error: detail,
                };
                deps.rpc().invoke(&args, &RpcAuth::ServiceRole).await?;
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
    let args = ListGenerations {
        page: NewestFirstArgs::parse(req.query_param("cursor"), req.query_param("limit"))?,
        kind: req
            .query_param("kind")
            .map(GenerationKind::parse)
            .transpose()?,
        status: req
            .query_param("status")
            .map(GenerationStatus::parse)
            .transpose()?,
        workspace_id: req
            .query_param("workspace_id")
            .map(|id| Id::parse("workspace_id", id))
            .transpose()?,
    };
    let mut page = keyset::fetch::<_, NewestFirst>(deps, &args, &caller.auth).await?;
    library::render_items(deps, &caller.auth, &mut page.items).await?;
    keyset::page_response(page)
}

async fn cancel(deps: &impl Deps, caller: &Caller, id: Id) -> Result<ApiResponse, ApiError> {
    let g = deps
        .rpc()
        .invoke(&CancelGeneration { id }, &caller.auth)
        .await?;
    if let Some(prediction) = g["provider_prediction_id"].as_str() {
        provider::cancel(deps, prediction).await;
    }
    Ok(ApiResponse::ok(g))
}
