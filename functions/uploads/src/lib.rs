//! The uploads function: `POST /v1/uploads` gives the caller a signed URL to upload one file
//! to (an audio recording, a document, a reference image, a training image), at a path the
//! server chooses; `GET /v1/uploads/:id` says whether the file has arrived. An upload's id can
//! then be the value of a model's `file` parameter in `POST /v1/generations`.
//!
//! SQL (`api.create_upload`) owns every rule: purpose to bucket, the bucket's size and type
//! limits, the path. The URL is signed as the user, so Storage's own policies decide too.

use genbase_shared::deps::{require_user, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::storage::{sign_upload, UPLOAD_URL_SECONDS};
use genbase_shared::validate::Id;
use serde::{Deserialize, Serialize};
use serde_json::json;

genbase_shared::endpoints! {
    enum Endpoint {
        POST "/v1/uploads" => Create,
        GET "/v1/uploads/:id" => Get { id: Id },
    }
}

/// The body of `POST /v1/uploads`, passed to `api.create_upload` as it is: SQL checks every
/// field (one owner of the rules), and keeps `filename` only as a display name.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct CreateUpload {
    purpose: String,
    content_type: String,
    bytes: i64,
    #[serde(default)]
    filename: Option<String>,
    /// An audio recording's project: its path follows 004's project layout (SQL checks the
    /// caller is a member; a malformed id is SQL's 400 as well).
    #[serde(default)]
    project_id: Option<String>,
}

impl RpcArgs for CreateUpload {
    const FUNCTION: &'static str = "create_upload";
}

/// `api.get_upload`.
#[derive(Serialize)]
struct GetUpload {
    id: Id,
}

impl RpcArgs for GetUpload {
    const FUNCTION: &'static str = "get_upload";
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let endpoint = Endpoint::parse(&req.method, &req.path)?;
    let caller = require_user(req, deps).await?;
    match endpoint {
        Endpoint::Create => {
            let args: CreateUpload = req.json_body()?;
            let mut upload = deps.rpc().invoke(&args, &caller.auth).await?;
            let (Some(bucket), Some(path)) = (upload["bucket"].as_str(), upload["path"].as_str())
            else {
                return Err(ApiError::bad_gateway(format!(
                    "create_upload answered without a bucket or path: {upload}"
                )));
            };
            // Not an upsert: the path is fresh, so an object already there is a collision to
            // refuse, not one to overwrite.
            let signed = sign_upload(deps, &caller.auth, bucket, path, false).await?;
            upload["url"] = json!(signed.url);
            upload["token"] = json!(signed.token);
            // Unix seconds, like a generation's `outputs.urls_expire_at`.
            upload["expires_at"] = json!(deps.now_unix() + UPLOAD_URL_SECONDS);
            Ok(ApiResponse::created(upload))
        }
        Endpoint::Get { id } => {
            let upload = deps.rpc().invoke(&GetUpload { id }, &caller.auth).await?;
            Ok(ApiResponse::ok(upload))
        }
    }
}

genbase_edge::entry!("uploads", handle);

#[cfg(test)]
mod handler_tests;
