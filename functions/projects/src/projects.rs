//! Projects: create (in a workspace or not), list what the caller reaches, read, edit
//! (settings and layout for members, name and description for admins, with an optional
//! version check), delete (004's soft delete), duplicate (004), and the caller's stats and
//! quota (004). SQL checks every field, the role and the quota.

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
    name: String,
    description: Option<String>,
    workspace_id: Option<String>,
    settings: Option<Value>,
    layout: Option<Value>,
}

/// `api.create_project`: the caller owns it; in a workspace, they need the member role there.
#[derive(Debug, PartialEq, Serialize)]
struct CreateProject {
    name: String,
    description: Option<String>,
    workspace_id: Option<Id>,
    settings: Option<Value>,
    layout: Option<Value>,
}

impl RpcArgs for CreateProject {
    const FUNCTION: &'static str = "create_project";
}

/// `api.list_projects`, newest first.
#[derive(Serialize)]
struct ListProjects {
    workspace_id: Option<Id>,
    #[serde(flatten)]
    page: NewestFirstArgs,
}

impl RpcArgs for ListProjects {
    const FUNCTION: &'static str = "list_projects";
}

#[derive(Serialize)]
struct GetProject {
    id: Id,
}

impl RpcArgs for GetProject {
    const FUNCTION: &'static str = "get_project";
}

/// `api.update_project`: the patch as it came; SQL names the fields it takes.
#[derive(Serialize)]
struct UpdateProject {
    id: Id,
    patch: Value,
}

impl RpcArgs for UpdateProject {
    const FUNCTION: &'static str = "update_project";
}

/// `api.soft_delete_project` (004's name and parameters): the caller acts for themselves.
#[derive(Serialize)]
struct SoftDeleteProject {
    project_id: Id,
    user_id: Id,
}

impl RpcArgs for SoftDeleteProject {
    const FUNCTION: &'static str = "soft_delete_project";
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DuplicateBody {
    name: Option<String>,
}

/// `api.duplicate_project` (004's name and parameters).
#[derive(Serialize)]
struct DuplicateProject {
    source_id: Id,
    user_id: Id,
    name: Option<String>,
}

impl RpcArgs for DuplicateProject {
    const FUNCTION: &'static str = "duplicate_project";
}

/// `api.get_user_project_stats()`: the caller's own.
#[derive(Serialize)]
struct Stats;

impl RpcArgs for Stats {
    const FUNCTION: &'static str = "get_user_project_stats";
}

fn optional_id(field: &str, value: Option<&str>) -> Result<Option<Id>, ApiError> {
    value.map(|id| Id::parse(field, id)).transpose()
}

/// 201 with the project and the caller's role, `owner`.
pub async fn create(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let body: CreateBody = req.json_body()?;
    let args = CreateProject {
        name: body.name,
        description: body.description,
        workspace_id: optional_id("workspace_id", body.workspace_id.as_deref())?,
        settings: body.settings,
        layout: body.layout,
    };
    Ok(ApiResponse::created(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// `?workspace_id=&cursor=&limit=`: `{items, next_cursor}`, each with the caller's role.
pub async fn list(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let params = Params::new(&req.query, &["workspace_id", "cursor", "limit"])?;
    let args = ListProjects {
        workspace_id: optional_id("workspace_id", params.get("workspace_id"))?,
        page: NewestFirstArgs::parse(params.get("cursor"), params.get("limit"))?,
    };
    let page = keyset::fetch::<_, NewestFirst>(deps, &args, &caller.auth).await?;
    keyset::page_response(page)
}

pub async fn get(deps: &impl Deps, caller: &Caller, id: Id) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&GetProject { id }, &caller.auth).await?,
    ))
}

/// `{settings?, layout?, name?, description?, version?}`: 200 with the project; a stale
/// `version` is SQL's 409 naming the current one.
pub async fn update(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let args = UpdateProject {
        id,
        patch: req.json_body()?,
    };
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// 204: the project and everything in it leave every list at once.
pub async fn delete(deps: &impl Deps, caller: &Caller, id: Id) -> Result<ApiResponse, ApiError> {
    let args = SoftDeleteProject {
        project_id: id,
        user_id: caller_id(caller)?,
    };
    deps.rpc().invoke(&args, &caller.auth).await?;
    Ok(ApiResponse::no_content())
}

/// `{name?}` (or no body): 201 with the copy, the caller's.
pub async fn duplicate(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let body: DuplicateBody = if req.body.iter().all(u8::is_ascii_whitespace) {
        DuplicateBody::default()
    } else {
        req.json_body()?
    };
    let args = DuplicateProject {
        source_id: id,
        user_id: caller_id(caller)?,
        name: body.name,
    };
    Ok(ApiResponse::created(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// What the caller owns and holds, and their quota.
pub async fn stats(deps: &impl Deps, caller: &Caller) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&Stats, &caller.auth).await?,
    ))
}

/// The verified caller as an [`Id`], for 004's functions that name their user (SQL checks
/// it is the caller). Its hyphenated form always parses.
fn caller_id(caller: &Caller) -> Result<Id, ApiError> {
    Id::parse("user_id", &caller.user_id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use genbase_shared::rpc::sql_args;
    use serde_json::json;

    #[test]
    fn a_create_body_reaches_sql_with_its_workspace_checked() {
        let body: CreateBody = serde_json::from_value(json!({
            "name": "Film", "workspace_id": "b0000000-0000-4000-8000-000000000003",
            "settings": {"fps": 24}}))
        .unwrap();
        let args = CreateProject {
            name: body.name,
            description: body.description,
            workspace_id: optional_id("workspace_id", body.workspace_id.as_deref()).unwrap(),
            settings: body.settings,
            layout: body.layout,
        };
        assert_eq!(
            sql_args(&args).unwrap(),
            json!({"p_name": "Film", "p_description": null,
                   "p_workspace_id": "b0000000-0000-4000-8000-000000000003",
                   "p_settings": {"fps": 24}, "p_layout": null})
        );
        let err = optional_id("workspace_id", Some("ws-1")).unwrap_err();
        assert_eq!(err.message, "workspace_id must be a UUID");
    }
}
