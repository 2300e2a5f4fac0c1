use crate::{credits, workspaces};
use genbase_shared::deps::{require_user, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::sharing;
use genbase_shared::validate::Id;

genbase_shared::endpoints! {
    enum Endpoint {
        POST "/v1/workspaces" => Create,
        GET "/v1/workspaces" => List,
        GET "/v1/workspaces/:id" => Get { id: Id },
        PATCH "/v1/workspaces/:id" => Update { id: Id },
        DELETE "/v1/workspaces/:id" => Delete { id: Id },
        GET "/v1/workspaces/:id/credits" => Credits { id: Id },
        POST "/v1/workspaces/:id/credits/fund" => Fund { id: Id },
        GET "/v1/workspaces/:id/generations/counts" => GenerationCounts { id: Id },
        POST "/v1/invitations/accept" => AcceptInvitation,
    }
}

/// Where a workspace's members and invitations are served (`<BASE>/:id/members`, ...).
const BASE: &str = "/v1/workspaces";

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    if let Some(answer) = sharing::serve(BASE, req, deps).await {
        return answer;
    }
    let endpoint = Endpoint::parse(&req.method, &req.path)?;
    let caller = require_user(req, deps).await?;
    match endpoint {
        Endpoint::Create => workspaces::create(req, deps, &caller).await,
        Endpoint::List => workspaces::list(req, deps, &caller).await,
        Endpoint::Get { id } => workspaces::get(deps, &caller, id).await,
        Endpoint::Update { id } => workspaces::update(req, deps, &caller, id).await,
        Endpoint::Delete { id } => workspaces::delete(deps, &caller, id).await,
        Endpoint::Credits { id } => credits::ledger(req, deps, &caller, id).await,
        Endpoint::Fund { id } => credits::fund(req, deps, &caller, id).await,
        Endpoint::GenerationCounts { id } => workspaces::generation_counts(deps, &caller, id).await,
        Endpoint::AcceptInvitation => sharing::accept(req, deps, &caller).await,
    }
}
