//! The flows function: visual pipelines (`/v1/flows`) whose nodes and edges are saved as a
//! whole graph with a version check (`PUT /v1/flows/:id/graph`: a stale version is a 409),
//! and their comments, placed on the canvas or on a node, with replies, resolvable
//! (`/v1/flows/:id/comments`); members and invitations as every shared thing has them
//! (`genbase_shared::sharing`). Every endpoint is one RPC as the caller: Postgres (RLS,
//! `private.require_role`, the SQL functions) decides who sees and does what by role.

mod comments;
mod flows;

use genbase_shared::deps::{require_user, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::sharing;
use genbase_shared::validate::Id;

genbase_shared::endpoints! {
    enum Endpoint {
        POST "/v1/flows" => Create,
        GET "/v1/flows" => List,
        GET "/v1/flows/:id" => Get { id: Id },
        PATCH "/v1/flows/:id" => Update { id: Id },
        DELETE "/v1/flows/:id" => Delete { id: Id },
        PUT "/v1/flows/:id/graph" => SaveGraph { id: Id },
        POST "/v1/flows/:id/comments" => CreateComment { id: Id },
        GET "/v1/flows/:id/comments" => ListComments { id: Id },
        PATCH "/v1/flows/:id/comments/:cid" => UpdateComment { id: Id, cid: Id },
        DELETE "/v1/flows/:id/comments/:cid" => DeleteComment { id: Id, cid: Id },
        POST "/v1/flows/:id/comments/:cid/resolve" => Resolve { id: Id, cid: Id },
        DELETE "/v1/flows/:id/comments/:cid/resolve" => Reopen { id: Id, cid: Id },
    }
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    // Members, invitations, leave and transfer: the same endpoints as every shared thing.
    if let Some(answer) = sharing::serve("/v1/flows", req, deps).await {
        return answer;
    }
    let endpoint = Endpoint::parse(&req.method, &req.path)?;
    let caller = require_user(req, deps).await?;
    match endpoint {
        Endpoint::Create => flows::create(req, deps, &caller).await,
        Endpoint::List => flows::list(req, deps, &caller).await,
        Endpoint::Get { id } => flows::get(deps, &caller, id).await,
        Endpoint::Update { id } => flows::update(req, deps, &caller, id).await,
        Endpoint::Delete { id } => flows::delete(deps, &caller, id).await,
        Endpoint::SaveGraph { id } => flows::save_graph(req, deps, &caller, id).await,
        Endpoint::CreateComment { id } => comments::create(req, deps, &caller, id).await,
        Endpoint::ListComments { id } => comments::list(req, deps, &caller, id).await,
        Endpoint::UpdateComment { id, cid } => comments::update(req, deps, &caller, id, cid).await,
        Endpoint::DeleteComment { id, cid } => comments::delete(deps, &caller, id, cid).await,
        Endpoint::Resolve { id, cid } => comments::resolve(deps, &caller, id, cid, true).await,
        Endpoint::Reopen { id, cid } => comments::resolve(deps, &caller, id, cid, false).await,
    }
}

// A graph of `flow_nodes_max` nodes carrying data is far over the 64 KiB of other user
// endpoints; SQL refuses a graph over `flow_graph_bytes` (1 MiB) with its own 413, so this
// transport limit (2 MiB) only stops bodies no graph could fill.
genbase_edge::entry!("flows", handle, body_limit = 2 << 20);

#[cfg(test)]
mod body_props;
#[cfg(test)]
mod handler_tests;
