//! Workspaces themselves: create (the caller becomes the owner), list the caller's, read one
//! (with its members and balance), rename or re-slug it (admins), delete it (the owner), and
//! 002's generation counts. SQL checks every field and every role.

use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse, Params};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::Id;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `POST /v1/workspaces` body; the slug is made from the name when absent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    #[serde(default)]
    slug: Option<String>,
}

/// `api.create_workspace`.
#[derive(Debug, PartialEq, Serialize)]
struct CreateWorkspace {
    name: String,
    slug: Option<String>,
}

impl RpcArgs for CreateWorkspace {
    const FUNCTION: &'static str = "create_workspace";
}

/// `api.list_workspaces`: every workspace of the caller, with their role.
#[derive(Serialize)]
struct ListWorkspaces;

impl RpcArgs for ListWorkspaces {
    const FUNCTION: &'static str = "list_workspaces";
}

/// `api.get_workspace`.
#[derive(Serialize)]
struct GetWorkspace {
    id: Id,
}

impl RpcArgs for GetWorkspace {
    const FUNCTION: &'static str = "get_workspace";
}

/// `api.update_workspace`: the body as sent; SQL names what may change (`name`, `slug`)
/// and refuses anything else, an empty patch included.
#[derive(Serialize)]
struct UpdateWorkspace {
    id: Id,
    patch: Value,
}

impl RpcArgs for UpdateWorkspace {
    const FUNCTION: &'static str = "update_workspace";
}

/// `api.delete_workspace`.
#[derive(Serialize)]
struct DeleteWorkspace {
    id: Id,
}

impl RpcArgs for DeleteWorkspace {
    const FUNCTION: &'static str = "delete_workspace";
}

/// `api.get_workspace_generation_counts`.
#[derive(Serialize)]
struct GenerationCounts {
    workspace_id: Id,
}

impl RpcArgs for GenerationCounts {
    const FUNCTION: &'static str = "get_workspace_generation_counts";
}

pub async fn create(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let CreateBody { name, slug } = req.json_body()?;
    let args = CreateWorkspace { name, slug };
    Ok(ApiResponse::created(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// All of them in one page: a user belongs to few workspaces.
pub async fn list(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    Params::new(&req.query, &[])?;
    let all = deps.rpc().invoke(&ListWorkspaces, &caller.auth).await?;
    Ok(ApiResponse::ok(json!({ "items": all })))
}

pub async fn get(deps: &impl Deps, caller: &Caller, id: Id) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(
        deps.rpc()
            .invoke(&GetWorkspace { id }, &caller.auth)
            .await?,
    ))
}

pub async fn update(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let args = UpdateWorkspace {
        id,
        patch: req.json_body()?,
    };
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// 204 once deleted: its remaining balance has gone back to the owner's own account.
pub async fn delete(deps: &impl Deps, caller: &Caller, id: Id) -> Result<ApiResponse, ApiError> {
    deps.rpc()
        .invoke(&DeleteWorkspace { id }, &caller.auth)
        .await?;
    Ok(ApiResponse::no_content())
}

pub async fn generation_counts(
    deps: &impl Deps,
    caller: &Caller,
    workspace_id: Id,
) -> Result<ApiResponse, ApiError> {
    let args = GenerationCounts { workspace_id };
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}
