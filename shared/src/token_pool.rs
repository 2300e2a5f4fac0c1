//! The provider token pool (`provider_tokens`), for every function that calls a provider:
//! which key a call uses, and what its answer says about that key. The secret never leaves
//! this module and the caller's request to the provider: not in responses, not in logs.

use crate::deps::{Deps, Inbound};
use crate::error::ApiError;
use crate::rpc::{Rpc, RpcArgs, RpcAuth};
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

pub struct Token {
    /// `None` for the configuration var's key, which has no row to keep health in.
    id: Option<Value>,
    pub secret: String,
}

/// What a provider call says about the key it used. Only `AuthError` can disable a key: a
/// user controls their prompt, messages and input, so nothing a request can provoke (a 429
/// for a flood, a 4xx for input the provider refuses) may take a key out of the pool for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: the key works.
    Ok,
    /// 401/403: the provider refused the key itself; five in a row disable it.
    AuthError,
    /// 429: the key should rest; it cools down with backoff and comes back by itself.
    RateLimited,
    /// 5xx (Anthropic's 529 too), a transport failure, or an answer we cannot use: the
    /// provider is unwell, the key rests like for a rate limit.
    ServerError,
    /// Any other 4xx: the request was at fault (a user's input the provider refuses).
    RequestError,
}

impl Outcome {
    /// The outcome of an HTTP exchange with the provider; `Err` is a transport failure.
    pub fn of(answer: &Result<Inbound, String>) -> Outcome {
        match answer {
            Ok(r) => Outcome::from_status(r.status),
            Err(_) => Outcome::ServerError,
        }
    }

    pub fn from_status(status: u16) -> Outcome {
        match status {
            200..=299 => Outcome::Ok,
            401 | 403 => Outcome::AuthError,
            429 => Outcome::RateLimited,
            400..=499 => Outcome::RequestError,
            // 5xx, and 1xx/3xx that a JSON API should never send (redirects are not followed).
            _ => Outcome::ServerError,
        }
    }

