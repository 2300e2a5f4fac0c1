use crate::patch::ProfilePatch;
use genbase_shared::deps::{require_user, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::Rpc;
use serde_json::json;

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    if req.path != "/v1/me" {
        return Err(ApiError::not_found(format!("no endpoint at {}", req.path)));
    }
    match req.method.as_str() {
        "GET" => {
            let caller = require_user(req, deps).await?;
            let profile = deps
                .rpc()
                .call("get_my_profile", json!({}), &caller.auth)
                .await?;
            Ok(ApiResponse::ok(profile))
        }
        "PATCH" => {
            let caller = require_user(req, deps).await?;
            let patch = ProfilePatch::parse(req.json_body()?)?;
            let profile = deps
                .rpc()
                .call(
                    "update_my_profile",
                    json!({ "patch": patch.into_json() }),
                    &caller.auth,
                )
                .await?;
            Ok(ApiResponse::ok(profile))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}
