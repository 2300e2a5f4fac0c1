//! The feedback function: ideas with votes (`/v1/ideas`: everyone proposes and votes once
//! per idea, authors edit while open, staff move the status) and support tickets
//! (`/v1/support`: a user opens and follows their own, staff see, answer and close every
//! ticket). Every rule is SQL's (migration 20261122001032_feedback.sql): who sees and
//! changes what (RLS, `private.is_staff`), each field's limits, the vote count kept exact
//! under concurrency. Each endpoint parses its input into typed arguments and makes one
//! RPC as the caller.

mod ideas;
mod support;

use genbase_shared::deps::{require_user, Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::Id;

genbase_shared::endpoints! {
    enum Endpoint {
        POST "/v1/ideas" => CreateIdea,
        GET "/v1/ideas" => ListIdeas,
        GET "/v1/ideas/:id" => GetIdea { id: Id },
        PATCH "/v1/ideas/:id" => UpdateIdea { id: Id },
        POST "/v1/ideas/:id/status" => SetStatus { id: Id },
        POST "/v1/ideas/:id/vote" => Vote { id: Id },
        DELETE "/v1/ideas/:id/vote" => Unvote { id: Id },
        POST "/v1/support" => CreateTicket,
        GET "/v1/support" => ListTickets,
        GET "/v1/support/:id" => GetTicket { id: Id },
        POST "/v1/support/:id/messages" => AddMessage { id: Id },
        POST "/v1/support/:id/close" => CloseTicket { id: Id },
    }
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let endpoint = Endpoint::parse(&req.method, &req.path)?;
    let caller = require_user(req, deps).await?;
    let c = &caller;
    match endpoint {
        Endpoint::CreateIdea => ideas::create(req, deps, c).await,
        Endpoint::ListIdeas => ideas::list(req, deps, c).await,
        Endpoint::GetIdea { id } => ideas::get(deps, c, id).await,
        Endpoint::UpdateIdea { id } => ideas::update(req, deps, c, id).await,
        Endpoint::SetStatus { id } => ideas::set_status(req, deps, c, id).await,
        Endpoint::Vote { id } => ideas::vote(deps, c, id, true).await,
        Endpoint::Unvote { id } => ideas::vote(deps, c, id, false).await,
        Endpoint::CreateTicket => support::create(req, deps, c).await,
        Endpoint::ListTickets => support::list(req, deps, c).await,
        Endpoint::GetTicket { id } => support::get(deps, c, id).await,
        Endpoint::AddMessage { id } => support::add_message(req, deps, c, id).await,
        Endpoint::CloseTicket { id } => support::close(deps, c, id).await,
    }
}

/// One RPC as the caller, its answer the 200 body.
async fn ok<A: RpcArgs>(
    deps: &impl Deps,
    caller: &Caller,
    args: &A,
) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(
        deps.rpc().invoke(args, &caller.auth).await?,
    ))
}

/// One RPC as the caller, its answer the 201 body.
async fn created<A: RpcArgs>(
    deps: &impl Deps,
    caller: &Caller,
    args: &A,
) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::created(
        deps.rpc().invoke(args, &caller.auth).await?,
    ))
}

genbase_edge::entry!("feedback", handle);

#[cfg(test)]
mod handler_tests;
