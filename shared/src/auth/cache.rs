use super::{verify_with, AuthError, Claims, KeySet, Policy, SignatureCheck};
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

/// A token naming an unknown `kid` triggers a refetch, but not more often than this, so a
/// flood of forged kids cannot turn into a flood of requests to the JWKS endpoint.
pub const JWKS_REFETCH_INTERVAL_SECS: i64 = 30;

/// Fetched keys are refreshed when older than this, so a key removed from the JWKS (revoked)
/// stops being accepted. Supabase's own edge caches the document for 10 minutes.
pub const JWKS_MAX_AGE_SECS: i64 = 600;

/// The one thing the cache needs from the runtime: a GET returning the body of a 2xx answer.
#[allow(async_fn_in_trait)]
pub trait HttpGet {
    async fn get_text(&self, url: &str) -> Result<String, String>;
}

/// A token [`JwksCache::verify`] accepted, and the generation of the keys that verified it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub claims: Claims,
    pub key_generation: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The token itself is not acceptable (a 401).
    Token(AuthError),
    /// The token names a key we could not learn because the JWKS fetch failed (a 503: the
    /// token may well be valid).
    KeysUnavailable(String),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Token(err) => err.fmt(f),
            VerifyError::KeysUnavailable(cause) => write!(f, "JWKS unavailable: {cause}"),
        }
    }
}

/// Keys for workers: pinned ones (static JWKS and/or HS256 secret) plus a JWKS fetched lazily
/// from `jwks_url`. Single-threaded by design (one per isolate, shared by the requests it
/// serves concurrently): state sits in a `RefCell` that is never borrowed across an `.await`,
/// and a request that needs keys while another one is fetching them waits for that fetch
/// instead of starting its own.
pub struct JwksCache {
    pinned: KeySet,
    jwks_url: Option<String>,
    state: RefCell<State>,
}

struct State {
    /// `pinned` merged with the last good fetch; shared with verifications in progress, which
    /// keep the set they started with across their signature check.
    keys: Rc<KeySet>,
    /// Bumped whenever `keys` changes, so what was verified with other keys can be forgotten.
    generation: u64,
    last_attempt: Option<i64>,
    last_success: Option<i64>,
    last_error: Option<String>,
    /// Fetches under way in this isolate.
    in_flight: u32,
}

impl JwksCache {
    pub fn new(pinned: KeySet, jwks_url: Option<String>) -> JwksCache {
        JwksCache {
            state: RefCell::new(State {
                keys: Rc::new(pinned.clone()),
                generation: 0,
                last_attempt: None,
                last_success: None,
                last_error: None,
                in_flight: 0,
            }),
            pinned,
            jwks_url,
        }
    }

    /// From worker configuration: an optional static JWKS document, an optional HS256 secret
    /// and an optional JWKS URL (see [`JwksCache::supabase_jwks_url`]).
    pub fn from_config(
        static_jwks_json: Option<&str>,
        hs256_secret: Option<&[u8]>,
        jwks_url: Option<String>,
    ) -> Result<JwksCache, AuthError> {
        let mut pinned = match static_jwks_json {
            Some(json) if !json.trim().is_empty() => KeySet::from_jwks_json(json)?,
            _ => KeySet::empty(),
        };
        if let Some(secret) = hs256_secret.filter(|s| !s.is_empty()) {
            pinned = pinned.with_hs256_secret(secret);
        }
        Ok(JwksCache::new(pinned, jwks_url))
    }

    /// `<SUPABASE_URL>/auth/v1/.well-known/jwks.json`
    pub fn supabase_jwks_url(supabase_url: &str) -> String {
        format!(
            "{}/auth/v1/.well-known/jwks.json",
            supabase_url.trim_end_matches('/')
        )
    }

    /// Changes whenever the keys do (never on a refetch that brings the same keys).
    pub fn generation(&self) -> u64 {
        self.state.borrow().generation
    }

    /// Refetches the JWKS if the last good fetch is older than [`JWKS_MAX_AGE_SECS`] (and no
    /// attempt was made in the last [`JWKS_REFETCH_INTERVAL_SECS`]). Says whether it fetched.
    pub async fn refresh_if_stale<H: HttpGet>(&self, now_unix: i64, http: &H) -> bool {
        if self.is_stale(now_unix) && self.may_fetch(now_unix) {
            self.refresh(now_unix, http).await;
            return true;
        }
        false
    }

