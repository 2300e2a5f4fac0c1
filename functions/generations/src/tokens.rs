//! The provider token pool: which token a call uses, and what its outcome says about the
//! token. The secret never leaves this module and `provider`: not in responses, not in logs.

use crate::args::{NextProviderToken, ReportProviderToken};
use genbase_shared::deps::{Deps, Inbound};
use genbase_shared::error::ApiError;
use genbase_shared::rpc::{Rpc, RpcAuth};
use serde_json::Value;

pub struct PoolToken {
    id: Option<Value>,
    pub secret: String,
}

/// What a provider call says about the token it used. Only `AuthError` can disable a token:
/// a user controls their prompt and input, so anything a request can provoke (a 429 for a
/// flood, a 422 for bad input) must never take a token out of the pool for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: the token works.
    Ok,
    /// 401/403: the provider refused the token itself; five in a row disable it.
    AuthError,
    /// 429: the token should rest; it cools down with backoff and comes back by itself.
    RateLimited,
    /// 5xx, a transport failure, or an answer we cannot use: the provider is unwell, the
    /// token rests like for a rate limit.
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
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::AuthError => "auth_error",
            Outcome::RateLimited => "rate_limited",
            Outcome::ServerError => "server_error",
            Outcome::RequestError => "request_error",
        }
    }
}

/// Next token, round-robin from `provider_tokens`; the `REPLICATE_API_TOKEN` var when the
/// pool has no token available (a single-token setup, or every pool token cooling down).
pub async fn take(deps: &impl Deps) -> Result<PoolToken, ApiError> {
    let args = NextProviderToken {
        provider: "replicate",
    };
    let picked = deps.rpc().invoke(&args, &RpcAuth::ServiceRole).await;
    match picked {
        Ok(v) if v["token"].is_string() => Ok(PoolToken {
            id: Some(v["id"].clone()),
            secret: v["token"].as_str().unwrap_or_default().to_string(),
        }),
        // PT503: the pool has no available token for this provider.
        Ok(_) | Err(ApiError { status: 503, .. }) => deps
            .var("REPLICATE_API_TOKEN")
            .map(|secret| PoolToken { id: None, secret })
            .ok_or_else(|| ApiError::unavailable("no provider token configured")),
        Err(e) => Err(e),
    }
}

/// Records the outcome of a call made with `token` (nothing for the var token, which has
/// no row to keep health in).
pub async fn report(deps: &impl Deps, token: &PoolToken, outcome: Outcome) {
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
    use super::Outcome;
    use genbase_shared::deps::Inbound;

    #[test]
    fn only_auth_failures_blame_the_token() {
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
}
