//! A project's shots, in a gap-free order (positions 0..n-1) that SQL keeps: add one (at the
//! end or at a position), list them with the `order_version` they were read at, rename one or
//! change its settings, move one (under the project's lock: concurrent moves apply one after
//! the other), delete one.

use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::Id;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    settings: Option<Value>,
    position: Option<i32>,
}

/// `api.create_shot`.
#[derive(Serialize)]
struct CreateShot {
    project_id: Id,
    name: String,
    settings: Option<Value>,
    position: Option<i32>,
}

impl RpcArgs for CreateShot {
    const FUNCTION: &'static str = "create_shot";
}

#[derive(Serialize)]
struct ListShots {
    project_id: Id,
}

impl RpcArgs for ListShots {
    const FUNCTION: &'static str = "list_shots";
}

/// `api.update_shot`: the patch as it came; SQL names the fields it takes.
#[derive(Serialize)]
struct UpdateShot {
    project_id: Id,
    id: Id,
    patch: Value,
}

impl RpcArgs for UpdateShot {
    const FUNCTION: &'static str = "update_shot";
}

#[derive(Serialize)]
struct DeleteShot {
    project_id: Id,
    id: Id,
}

impl RpcArgs for DeleteShot {
    const FUNCTION: &'static str = "delete_shot";
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveBody {
    position: i32,
}

/// `api.move_shot`.
#[derive(Serialize)]
struct MoveShot {
    project_id: Id,
    id: Id,
    position: i32,
}

impl RpcArgs for MoveShot {
    const FUNCTION: &'static str = "move_shot";
}

/// `{name, settings?, position?}`: 201 with the shot at its position.
pub async fn create(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    project_id: Id,
) -> Result<ApiResponse, ApiError> {
    let body: CreateBody = req.json_body()?;
    let args = CreateShot {
        project_id,
        name: body.name,
        settings: body.settings,
        position: body.position,
    };
    Ok(ApiResponse::created(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// `{order_version, items}`: every shot in order (a project holds at most
/// `shots_per_project`).
pub async fn list(
    deps: &impl Deps,
    caller: &Caller,
    project_id: Id,
) -> Result<ApiResponse, ApiError> {
    let args = ListShots { project_id };
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// `{name?, settings?}`: 200 with the shot.
pub async fn update(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    project_id: Id,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let args = UpdateShot {
        project_id,
        id,
        patch: req.json_body()?,
    };
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// 204: the later shots move up.
pub async fn delete(
    deps: &impl Deps,
    caller: &Caller,
    project_id: Id,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    deps.rpc()
        .invoke(&DeleteShot { project_id, id }, &caller.auth)
        .await?;
    Ok(ApiResponse::no_content())
}

/// `{position}`: 200 with the shot at that position and the `order_version` of this move.
pub async fn move_to(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    project_id: Id,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let MoveBody { position } = req.json_body()?;
    let args = MoveShot {
        project_id,
        id,
        position,
    };
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}
