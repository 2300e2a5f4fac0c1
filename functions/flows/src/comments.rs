//! A flow's comments: a thread at a point of the canvas, on a node or on the whole flow,
//! replies one level deep, edits by the author, deletion by the author or an admin, and
//! resolution of whole threads. Viewers comment too; SQL checks every rule and role.

use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse, Params};
use genbase_shared::keyset::{self, NewestFirst, NewestFirstArgs};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::Id;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    content: String,
    /// `{x, y}` on the canvas; SQL checks its shape and range.
    position: Option<Value>,
    node_id: Option<String>,
    parent_id: Option<String>,
}

/// `api.create_flow_comment`, as the author.
#[derive(Serialize)]
struct CreateComment {
    flow_id: Id,
    content: String,
    position: Option<Value>,
    node_id: Option<String>,
    parent_id: Option<Id>,
}

impl RpcArgs for CreateComment {
    const FUNCTION: &'static str = "create_flow_comment";
}

/// `api.list_flow_comments`: threads newest first, each with its replies.
#[derive(Serialize)]
struct ListComments {
    flow_id: Id,
    resolved: Option<bool>,
    #[serde(flatten)]
    page: NewestFirstArgs,
}

impl RpcArgs for ListComments {
    const FUNCTION: &'static str = "list_flow_comments";
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    content: String,
}

#[derive(Serialize)]
struct UpdateComment {
    flow_id: Id,
    id: Id,
    content: String,
}

impl RpcArgs for UpdateComment {
    const FUNCTION: &'static str = "update_flow_comment";
}

#[derive(Serialize)]
struct DeleteComment {
    flow_id: Id,
    id: Id,
}

impl RpcArgs for DeleteComment {
    const FUNCTION: &'static str = "delete_flow_comment";
}

#[derive(Serialize)]
struct ResolveComment {
    flow_id: Id,
    id: Id,
    resolved: bool,
}

impl RpcArgs for ResolveComment {
    const FUNCTION: &'static str = "resolve_flow_comment";
}

/// 201 with the comment.
pub async fn create(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    flow_id: Id,
) -> Result<ApiResponse, ApiError> {
    let body: CreateBody = req.json_body()?;
    let args = CreateComment {
        flow_id,
        content: body.content,
        position: body.position,
        node_id: body.node_id,
        parent_id: body
            .parent_id
            .map(|id| Id::parse("parent_id", &id))
            .transpose()?,
    };
    Ok(ApiResponse::created(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// `?resolved=true|false&cursor=&limit=`: `{items, next_cursor}`; all threads without
/// `resolved`.
pub async fn list(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    flow_id: Id,
) -> Result<ApiResponse, ApiError> {
    let params = Params::new(&req.query, &["resolved", "cursor", "limit"])?;
    let args = ListComments {
        flow_id,
        resolved: params.flag("resolved")?,
        page: NewestFirstArgs::parse(params.get("cursor"), params.get("limit"))?,
    };
    let page = keyset::fetch::<_, NewestFirst>(deps, &args, &caller.auth).await?;
    keyset::page_response(page)
}

/// `{content}`: 200 with the comment (its author only).
pub async fn update(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    flow_id: Id,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let body: UpdateBody = req.json_body()?;
    let args = UpdateComment {
        flow_id,
        id,
        content: body.content,
    };
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// 204; a thread's replies go with it.
pub async fn delete(
    deps: &impl Deps,
    caller: &Caller,
    flow_id: Id,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    deps.rpc()
        .invoke(&DeleteComment { flow_id, id }, &caller.auth)
        .await?;
    Ok(ApiResponse::no_content())
}

/// `POST .../resolve` resolves a thread, `DELETE .../resolve` reopens it: 200 with the
/// thread's first comment.
pub async fn resolve(
    deps: &impl Deps,
    caller: &Caller,
    flow_id: Id,
    id: Id,
    resolved: bool,
) -> Result<ApiResponse, ApiError> {
    let args = ResolveComment {
        flow_id,
        id,
        resolved,
    };
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}