    /// The name `api.report_provider_token` takes.
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
/// `OPENAI_API_KEY`, `TOGETHER_AI_API_KEY`, ..., but Replicate's own name for it,
/// `REPLICATE_API_TOKEN`, which its clients and docs use.
fn key_var(provider: &str) -> String {
    match provider {
        "replicate" => "REPLICATE_API_TOKEN".to_string(),
        _ => format!("{}_API_KEY", var_prefix(provider)),
    }
}

/// Where `provider`'s API is: its `<PROVIDER>_API_URL` var (`OPENAI_API_URL`,
/// `OPENROUTER_API_URL`, ...; locally the fake provider), else the official API of OpenAI and
/// Anthropic; without a trailing slash, so paths (`/v1/...`) follow.
pub fn api_url(deps: &impl Deps, provider: &str) -> Option<String> {
    let official = match provider {
        "openai" => Some("https://api.openai.com"),
        "anthropic" => Some("https://api.anthropic.com"),
        _ => None,
    };
    deps.var(&format!("{}_API_URL", var_prefix(provider)))
        .or_else(|| official.map(str::to_string))
        .map(|url| url.trim_end_matches('/').to_string())
}

fn var_prefix(provider: &str) -> String {
    provider.to_ascii_uppercase().replace('-', "_")
}

/// The next key of `provider`'s pool; the provider's key var when the pool has none
/// available (a single-key setup, or every pool key cooling down).
pub async fn take(deps: &impl Deps, provider: &str) -> Result<Token, ApiError> {
    let picked = deps
        .rpc()
        .invoke(&NextProviderToken { provider }, &RpcAuth::ServiceRole)
        .await;
    match picked {
        Ok(v) if v["token"].is_string() => Ok(Token {
            id: Some(v["id"].clone()),
            secret: v["token"].as_str().unwrap_or_default().to_string(),
        }),
        // PT503: the pool has no available key for this provider.
        Ok(_) | Err(ApiError { status: 503, .. }) => deps
            .var(&key_var(provider))
            .map(|secret| Token { id: None, secret })
            .ok_or_else(|| ApiError::unavailable(format!("no key available for {provider}"))),
        Err(e) => Err(e),
    }
}

/// Records the outcome of a call made with `token` (nothing for the var's key).
pub async fn report(deps: &impl Deps, token: &Token, outcome: Outcome) {
    if let Some(id) = &token.id {
        // Best effort: a lost counter update must not fail the user's request.
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
    use crate::testing::{block_on, ScriptedDeps};
    use serde_json::json;

    #[test]
    fn only_auth_failures_blame_the_key() {
        let cases = [
            (200, Outcome::Ok),
            (201, Outcome::Ok),
            (401, Outcome::AuthError),
            (403, Outcome::AuthError),
            (429, Outcome::RateLimited),
            (400, Outcome::RequestError),
            (404, Outcome::RequestError),
            (409, Outcome::RequestError),
            (413, Outcome::RequestError),
            (422, Outcome::RequestError),
            (500, Outcome::ServerError),
            (502, Outcome::ServerError),
            (503, Outcome::ServerError),
            (529, Outcome::ServerError),
            (301, Outcome::ServerError),
            (101, Outcome::ServerError),
        ];
        for (status, want) in cases {
            assert_eq!(Outcome::from_status(status), want, "status {status}");
            let answer = Ok(Inbound {
                status,
                body: String::new(),
            });
            assert_eq!(Outcome::of(&answer), want, "status {status}");
        }
        assert_eq!(
            Outcome::of(&Err("connection refused".into())),
            Outcome::ServerError
        );
    }

    #[test]
    fn outcome_names_are_the_ones_sql_accepts() {
        let names: Vec<_> = [
            Outcome::Ok,
            Outcome::AuthError,
            Outcome::RateLimited,
            Outcome::ServerError,
            Outcome::RequestError,
        ]
        .iter()
        .map(|o| o.as_str())
        .collect();
        assert_eq!(
            names,
            [
                "ok",
                "auth_error",
                "rate_limited",
                "server_error",
                "request_error"
            ]
        );
    }

    #[test]
    fn the_fallback_key_var_is_named_after_the_provider() {
        assert_eq!(key_var("openai"), "OPENAI_API_KEY");
        assert_eq!(key_var("together-ai"), "TOGETHER_AI_API_KEY");
        let deps = ScriptedDeps::default().var("GROQ_API_URL", "http://fake/");
        assert_eq!(api_url(&deps, "groq").as_deref(), Some("http://fake"));
        assert_eq!(
            api_url(&deps, "openai").as_deref(),
            Some("https://api.openai.com")
        );
        assert_eq!(api_url(&deps, "together-ai"), None);
        assert_eq!(key_var("replicate"), "REPLICATE_API_TOKEN");
    }

    #[test]
    fn a_pool_key_is_reported_on_and_the_var_key_is_not() {
        let deps = ScriptedDeps::default()
            .answer(
                "next_provider_token",
                Ok(json!({"id": 7, "token": "sk-pool"})),
            )
            .answer("report_provider_token", Ok(json!(null)))
            .answer(
                "next_provider_token",
                Err(ApiError::unavailable("pool empty")),
            )
            .var("OPENAI_API_KEY", "sk-var");
        let pooled = block_on(take(&deps, "openai")).unwrap();
        assert_eq!(pooled.secret, "sk-pool");
        block_on(report(&deps, &pooled, Outcome::RateLimited));
        let fallback = block_on(take(&deps, "openai")).unwrap();
        assert_eq!(fallback.secret, "sk-var");
        block_on(report(&deps, &fallback, Outcome::AuthError));
        let calls = deps.upstream.calls.borrow();
        let args: Vec<_> = calls.iter().map(|(_, args, _)| args.clone()).collect();
        assert_eq!(
            args,
            [
                json!({"p_provider": "openai"}),
                json!({"p_token_id": 7, "p_outcome": "rate_limited"}),
                json!({"p_provider": "openai"}),
            ]
        );
    }

    #[test]
    fn no_pool_key_and_no_var_is_unavailable_and_other_errors_pass_through() {
        let deps = ScriptedDeps::default()
            .answer("next_provider_token", Ok(json!({"token": null})))
            .answer(
                "next_provider_token",
                Err(ApiError::bad_gateway("postgrest down")),
            );
        let err = block_on(take(&deps, "anthropic")).err().unwrap();
        assert_eq!(err.status, 503);
        let err = block_on(take(&deps, "anthropic")).err().unwrap();
        assert_eq!(err.status, 502);
    }
}
