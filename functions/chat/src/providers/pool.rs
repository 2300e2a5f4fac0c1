//! Which key a chat call uses, from the provider token pool, and what its answer says about
//! the key. The secret never leaves this module and the protocol modules: not in responses,
//! not in logs. (The same rules as generations' Replicate pool, for any provider name.)

use genbase_shared::deps::Deps;
use genbase_shared::error::ApiError;
use genbase_shared::rpc::{Rpc, RpcArgs, RpcAuth};
use serde::Serialize;
use serde_json::Value;

/// `api.next_provider_token`: the least recently used available key of a provider.
#[derive(Serialize)]
struct NextProviderToken<'a> {
    provider: &'a str,
}

impl RpcArgs for NextProviderToken<'_> {
    const FUNCTION: &'static str = "next_provider_token";
}

/// `api.report_provider_token`: what a call said about the key it used.
#[derive(Serialize)]
struct ReportProviderToken<'a> {
    token_id: &'a Value,
    outcome: &'static str,
}

impl RpcArgs for ReportProviderToken<'_> {
    const FUNCTION: &'static str = "report_provider_token";
}

pub struct PoolToken {
    /// `None` for the configuration var's key, which has no row to keep health in.
    id: Option<Value>,
    pub secret: String,
}

/// What a provider call says about its key. Only `AuthError` can disable a key: a user
/// controls their messages, so nothing a request can provoke (a 429, a 400 for a prompt the
/// provider refuses) may take a key out of the pool for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    AuthError,
    RateLimited,
    /// 5xx (Anthropic's 529 too), a transport failure, or a 2xx we cannot read.
    ServerError,
    RequestError,
}

impl Outcome {
    pub fn from_status(status: u16) -> Outcome {
        match status {
            200..=299 => Outcome::Ok,
            401 | 403 => Outcome::AuthError,
            429 => Outcome::RateLimited,
            400..=499 => Outcome::RequestError,
            _ => Outcome::ServerError,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::AuthError => "auth_error",
            Outcome::RateLimited => "rate_limited",
            Outcome::ServerError => "server_error",
            Outcome::RequestError => "request_error",
        }
    }
}

/// The var holding a single key for `provider` when the pool has none available:
/// `OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, ...
fn key_var(provider: &str) -> String {
    format!(
        "{}_API_KEY",
        provider.to_ascii_uppercase().replace('-', "_")
    )
}

/// The next key of `provider`'s pool; the provider's key var when the pool has none
/// available (a single-key setup, or every pool key cooling down).
pub async fn take(deps: &impl Deps, provider: &str) -> Result<PoolToken, ApiError> {
    let picked = deps
        .rpc()
        .invoke(&NextProviderToken { provider }, &RpcAuth::ServiceRole)
        .await;
    match picked {
        Ok(v) if v["token"].is_string() => Ok(PoolToken {
            id: Some(v["id"].clone()),
            secret: v["token"].as_str().unwrap_or_default().to_string(),
        }),
        // PT503: the pool has no available key for this provider.
        Ok(_) | Err(ApiError { status: 503, .. }) => deps
            .var(&key_var(provider))
            .map(|secret| PoolToken { id: None, secret })
            .ok_or_else(|| ApiError::unavailable(format!("no key available for {provider}"))),
        Err(e) => Err(e),
    }
}

/// Records the outcome of a call made with `token`.
pub async fn report(deps: &impl Deps, token: &PoolToken, outcome: Outcome) {
    if let Some(id) = &token.id {
        // Best effort: a lost counter update must not fail the user's reply.
        let args = ReportProviderToken {
            token_id: id,
            outcome: outcome.as_str(),
        };
        let _ = deps.rpc().invoke(&args, &RpcAuth::ServiceRole).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_auth_failures_blame_the_key() {
        let cases = [
            (200, "ok"),
            (401, "auth_error"),
            (403, "auth_error"),
            (429, "rate_limited"),
            (400, "request_error"),
            (413, "request_error"),
            (500, "server_error"),
            (529, "server_error"),
            (301, "server_error"),
        ];
        for (status, want) in cases {
            assert_eq!(Outcome::from_status(status).as_str(), want, "{status}");
        }
    }

    #[test]
    fn the_fallback_key_var_is_named_after_the_provider() {
        assert_eq!(key_var("openai"), "OPENAI_API_KEY");
        assert_eq!(key_var("together-ai"), "TOGETHER_AI_API_KEY");
    }
}
