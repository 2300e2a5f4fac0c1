//! Requests per minute, checked once per request in [`crate::serve`] before the handler runs:
//! a refused request reaches no RPC (so it changes and charges nothing) and is answered 429
//! with `Retry-After` in the one error body, and logged like any answer (the request log
//! counts it under its function and status).
//!
//! The counters are the Workers Rate Limiting binding (`[[ratelimits]]` in each function's
//! `wrangler.toml`; locally, wrangler's miniflare implements the same binding in memory). A
//! request with a valid user token counts against its user ([`USER_BINDING`]); any other
//! against its client's IP address ([`IP_BINDING`]). Only requests without a user count per
//! IP: many users share an address (an office, the end-to-end suite's 127.0.0.1), and a
//! signed-in user is already limited by who they are. The service role (our own tools) is
//! not limited. A function without the bindings is not limited: the provider webhooks and
//! the GPU workers' endpoints, which authenticate by signature or worker key and whose
//! callers retry on their own schedule.
//!
//! In production every function's bindings share one namespace per limit, so a user's
//! requests count together across the API (per Cloudflare location); locally each Worker
//! counts its own.
//!
//! Locally, the pinned wrangler (4.86) gives the binding only to the first Worker of a
//! multi-config `wrangler dev` session (the router): it strips rate limit bindings from the
//! others (fixed upstream later, cloudflare/workers-sdk#14572). So the local stack passes each
//! binding's settings as a var ([`LOCAL_VAR_PREFIX`]) and a Worker without the binding counts
//! in [`LocalWindows`], which does what miniflare's binding does: fixed windows aligned to the
//! clock, counted per key in the Worker's memory. A deployed Worker has no such var.

use genbase_shared::error::ApiError;
use std::collections::HashMap;
use uuid::Uuid;

/// The binding counting a signed-in user's requests.
pub const USER_BINDING: &str = "USER_RATE_LIMIT";
/// The binding counting the requests without a user, per client address.
pub const IP_BINDING: &str = "IP_RATE_LIMIT";
/// The bindings' period (`[ratelimits.simple] period`): the window a count lasts.
pub const PERIOD_SECS: u64 = 60;

/// Whom a request counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    User(Uuid),
    /// The client's address (`cf-connecting-ip`, which Cloudflare sets and a client cannot),
    /// or "unknown" when there is none.
    Ip(String),
}

impl Caller {
    /// The request's caller: its verified user, else its address. `user` is the verified
    /// token's user, `None` for no token, a bad one, or a token without a user.
    pub fn of(user: Option<Uuid>, connecting_ip: Option<&str>) -> Caller {
        match user {
            Some(id) => Caller::User(id),
            None => Caller::Ip(
                connecting_ip
                    .map(str::trim)
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or("unknown")
                    .to_string(),
            ),
        }
    }

    pub fn binding(&self) -> &'static str {
        match self {
            Caller::User(_) => USER_BINDING,
            Caller::Ip(_) => IP_BINDING,
        }
    }

    /// The counter's key; the prefix keeps a user id and an address apart.
    pub fn key(&self) -> String {
        match self {
            Caller::User(id) => format!("user:{id}"),
            Caller::Ip(ip) => format!("ip:{ip}"),
        }
    }

    /// The refusal: 429 naming the limit, `Retry-After` the seconds until the window ends.
    pub fn refusal(&self, now_ms: u64) -> ApiError {
        let (limit, per) = match self {
            Caller::User(_) => ("user_requests_per_minute", "this user"),
            Caller::Ip(_) => (
                "ip_requests_per_minute",
                "this address without a signed-in user",
            ),
        };
        let wait = retry_after(now_ms);
        ApiError::rate_limited(
            format!(
                "rate limit reached: {limit} allows no more requests from {per} in this minute; retry after {wait} seconds"
            ),
            wait,
        )
    }
}

/// Whole seconds until the current window ends: windows are aligned to the clock (as the
/// local binding's are; Cloudflare's are approximate), so this is 1 to [`PERIOD_SECS`].
pub fn retry_after(now_ms: u64) -> u32 {
    let into_window = (now_ms / 1000) % PERIOD_SECS;
    (PERIOD_SECS - into_window) as u32
}

/// The var naming a binding's settings where wrangler left the binding out (the local stack
/// sets it from the function's `[[ratelimits]]`): `LOCAL_RATELIMIT_<binding>` = `limit/60`.
pub const LOCAL_VAR_PREFIX: &str = "LOCAL_RATELIMIT_";

/// A binding's requests per window, from its [`LOCAL_VAR_PREFIX`] var.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalLimit {
    limit: u32,
}

impl LocalLimit {
    /// `limit/period`; the period must be [`PERIOD_SECS`], the one [`retry_after`] counts in.
    pub fn parse(value: &str) -> Option<LocalLimit> {
        let (limit, period) = value.trim().split_once('/')?;
        let limit = limit.trim().parse().ok()?;
        (period.trim().parse::<u64>().ok()? == PERIOD_SECS).then_some(LocalLimit { limit })
    }
}

/// The local stand-in for one binding: the counts of the current window, per key.
#[derive(Debug, Default)]
pub struct LocalWindows {
    window: u64,
    counts: HashMap<String, u32>,
}

impl LocalWindows {
    /// Counts a request of `key` at `now_ms`: true when it is within `limit`. A refused
    /// request is not counted, as the binding does not count it.
    pub fn allow(&mut self, key: &str, limit: LocalLimit, now_ms: u64) -> bool {
        let window = now_ms / 1000 / PERIOD_SECS;
        if window != self.window {
            self.window = window;
            self.counts.clear();
        }
        let count = self.counts.entry(key.to_string()).or_insert(0);
        if *count >= limit.limit {
            return false;
        }
        *count += 1;
        true
    }
}

