//! Training data (`/v1/training-data`): a user's batches of videos (their uploads of purpose
//! `training_video`) cut into segments. One RPC each, as the caller; SQL owns every rule (the
//! owner, the upload, the segment's bounds inside its video's duration).

use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse, Params};
use genbase_shared::keyset::{self, NewestFirst, NewestFirstArgs};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::Id;
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

/// `POST /v1/training-data/batches`, as `api.create_training_batch` takes it.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct CreateBatch {
    name: String,
    #[serde(default)]
    description: Option<String>,
}

impl RpcArgs for CreateBatch {
    const FUNCTION: &'static str = "create_training_batch";
}

/// `api.list_training_batches`, newest first.
#[derive(Serialize)]
struct ListBatches {
    #[serde(flatten)]
    page: NewestFirstArgs,
}

impl RpcArgs for ListBatches {
    const FUNCTION: &'static str = "list_training_batches";
}

#[derive(Serialize)]
struct GetBatch {
    id: Id,
}

impl RpcArgs for GetBatch {
    const FUNCTION: &'static str = "get_training_batch";
}

#[derive(Serialize)]
struct DeleteBatch {
    id: Id,
}

impl RpcArgs for DeleteBatch {
    const FUNCTION: &'static str = "delete_training_batch";
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VideoBody {
    upload_id: String,
    /// As the client measured it; segments are checked against it.
    duration_seconds: Number,
}

/// `api.add_training_video`.
#[derive(Serialize)]
struct AddVideo {
    batch_id: Id,
    upload_id: Id,
    duration_seconds: Number,
}

impl RpcArgs for AddVideo {
    const FUNCTION: &'static str = "add_training_video";
}

/// `api.list_training_videos`, newest first.
#[derive(Serialize)]
struct ListVideos {
    batch_id: Id,
    #[serde(flatten)]
    page: NewestFirstArgs,
}

impl RpcArgs for ListVideos {
    const FUNCTION: &'static str = "list_training_videos";
}

/// Seconds from the video's start; numbers, whose bounds SQL checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentBody {
    start_time: Number,
    end_time: Number,
}

/// `api.create_training_segment`.
#[derive(Serialize)]
struct CreateSegment {
    video_id: Id,
    start_time: Number,
    end_time: Number,
}

impl RpcArgs for CreateSegment {
    const FUNCTION: &'static str = "create_training_segment";
}

#[derive(Serialize)]
struct ListSegments {
    video_id: Id,
}

impl RpcArgs for ListSegments {
    const FUNCTION: &'static str = "list_training_segments";
}

/// `api.update_training_segment`: the body is the patch (`start_time`, `end_time`).
#[derive(Serialize)]
struct UpdateSegment {
    id: Id,
    patch: Value,
}

impl RpcArgs for UpdateSegment {
    const FUNCTION: &'static str = "update_training_segment";
}

#[derive(Serialize)]
struct DeleteSegment {
    id: Id,
}

impl RpcArgs for DeleteSegment {
    const FUNCTION: &'static str = "delete_training_segment";
}

pub async fn create_batch(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let body: CreateBatch = req.json_body()?;
    Ok(ApiResponse::created(
        deps.rpc().invoke(&body, &caller.auth).await?,
    ))
}

pub async fn list_batches(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let params = Params::new(&req.query, &["cursor", "limit"])?;
    let args = ListBatches {
        page: NewestFirstArgs::parse(params.get("cursor"), params.get("limit"))?,
    };
    let page = keyset::fetch::<_, NewestFirst>(deps, &args, &caller.auth).await?;
    keyset::page_response(page)
}

pub async fn get_batch(deps: &impl Deps, caller: &Caller, id: Id) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&GetBatch { id }, &caller.auth).await?,
    ))
}

/// 204: its videos and segments go with it; the uploads stay the user's.
pub async fn delete_batch(
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    deps.rpc().invoke(&DeleteBatch { id }, &caller.auth).await?;
    Ok(ApiResponse::no_content())
}

pub async fn add_video(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    batch_id: Id,
) -> Result<ApiResponse, ApiError> {
    let body: VideoBody = req.json_body()?;
    let args = AddVideo {
        batch_id,
        upload_id: Id::parse("upload_id", &body.upload_id)?,
        duration_seconds: body.duration_seconds,
    };
    Ok(ApiResponse::created(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

pub async fn list_videos(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    batch_id: Id,
) -> Result<ApiResponse, ApiError> {
    let params = Params::new(&req.query, &["cursor", "limit"])?;
    let args = ListVideos {
        batch_id,
        page: NewestFirstArgs::parse(params.get("cursor"), params.get("limit"))?,
    };
    let page = keyset::fetch::<_, NewestFirst>(deps, &args, &caller.auth).await?;
    keyset::page_response(page)
}

pub async fn create_segment(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    video_id: Id,
) -> Result<ApiResponse, ApiError> {
    let body: SegmentBody = req.json_body()?;
    let args = CreateSegment {
        video_id,
        start_time: body.start_time,
        end_time: body.end_time,
    };
    Ok(ApiResponse::created(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

pub async fn list_segments(
    deps: &impl Deps,
    caller: &Caller,
    video_id: Id,
) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(
        deps.rpc()
            .invoke(&ListSegments { video_id }, &caller.auth)
            .await?,
    ))
}

pub async fn update_segment(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let args = UpdateSegment {
        id,
        patch: req.json_body()?,
    };
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

pub async fn delete_segment(
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    deps.rpc()
        .invoke(&DeleteSegment { id }, &caller.auth)
        .await?;
    Ok(ApiResponse::no_content())
}
