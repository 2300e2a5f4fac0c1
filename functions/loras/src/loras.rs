//! LoRAs and their training images: one RPC each, as the caller (SQL checks every field, the
//! caller's role and the LoRA's status). A LoRA with stored weights gets a signed URL for them,
//! signed as the caller, so Storage's policies decide who may download them (its people, and
//! everyone once it is public).

use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse, Params};
use genbase_shared::keyset::{self, NewestFirst, NewestFirstArgs};
use genbase_shared::rpc::{Rpc, RpcArgs, RpcAuth};
use genbase_shared::storage::{sign_downloads, DOWNLOAD_URL_SECONDS};
use genbase_shared::validate::Id;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `POST /v1/loras`, passed to `api.create_lora` as it came (SQL checks each field).
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct CreateLora {
    name: String,
    base_model: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    trigger_word: Option<String>,
    #[serde(default = "private")]
    visibility: String,
    #[serde(default)]
    workspace_id: Option<String>,
}

fn private() -> String {
    "private".into()
}

/// `api.create_lora`.
#[derive(Serialize)]
struct CreateArgs {
    name: String,
    base_model: String,
    description: Option<String>,
    trigger_word: Option<String>,
    visibility: String,
    workspace_id: Option<Id>,
}

impl RpcArgs for CreateArgs {
    const FUNCTION: &'static str = "create_lora";
}

/// `api.list_loras`: `mine` (default) or `public`, optionally one workspace's; newest first.
#[derive(Serialize)]
struct ListLoras<'q> {
    #[serde(skip_serializing_if = "Option::is_none")]
    visibility: Option<&'q str>,
    workspace_id: Option<Id>,
    #[serde(flatten)]
    page: NewestFirstArgs,
}

impl RpcArgs for ListLoras<'_> {
    const FUNCTION: &'static str = "list_loras";
}

/// `api.get_lora`.
#[derive(Serialize)]
struct GetLora {
    id: Id,
}

impl RpcArgs for GetLora {
    const FUNCTION: &'static str = "get_lora";
}

/// `api.delete_lora`.
#[derive(Serialize)]
struct DeleteLora {
    id: Id,
}

impl RpcArgs for DeleteLora {
    const FUNCTION: &'static str = "delete_lora";
}

/// `api.update_lora`: the body is the patch, whose fields SQL names and checks.
#[derive(Serialize)]
struct UpdateLora {
    id: Id,
    patch: Value,
}

impl RpcArgs for UpdateLora {
    const FUNCTION: &'static str = "update_lora";
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageBody {
    upload_id: String,
}

/// `api.add_lora_image`.
#[derive(Serialize)]
struct AddImage {
    lora_id: Id,
    upload_id: Id,
}

impl RpcArgs for AddImage {
    const FUNCTION: &'static str = "add_lora_image";
}

/// `api.list_lora_images`.
#[derive(Serialize)]
struct ListImages {
    lora_id: Id,
}

impl RpcArgs for ListImages {
    const FUNCTION: &'static str = "list_lora_images";
}

/// `api.remove_lora_image`.
#[derive(Serialize)]
struct RemoveImage {
    lora_id: Id,
    image_id: Id,
}

impl RpcArgs for RemoveImage {
    const FUNCTION: &'static str = "remove_lora_image";
}

/// 201 with the LoRA, a draft.
pub async fn create(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let body: CreateLora = req.json_body()?;
    let args = CreateArgs {
        workspace_id: body
            .workspace_id
            .as_deref()
            .map(|w| Id::parse("workspace_id", w))
            .transpose()?,
        name: body.name,
        base_model: body.base_model,
        description: body.description,
        trigger_word: body.trigger_word,
        visibility: body.visibility,
    };
    Ok(ApiResponse::created(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// `?visibility=mine|public&workspace_id=&cursor=&limit=`: `{items, next_cursor}`.
pub async fn list(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let params = Params::new(
        &req.query,
        &["visibility", "workspace_id", "cursor", "limit"],
    )?;
    let args = ListLoras {
        visibility: params.get("visibility"),
        workspace_id: params
            .get("workspace_id")
            .map(|w| Id::parse("workspace_id", w))
            .transpose()?,
        page: NewestFirstArgs::parse(params.get("cursor"), params.get("limit"))?,
    };
    let mut page = keyset::fetch::<_, NewestFirst>(deps, &args, &caller.auth).await?;
    if let Some(items) = page.items.as_array_mut() {
        sign_weights(deps, &caller.auth, items).await?;
    }
    keyset::page_response(page)
}

pub async fn get(deps: &impl Deps, caller: &Caller, id: Id) -> Result<ApiResponse, ApiError> {
    let mut lora = deps.rpc().invoke(&GetLora { id }, &caller.auth).await?;
    sign_weights(deps, &caller.auth, std::slice::from_mut(&mut lora)).await?;
    Ok(ApiResponse::ok(lora))
}

pub async fn update(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let args = UpdateLora {
        id,
        patch: req.json_body()?,
    };
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// 204; the weights are removed by a storage job.
pub async fn delete(deps: &impl Deps, caller: &Caller, id: Id) -> Result<ApiResponse, ApiError> {
    deps.rpc().invoke(&DeleteLora { id }, &caller.auth).await?;
    Ok(ApiResponse::no_content())
}

pub async fn add_image(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    lora_id: Id,
) -> Result<ApiResponse, ApiError> {
    let body: ImageBody = req.json_body()?;
    let args = AddImage {
        lora_id,
        upload_id: Id::parse("upload_id", &body.upload_id)?,
    };
    Ok(ApiResponse::created(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

pub async fn list_images(
    deps: &impl Deps,
    caller: &Caller,
    lora_id: Id,
) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(
        deps.rpc()
            .invoke(&ListImages { lora_id }, &caller.auth)
            .await?,
    ))
}

pub async fn remove_image(
    deps: &impl Deps,
    caller: &Caller,
    lora_id: Id,
    image_id: Id,
) -> Result<ApiResponse, ApiError> {
    let args = RemoveImage { lora_id, image_id };
    deps.rpc().invoke(&args, &caller.auth).await?;
    Ok(ApiResponse::no_content())
}

/// Gives each LoRA's stored weights (`weights: {bucket, path}`) a signed download URL
/// (`weights.url`, until `weights.url_expires_at`, unix seconds), in one Storage request,
/// signed as `auth`: null where Storage will not sign for the caller.
pub async fn sign_weights(
    deps: &impl Deps,
    auth: &RpcAuth,
    loras: &mut [Value],
) -> Result<(), ApiError> {
    let paths: Vec<String> = loras
        .iter()
        .filter_map(|l| l["weights"]["path"].as_str().map(str::to_owned))
        .collect();
    let Some(bucket) = loras.iter().find_map(|l| l["weights"]["bucket"].as_str()) else {
        return Ok(());
    };
    let bucket = bucket.to_owned();
    let signed = sign_downloads(deps, auth, &bucket, &paths).await?;
    let expires_at = deps.now_unix() + DOWNLOAD_URL_SECONDS;
    let mut signed = signed.into_iter();
    for lora in loras
        .iter_mut()
        .filter(|l| l["weights"]["path"].is_string())
    {
        lora["weights"]["url"] = json!(signed.next().flatten());
        lora["weights"]["url_expires_at"] = json!(expires_at);
    }
    Ok(())
}