#[cfg(target_arch = "wasm32")]
pub use edge::check;

#[cfg(target_arch = "wasm32")]
mod edge {
    use super::{Caller, LocalLimit, LocalWindows, LOCAL_VAR_PREFIX};
    use crate::deps::EdgeDeps;
    use genbase_shared::deps::Deps;
    use genbase_shared::error::ApiError;
    use genbase_shared::http::ApiRequest;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use worker::{console_error, Date};

    thread_local! {
        /// The local stand-in's counts, per binding, for this Worker's isolate.
        static LOCAL: RefCell<HashMap<&'static str, LocalWindows>> = RefCell::new(HashMap::new());
    }

    /// Ok when the request may go on; the 429 otherwise. A request with a token has it
    /// verified here (the handler's own check then hits the authenticator's cache), and its
    /// user is remembered for the request log.
    pub async fn check(deps: &EdgeDeps, req: &ApiRequest) -> Result<(), ApiError> {
        let claims = match req.header("authorization") {
            Some(_) => deps.authenticate(req).await.ok(),
            None => None,
        };
        if claims
            .as_ref()
            .is_some_and(|c| c.role.as_deref() == Some("service_role"))
        {
            return Ok(());
        }
        let caller = Caller::of(
            claims.and_then(|c| c.user_id()),
            req.header("cf-connecting-ip"),
        );
        let binding = caller.binding();
        let now_ms = Date::now().as_millis();
        let allowed = match deps.env.rate_limiter(binding) {
            Ok(limiter) => match limiter.limit(caller.key()).await {
                Ok(outcome) => outcome.success,
                // The limiter failing must not take the API down with it: the request goes on.
                Err(e) => {
                    console_error!("rate limiter {binding} failed: {e}");
                    true
                }
            },
            Err(_) => match deps
                .var(&format!("{LOCAL_VAR_PREFIX}{binding}"))
                .and_then(|v| LocalLimit::parse(&v))
            {
                Some(limit) => LOCAL.with_borrow_mut(|windows| {
                    windows
                        .entry(binding)
                        .or_default()
                        .allow(&caller.key(), limit, now_ms)
                }),
                // Neither: a function without limits (the webhooks, the GPU workers' API).
                None => true,
            },
        };
        match allowed {
            true => Ok(()),
            false => Err(caller.refusal(now_ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verified_user_counts_as_themselves_whatever_their_address() {
        let id = Uuid::from_u128(7);
        let caller = Caller::of(Some(id), Some("203.0.113.9"));
        assert_eq!(caller.binding(), USER_BINDING);
        assert_eq!(caller.key(), format!("user:{id}"));
    }

    #[test]
    fn a_request_without_a_user_counts_against_its_address() {
        let caller = Caller::of(None, Some(" 203.0.113.9 "));
        assert_eq!(
            (caller.binding(), caller.key()),
            (IP_BINDING, "ip:203.0.113.9".to_string())
        );
        // No address (a request that did not come through Cloudflare): one shared counter.
        assert_eq!(Caller::of(None, None).key(), "ip:unknown");
        assert_eq!(Caller::of(None, Some("")).key(), "ip:unknown");
    }

    #[test]
    fn retry_after_is_the_rest_of_the_window() {
        assert_eq!(retry_after(0), 60);
        assert_eq!(retry_after(59_999), 1);
        assert_eq!(retry_after(60_000), 60);
        assert_eq!(retry_after(125_500), 55);
    }

    #[test]
    fn the_local_var_gives_the_limit_per_minute_and_nothing_else() {
        assert_eq!(
            LocalLimit::parse("1200/60"),
            Some(LocalLimit { limit: 1200 })
        );
        assert_eq!(LocalLimit::parse(" 3 / 60 "), Some(LocalLimit { limit: 3 }));
        // Retry-After counts in minutes: another period would answer the wrong wait.
        assert_eq!(LocalLimit::parse("3/10"), None);
        assert_eq!(LocalLimit::parse("3"), None);
        assert_eq!(LocalLimit::parse("x/60"), None);
    }

    #[test]
    fn the_local_stand_in_allows_the_limit_per_key_and_window_then_refuses() {
        let limit = LocalLimit { limit: 2 };
        let mut windows = LocalWindows::default();
        let at = 120_000; // the start of a window
        assert!(windows.allow("user:a", limit, at));
        assert!(windows.allow("user:a", limit, at + 1_000));
        assert!(
            !windows.allow("user:a", limit, at + 2_000),
            "the third in the window"
        );
        assert!(
            !windows.allow("user:a", limit, at + 59_999),
            "still that window"
        );
        assert!(
            windows.allow("user:b", limit, at + 3_000),
            "another key counts apart"
        );
        assert!(
            windows.allow("user:a", limit, at + 60_000),
            "a new window starts afresh"
        );
    }

    #[test]
    fn a_refusal_is_a_429_naming_the_limit_with_retry_after() {
        let err = Caller::of(Some(Uuid::from_u128(1)), None).refusal(30_000);
        assert_eq!((err.status, err.code.as_str()), (429, "rate_limited"));
        assert!(
            err.message.contains("user_requests_per_minute"),
            "{}",
            err.message
        );
        assert_eq!(err.headers, vec![("retry-after".into(), "30".into())]);
        let err = Caller::of(None, Some("198.51.100.1")).refusal(0);
        assert!(
            err.message.contains("ip_requests_per_minute"),
            "{}",
            err.message
        );
        assert_eq!(err.headers[0].1, "60");
    }
}
