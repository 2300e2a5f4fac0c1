//! What a project records over time, each listed newest first in keyset pages: its audio
//! recordings (004: one of the caller's `audio_recording` uploads made for the project, see
//! `POST /v1/uploads` with `project_id`, registered once its file arrived) and its prompt
//! history (004's `prompt_generations`).

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
struct RecordingBody {
    upload_id: String,
    name: Option<String>,
    duration_seconds: Option<f64>,
}

/// `api.create_recording`.
#[derive(Serialize)]
struct CreateRecording {
    project_id: Id,
    upload_id: Id,
    name: Option<String>,
    duration_seconds: Option<f64>,
}

impl RpcArgs for CreateRecording {
    const FUNCTION: &'static str = "create_recording";
}

/// `api.list_recordings`, newest first.
#[derive(Serialize)]
struct ListRecordings {
    project_id: Id,
    #[serde(flatten)]
    page: NewestFirstArgs,
}

impl RpcArgs for ListRecordings {
    const FUNCTION: &'static str = "list_recordings";
}

/// `api.list_prompt_generations`, newest first.
#[derive(Serialize)]
struct ListPrompts {
    project_id: Id,
    #[serde(flatten)]
    page: NewestFirstArgs,
}

impl RpcArgs for ListPrompts {
    const FUNCTION: &'static str = "list_prompt_generations";
}

/// A list's `?cursor=&limit=`.
fn page_of(req: &ApiRequest) -> Result<NewestFirstArgs, ApiError> {
    let params = Params::new(&req.query, &["cursor", "limit"])?;
    NewestFirstArgs::parse(params.get("cursor"), params.get("limit"))
}

#[derive(Serialize)]
struct DeleteRecording {
    project_id: Id,
    id: Id,
}

impl RpcArgs for DeleteRecording {
    const FUNCTION: &'static str = "delete_recording";
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PromptBody {
    prompt: String,
    model: Option<String>,
    settings: Option<Value>,
    generation_id: Option<String>,
}

/// `api.create_prompt_generation`.
#[derive(Serialize)]
struct CreatePrompt {
    project_id: Id,
    prompt: String,
    model: Option<String>,
    settings: Option<Value>,
    generation_id: Option<Id>,
}

impl RpcArgs for CreatePrompt {
    const FUNCTION: &'static str = "create_prompt_generation";
}

/// `{upload_id, name?, duration_seconds?}`: 201 with the recording.
pub async fn create_recording(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    project_id: Id,
) -> Result<ApiResponse, ApiError> {
    let body: RecordingBody = req.json_body()?;
    let args = CreateRecording {
        project_id,
        upload_id: Id::parse("upload_id", &body.upload_id)?,
        name: body.name,
        duration_seconds: body.duration_seconds,
    };
    Ok(ApiResponse::created(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// `?cursor=&limit=`: `{items, next_cursor}`.
pub async fn list_recordings(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    project_id: Id,
) -> Result<ApiResponse, ApiError> {
    let args = ListRecordings {
        project_id,
        page: page_of(req)?,
    };
    let page = keyset::fetch::<_, NewestFirst>(deps, &args, &caller.auth).await?;
    keyset::page_response(page)
}

/// 204: the recording leaves the project; its object stays its recorder's.
pub async fn delete_recording(
    deps: &impl Deps,
    caller: &Caller,
    project_id: Id,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    deps.rpc()
        .invoke(&DeleteRecording { project_id, id }, &caller.auth)
        .await?;
    Ok(ApiResponse::no_content())
}

/// `{prompt, model?, settings?, generation_id?}`: 201 with the history entry.
pub async fn create_prompt(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    project_id: Id,
) -> Result<ApiResponse, ApiError> {
    let body: PromptBody = req.json_body()?;
    let args = CreatePrompt {
        project_id,
        prompt: body.prompt,
        model: body.model,
        settings: body.settings,
        generation_id: body
            .generation_id
            .map(|id| Id::parse("generation_id", &id))
            .transpose()?,
    };
    Ok(ApiResponse::created(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// `?cursor=&limit=`: `{items, next_cursor}`.
pub async fn list_prompts(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    project_id: Id,
) -> Result<ApiResponse, ApiError> {
    let args = ListPrompts {
        project_id,
        page: page_of(req)?,
    };
    let page = keyset::fetch::<_, NewestFirst>(deps, &args, &caller.auth).await?;
    keyset::page_response(page)
}
