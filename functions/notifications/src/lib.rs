//! The notifications function: the caller's notifications (`/v1/notifications`), which SQL
//! triggers write when something they wait for happens (migration
//! 20261122001031_notifications.sql): a list (newest first, `?unread=true` for the unread
//! ones), the unread count, and marking one or all read. Every endpoint is one RPC as the
//! caller; RLS keeps each user to their own.

use genbase_shared::deps::{require_user, Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse, Params};
use genbase_shared::keyset::{self, NewestFirst, NewestFirstArgs};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::Id;
use serde::Serialize;

genbase_shared::endpoints! {
    enum Endpoint {
        GET "/v1/notifications" => List,
        GET "/v1/notifications/unread-count" => UnreadCount,
        POST "/v1/notifications/read-all" => ReadAll,
        POST "/v1/notifications/:id/read" => Read { id: Id },
    }
}

/// `api.list_notifications`, newest first; `unread` keeps the unread ones only.
#[derive(Debug, PartialEq, Serialize)]
struct ListNotifications {
    unread: bool,
    #[serde(flatten)]
    page: NewestFirstArgs,
}

impl RpcArgs for ListNotifications {
    const FUNCTION: &'static str = "list_notifications";
}

/// `api.unread_notification_count()`: `{unread}`.
#[derive(Serialize)]
struct UnreadCount {}

impl RpcArgs for UnreadCount {
    const FUNCTION: &'static str = "unread_notification_count";
}

/// `api.mark_notification_read`: the notification, read.
#[derive(Serialize)]
struct MarkRead {
    id: Id,
}

impl RpcArgs for MarkRead {
    const FUNCTION: &'static str = "mark_notification_read";
}

/// `api.mark_all_notifications_read()`: `{updated}`.
#[derive(Serialize)]
struct MarkAllRead {}

impl RpcArgs for MarkAllRead {
    const FUNCTION: &'static str = "mark_all_notifications_read";
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let endpoint = Endpoint::parse(&req.method, &req.path)?;
    let caller = require_user(req, deps).await?;
    match endpoint {
        Endpoint::List => list(req, deps, &caller).await,
        Endpoint::UnreadCount => one(deps, &caller, &UnreadCount {}).await,
        Endpoint::ReadAll => one(deps, &caller, &MarkAllRead {}).await,
        Endpoint::Read { id } => one(deps, &caller, &MarkRead { id }).await,
    }
}

/// `?unread=&cursor=&limit=`: `{items, next_cursor}`.
async fn list(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let params = Params::new(&req.query, &["unread", "cursor", "limit"])?;
    let args = ListNotifications {
        unread: params.flag("unread")?.unwrap_or(false),
        page: NewestFirstArgs::parse(params.get("cursor"), params.get("limit"))?,
    };
    let page = keyset::fetch::<_, NewestFirst>(deps, &args, &caller.auth).await?;
    keyset::page_response(page)
}

/// One RPC as the caller, its answer the 200 body.
async fn one<A: RpcArgs>(
    deps: &impl Deps,
    caller: &Caller,
    args: &A,
) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(
        deps.rpc().invoke(args, &caller.auth).await?,
    ))
}

genbase_edge::entry!("notifications", handle);

#[cfg(test)]
mod handler_tests;
