//! 004's layout components (type, position, size, z-index, properties): add, list, save over
//! the version the editor read (a stale one is SQL's 409 naming the current version, so two
//! editors never silently overwrite each other), delete. SQL checks every field.

use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::Id;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `api.create_component`: the body as it came; SQL names the fields it takes.
#[derive(Serialize)]
struct CreateComponent {
    project_id: Id,
    component: Value,
}

impl RpcArgs for CreateComponent {
    const FUNCTION: &'static str = "create_component";
}

#[derive(Serialize)]
struct ListComponents {
    project_id: Id,
}

impl RpcArgs for ListComponents {
    const FUNCTION: &'static str = "list_components";
}

/// `PATCH .../components/:cid`: the version the editor read, and the changes beside it.
#[derive(Deserialize)]
struct UpdateBody {
    version: i64,
    #[serde(flatten)]
    patch: Map<String, Value>,
}

/// `api.update_component`.
#[derive(Serialize)]
struct UpdateComponent {
    project_id: Id,
    id: Id,
    version: i64,
    patch: Map<String, Value>,
}

impl RpcArgs for UpdateComponent {
    const FUNCTION: &'static str = "update_component";
}

#[derive(Serialize)]
struct DeleteComponent {
    project_id: Id,
    id: Id,
}

impl RpcArgs for DeleteComponent {
    const FUNCTION: &'static str = "delete_component";
}

/// `{type, x?, y?, width?, height?, z_index?, properties?}`: 201 with the component, version 1.
pub async fn create(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    project_id: Id,
) -> Result<ApiResponse, ApiError> {
    let args = CreateComponent {
        project_id,
        component: req.json_body()?,
    };
    Ok(ApiResponse::created(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// `{items}`, bottom first (a project holds at most `components_per_project`).
pub async fn list(
    deps: &impl Deps,
    caller: &Caller,
    project_id: Id,
) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(
        deps.rpc()
            .invoke(&ListComponents { project_id }, &caller.auth)
            .await?,
    ))
}

/// `{version, ...changes}`: 200 with the component at its next version, or 409.
pub async fn update(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    project_id: Id,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let UpdateBody { version, patch } = req.json_body()?;
    let args = UpdateComponent {
        project_id,
        id,
        version,
        patch,
    };
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// 204.
pub async fn delete(
    deps: &impl Deps,
    caller: &Caller,
    project_id: Id,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    deps.rpc()
        .invoke(&DeleteComponent { project_id, id }, &caller.auth)
        .await?;
    Ok(ApiResponse::no_content())
}
