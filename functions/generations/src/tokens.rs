//! The provider token pool: which token a call uses, and what its outcome says about the
//! token. The secret never leaves this module and `provider`: not in responses, not in logs.

use genbase_shared::deps::Deps;
use genbase_shared::error::ApiError;
use genbase_shared::rpc::{Rpc, RpcAuth};
use serde_json::{json, Value};

pub struct PoolToken {
    id: Option<Value>,
    pub secret: String,
}

/// Next token, round-robin from `provider_tokens`; the `REPLICATE_API_TOKEN` var when the
/// pool is empty (a single-token setup).
pub async fn take(deps: &impl Deps) -> Result<PoolToken, ApiError> {
    let picked = deps
        .rpc()
        .call(
            "next_provider_token",
            json!({"p_provider": "replicate"}),
            &RpcAuth::ServiceRole,
        )
        .await;
    match picked {
        Ok(v) if v["token"].is_string() => Ok(PoolToken {
            id: Some(v["id"].clone()),
            secret: v["token"].as_str().unwrap_or_default().to_string(),
        }),
        // PT503: the pool has no active token for this provider.
        Ok(_) | Err(ApiError { status: 503, .. }) => deps
            .var("REPLICATE_API_TOKEN")
            .map(|secret| PoolToken { id: None, secret })
            .ok_or_else(|| ApiError::unavailable("no provider token configured")),
        Err(e) => Err(e),
    }
}

/// Records the outcome of a call made with `token`.
pub async fn report(deps: &impl Deps, token: &PoolToken, ok: bool) {
    if let Some(id) = &token.id {
        // Best effort: a lost counter update must not fail the user's request.
        let _ = deps
            .rpc()
            .call(
                "report_provider_token",
                json!({"p_token_id": id, "p_ok": ok}),
                &RpcAuth::ServiceRole,
            )
            .await;
    }
}
