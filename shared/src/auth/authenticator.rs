use super::token_cache::{TokenCache, TokenDigest, TOKEN_CACHE_ENTRIES};
use super::{AuthError, Claims, HttpGet, JwksCache, Policy, SignatureCheck, VerifyError};
use crate::error::ApiError;
use crate::http::bearer_from_header;
use std::cell::RefCell;
use std::fmt;

/// The per-request entry point for workers: `Authorization` header in, claims or a 401 out.
/// One per isolate: it remembers the tokens it verified (see [`TokenCache`]).
pub struct Authenticator {
    pub keys: JwksCache,
    pub policy: Policy,
    signatures: Box<dyn SignatureCheck>,
    tokens: RefCell<TokenCache>,
}

impl Authenticator {
    /// Checks ES256 and RS256 signatures with jwt-compact.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(keys: JwksCache, policy: Policy) -> Authenticator {
        Authenticator::with_signatures(keys, policy, Box::new(super::NativeSignatures))
    }

    pub fn with_signatures(
        keys: JwksCache,
        policy: Policy,
        signatures: Box<dyn SignatureCheck>,
    ) -> Authenticator {
        Authenticator {
            keys,
            policy,
            signatures,
            tokens: RefCell::new(TokenCache::new(TOKEN_CACHE_ENTRIES)),
        }
    }

    pub async fn authenticate<H: HttpGet>(
        &self,
        authorization_header: Option<&str>,
        now_unix: i64,
        http: &H,
    ) -> Result<Claims, ApiError> {
        let token = bearer_token(authorization_header)?;
        // Before the cache, so a key removed from the JWKS stops working even for clients
        // whose every request is a cache hit.
        self.keys.refresh_if_stale(now_unix, http).await;
        let digest = TokenDigest::of(token);
        let generation = self.keys.generation();
        if let Some(claims) = self.tokens.borrow().get(&digest, generation, now_unix) {
            return Ok(claims);
        }
        let verified = self
            .keys
            .verify(token, &self.policy, now_unix, http, &*self.signatures)
            .await
            .map_err(|err| match err {
                VerifyError::Token(err) => auth_error_to_api(&err),
                VerifyError::KeysUnavailable(cause) => ApiError::unavailable(cause),
            })?;
        // Filed under the keys that verified it: if they have been replaced since (during a
        // signature check that waited), the entry is never stored.
        self.tokens.borrow_mut().insert(
            digest,
            &verified.claims,
            verified.key_generation,
            now_unix,
        );
        Ok(verified.claims)
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("keys", &self.keys)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn bearer_token(header: Option<&str>) -> Result<&str, ApiError> {
    if header.is_none_or(|h| h.trim().is_empty()) {
        return Err(ApiError::new(
            401,
            "missing_token",
            "missing Authorization: Bearer token",
        ));
    }
    bearer_from_header(header).ok_or_else(|| {
        ApiError::new(
            401,
            "missing_token",
            "Authorization header must be 'Bearer <token>'",
        )
    })
}

/// Every token problem is a 401 whose code says which check failed.
pub(crate) fn auth_error_to_api(err: &AuthError) -> ApiError {
    ApiError::new(401, err.code(), err.to_string())
}

#[cfg(test)]
#[path = "authenticator_tests.rs"]
mod tests;
