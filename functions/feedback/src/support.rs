//! Support tickets: open one (a subject and a first message), list the tickets the caller
//! sees (their own; every ticket for staff), read one with its thread, add a message (its
//! owner or staff), close it (its owner or staff). SQL checks every field and who may.

use crate::{created, ok};
use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse, Params};
use genbase_shared::keyset::{self, NewestFirst, NewestFirstArgs};
use genbase_shared::rpc::RpcArgs;
use genbase_shared::validate::Id;
use serde::{Deserialize, Serialize};

/// `POST /v1/support`, passed to `api.create_ticket` as it came.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct CreateTicket {
    subject: String,
    message: String,
}

impl RpcArgs for CreateTicket {
    const FUNCTION: &'static str = "create_ticket";
}

/// `api.list_tickets`, newest first: `mine` narrows staff's list to their own tickets.
#[derive(Serialize)]
struct ListTickets<'q> {
    status: Option<&'q str>,
    mine: bool,
    #[serde(flatten)]
    page: NewestFirstArgs,
}

impl RpcArgs for ListTickets<'_> {
    const FUNCTION: &'static str = "list_tickets";
}

#[derive(Serialize)]
struct GetTicket {
    id: Id,
}

impl RpcArgs for GetTicket {
    const FUNCTION: &'static str = "get_ticket";
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    body: String,
}

/// `api.add_ticket_message`.
#[derive(Serialize)]
struct AddMessage {
    ticket_id: Id,
    body: String,
}

impl RpcArgs for AddMessage {
    const FUNCTION: &'static str = "add_ticket_message";
}

#[derive(Serialize)]
struct CloseTicket {
    id: Id,
}

impl RpcArgs for CloseTicket {
    const FUNCTION: &'static str = "close_ticket";
}

/// `{subject, message}`: 201 with the ticket and its thread.
pub async fn create(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let body: CreateTicket = req.json_body()?;
    created(deps, caller, &body).await
}

/// `?status=&mine=&cursor=&limit=`: `{items, next_cursor}`.
pub async fn list(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let params = Params::new(&req.query, &["status", "mine", "cursor", "limit"])?;
    let args = ListTickets {
        status: params.get("status"),
        mine: params.flag("mine")?.unwrap_or(false),
        page: NewestFirstArgs::parse(params.get("cursor"), params.get("limit"))?,
    };
    let page = keyset::fetch::<_, NewestFirst>(deps, &args, &caller.auth).await?;
    keyset::page_response(page)
}

/// The ticket with its thread, oldest message first.
pub async fn get(deps: &impl Deps, caller: &Caller, id: Id) -> Result<ApiResponse, ApiError> {
    ok(deps, caller, &GetTicket { id }).await
}

/// `{body}`: 201 with the message.
pub async fn add_message(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let body: MessageBody = req.json_body()?;
    let args = AddMessage {
        ticket_id: id,
        body: body.body,
    };
    created(deps, caller, &args).await
}

/// 200 with the closed ticket (closing it again changes nothing).
pub async fn close(deps: &impl Deps, caller: &Caller, id: Id) -> Result<ApiResponse, ApiError> {
    ok(deps, caller, &CloseTicket { id }).await
}
