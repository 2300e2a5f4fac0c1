//! Flows: create (in a workspace or not), list what the caller reaches, read one with its
//! graph, rename, delete (soft), and save the whole graph with the version it was loaded
//! at. SQL checks every field, the graph's shape and limits, and the caller's role.

use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse, Params};
use genbase_shared::keyset::{self, NewestFirst, NewestFirstArgs};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::Id;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    description: Option<String>,
    workspace_id: Option<String>,
}

/// `api.create_flow`: the caller owns it; in a workspace, they need the member role there.
#[derive(Serialize)]
struct CreateFlow {
    name: String,
    description: Option<String>,
    workspace_id: Option<Id>,
}

impl RpcArgs for CreateFlow {
    const FUNCTION: &'static str = "create_flow";
}

/// `api.list_flows`, newest first.
#[derive(Serialize)]
struct ListFlows {
    workspace_id: Option<Id>,
    #[serde(flatten)]
    page: NewestFirstArgs,
}

impl RpcArgs for ListFlows {
    const FUNCTION: &'static str = "list_flows";
}

#[derive(Serialize)]
struct GetFlow {
    id: Id,
}

impl RpcArgs for GetFlow {
    const FUNCTION: &'static str = "get_flow";
}

/// `api.update_flow`: the patch as it came; SQL names the fields it takes.
#[derive(Serialize)]
struct UpdateFlow {
    id: Id,
    patch: Value,
}

impl RpcArgs for UpdateFlow {
    const FUNCTION: &'static str = "update_flow";
}

#[derive(Serialize)]
struct DeleteFlow {
    id: Id,
}

impl RpcArgs for DeleteFlow {
    const FUNCTION: &'static str = "delete_flow";
}

/// `PUT /v1/flows/:id/graph`: the version the client loaded, and the graph beside it
/// (`nodes`, `edges`, `viewport`, and anything else, which SQL refuses by name).
#[derive(Deserialize)]
struct GraphBody {
    version: i64,
    #[serde(flatten)]
    graph: Map<String, Value>,
}

/// `api.save_flow`.
#[derive(Serialize)]
struct SaveFlow {
    id: Id,
    version: i64,
    graph: Map<String, Value>,
}

impl RpcArgs for SaveFlow {
    const FUNCTION: &'static str = "save_flow";
}

/// 201 with the flow (version 1, empty graph) and the caller's role, `owner`.
pub async fn create(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let body: CreateBody = req.json_body()?;
    let args = CreateFlow {
        name: body.name,
        description: body.description,
        workspace_id: body
            .workspace_id
            .map(|id| Id::parse("workspace_id", &id))
            .transpose()?,
    };
    Ok(ApiResponse::created(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// `?workspace_id=&cursor=&limit=`: `{items, next_cursor}`, each item with the caller's role.
pub async fn list(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let params = Params::new(&req.query, &["workspace_id", "cursor", "limit"])?;
    let args = ListFlows {
        workspace_id: params
            .get("workspace_id")
            .map(|id| Id::parse("workspace_id", id))
            .transpose()?,
        page: NewestFirstArgs::parse(params.get("cursor"), params.get("limit"))?,
    };
    let page = keyset::fetch::<_, NewestFirst>(deps, &args, &caller.auth).await?;
    keyset::page_response(page)
}

/// The flow with `nodes`, `edges`, `version` and the caller's `role`, read together.
pub async fn get(deps: &impl Deps, caller: &Caller, id: Id) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&GetFlow { id }, &caller.auth).await?,
    ))
}

/// `{name?, description?}`: 200 with the flow; the graph's version does not move.
pub async fn update(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let args = UpdateFlow {
        id,
        patch: req.json_body()?,
    };
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// 204: the flow, its graph and its comments leave every read at once (admins only).
pub async fn delete(deps: &impl Deps, caller: &Caller, id: Id) -> Result<ApiResponse, ApiError> {
    deps.rpc().invoke(&DeleteFlow { id }, &caller.auth).await?;
    Ok(ApiResponse::no_content())
}

/// 200 with the flow at its new version; 409 when `version` is no longer the flow's (someone
/// saved since: load it again), 400 for a bad graph, with nothing saved either way.
pub async fn save_graph(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let body: GraphBody = req.json_body()?;
    let args = SaveFlow {
        id,
        version: body.version,
        graph: body.graph,
    };
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}