    /// Verifies `token`, `signatures` checking ES256 and RS256, fetching the JWKS when it is
    /// stale or the token names an unknown `kid`. At most one refetch per call.
    pub async fn verify<H: HttpGet, S: SignatureCheck + ?Sized>(
        &self,
        token: &str,
        policy: &Policy,
        now_unix: i64,
        http: &H,
        signatures: &S,
    ) -> Result<Verified, VerifyError> {
        let fetched = self.refresh_if_stale(now_unix, http).await;
        let mut result = self.verify_now(token, policy, now_unix, signatures).await;
        // While another request's fetch is in flight this one fetches too, rather than wait:
        // in Workers a request cannot wait on another request's I/O (the runtime cancels it
        // as hung), so concurrent cold requests each fetch once.
        let in_flight = self.state.borrow().in_flight > 0;
        if matches!(result, Err(AuthError::UnknownKey { .. }))
            && !fetched
            && (in_flight || self.may_fetch(now_unix))
        {
            self.refresh(now_unix, http).await;
            result = self.verify_now(token, policy, now_unix, signatures).await;
        }
        match result {
            Err(AuthError::UnknownKey { kid }) => match self.state.borrow().last_error.clone() {
                Some(cause) => Err(VerifyError::KeysUnavailable(cause)),
                None => Err(VerifyError::Token(AuthError::UnknownKey { kid })),
            },
            other => other.map_err(VerifyError::Token),
        }
    }

    async fn verify_now<S: SignatureCheck + ?Sized>(
        &self,
        token: &str,
        policy: &Policy,
        now: i64,
        signatures: &S,
    ) -> Result<Verified, AuthError> {
        // A snapshot: the signature check may wait, and the state must not stay borrowed.
        let (keys, key_generation) = {
            let state = self.state.borrow();
            (state.keys.clone(), state.generation)
        };
        let claims = verify_with(token, &keys, policy, now, signatures).await?;
        Ok(Verified {
            claims,
            key_generation,
        })
    }

    fn is_stale(&self, now: i64) -> bool {
        let state = self.state.borrow();
        self.jwks_url.is_some()
            && state
                .last_success
                .is_some_and(|t| now - t >= JWKS_MAX_AGE_SECS)
    }

    fn may_fetch(&self, now: i64) -> bool {
        let state = self.state.borrow();
        self.jwks_url.is_some()
            && state
                .last_attempt
                .is_none_or(|t| now - t >= JWKS_REFETCH_INTERVAL_SECS || now < t)
    }

    async fn refresh<H: HttpGet>(&self, now: i64, http: &H) {
        let Some(url) = &self.jwks_url else {
            return;
        };
        // Recorded before the await so concurrent requests in this isolate see the fetch.
        let mut guard = InFlight::start(&self.state, now);
        let outcome = http
            .get_text(url)
            .await
            .and_then(|body| KeySet::from_jwks_json(&body).map_err(|e| e.to_string()));
        {
            let mut state = self.state.borrow_mut();
            match outcome {
                Ok(fetched) => {
                    let keys = self.pinned.clone().merged_with(&fetched);
                    if keys != *state.keys {
                        state.keys = Rc::new(keys);
                        state.generation += 1;
                    }
                    state.last_success = Some(now);
                    state.last_error = None;
                }
                // Keep the previous keys: a blip at the JWKS endpoint must not log everyone out.
                Err(cause) => state.last_error = Some(format!("GET {url}: {cause}")),
            }
        }
        guard.completed = true;
    }
}

/// Marks a fetch in flight. A fetch abandoned half-way (its request was cancelled) does not
/// count against the refetch interval.
struct InFlight<'a> {
    state: &'a RefCell<State>,
    previous_attempt: Option<i64>,
    completed: bool,
}

impl<'a> InFlight<'a> {
    fn start(state: &'a RefCell<State>, now: i64) -> InFlight<'a> {
        let mut s = state.borrow_mut();
        s.in_flight += 1;
        let previous_attempt = s.last_attempt.replace(now);
        InFlight {
            state,
            previous_attempt,
            completed: false,
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut state = self.state.borrow_mut();
        state.in_flight -= 1;
        if !self.completed {
            state.last_attempt = self.previous_attempt;
        }
    }
}

impl fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksCache")
            .field("jwks_url", &self.jwks_url)
            .field("keys", &self.state.borrow().keys)
            .finish()
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
