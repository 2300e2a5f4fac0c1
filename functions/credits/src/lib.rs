//! The credits function: `GET /v1/credits?limit=&cursor=`.

use genbase_shared::deps::{require_user, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{route, ApiRequest, ApiResponse};
use genbase_shared::rpc::Rpc;
use genbase_shared::validate::{Cursor, Limit};
use serde_json::{json, Value};

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    route(&req.method, &req.path, &[("GET", "/v1/credits")])?;
    let caller = require_user(req, deps).await?;
    let mut args = json!({ "p_limit": Limit::parse(req.query_param("limit"))?.get() });
    if let Some(c) = req.query_param("cursor") {
        let before = Cursor::decode(c)?["before_id"]
            .as_i64()
            .ok_or_else(|| ApiError::validation("cursor is not valid"))?;
        args["p_before_id"] = json!(before);
    }
    let mut page = deps
        .rpc()
        .call("get_my_credits", args, &caller.auth)
        .await?;
    let next = match page["next_before_id"].as_i64() {
        Some(id) => json!(Cursor::encode(&json!({ "before_id": id }))),
        None => Value::Null,
    };
    if let Value::Object(m) = &mut page {
        m.remove("next_before_id");
        m.insert("next_cursor".into(), next);
    }
    Ok(ApiResponse::ok(page))
}

genbase_edge::entry!("credits", handle);
