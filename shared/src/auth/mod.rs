//! Supabase JWT verification (RFC 8725 best practices).
//!
//! The core ([`verify_with`] over a [`KeySet`]) parses the token and checks `exp`/`nbf` with
//! jwt-compact on every target, picks the key, checks HS256 and the claims jwt-compact does
//! not know; the ES256/RS256 signature step is the runtime's ([`SignatureCheck`]): WebCrypto
//! in Workers, jwt-compact natively ([`verify`], used by the PostgREST stand-in).
//! [`JwksCache`] adds key fetching for workers, and [`Authenticator`] a per-isolate cache of
//! verified tokens.

mod authenticator;
mod cache;
mod claims;
mod keys;
mod mint;
#[cfg(not(target_arch = "wasm32"))]
mod native;
mod signature;
mod token_cache;
mod verify;

#[cfg(test)]
mod test_keys;

pub use authenticator::Authenticator;
pub use cache::{
    HttpGet, JwksCache, Verified, VerifyError, JWKS_MAX_AGE_SECS, JWKS_REFETCH_INTERVAL_SECS,
};
pub use claims::Claims;
pub use keys::{KeySet, PublicKey};
pub use mint::mint_hs256;
#[cfg(not(target_arch = "wasm32"))]
pub use native::NativeSignatures;
pub use signature::{SignatureCheck, SignatureFuture};
#[cfg(not(target_arch = "wasm32"))]
pub use verify::verify;
pub use verify::{verify_with, MAX_TOKEN_BYTES};

use std::fmt;

/// What the caller demands of a token beyond a valid signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Required `aud` (string, or one entry of an array); `None` skips the check.
    pub audience: Option<String>,
    /// Required `iss`; `None` skips the check.
    pub issuer: Option<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway_secs: i64,
    /// Demand a non-empty `role` claim (PostgREST switches to that role).
    pub require_role: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            audience: None,
            issuer: None,
            leeway_secs: 30,
            require_role: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// Longer than [`MAX_TOKEN_BYTES`]; refused before any parsing.
    TooLarge,
    Malformed,
    /// `none`, an algorithm we do not support, or one that does not match the chosen key.
    AlgorithmNotAllowed,
    /// `kid` names no known key (empty when the token has no `kid` and no key fits).
    UnknownKey {
        kid: String,
    },
    BadSignature,
    Expired,
    NotYetValid,
    WrongAudience,
    WrongIssuer,
    MissingRole,
    MissingExp,
}

impl AuthError {
    /// Stable snake_case code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::TooLarge => "token_too_large",
            AuthError::Malformed => "invalid_token",
            AuthError::AlgorithmNotAllowed => "token_algorithm_not_allowed",
            AuthError::UnknownKey { .. } => "unknown_signing_key",
            AuthError::BadSignature => "invalid_token_signature",
            AuthError::Expired => "token_expired",
            AuthError::NotYetValid => "token_not_yet_valid",
            AuthError::WrongAudience => "invalid_token_audience",
            AuthError::WrongIssuer => "invalid_token_issuer",
            AuthError::MissingRole => "token_missing_role",
            AuthError::MissingExp => "token_missing_exp",
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::TooLarge => write!(f, "token exceeds {MAX_TOKEN_BYTES} bytes"),
            AuthError::Malformed => f.write_str("token is not a well-formed JWT"),
            AuthError::AlgorithmNotAllowed => {
                f.write_str("token signing algorithm is not allowed for this key")
            }
            AuthError::UnknownKey { kid } if kid.is_empty() => {
                f.write_str("token names no signing key and none fits")
            }
            AuthError::UnknownKey { kid } => {
                // The kid is the caller's input; keep log lines short.
                let kid: String = kid.chars().take(64).collect();
                write!(f, "token signing key {kid:?} is unknown")
            }
            AuthError::BadSignature => f.write_str("token signature is invalid"),
            AuthError::Expired => f.write_str("token has expired"),
            AuthError::NotYetValid => f.write_str("token is not valid yet"),
            AuthError::WrongAudience => f.write_str("token audience is not accepted"),
            AuthError::WrongIssuer => f.write_str("token issuer is not accepted"),
            AuthError::MissingRole => f.write_str("token has no role claim"),
            AuthError::MissingExp => f.write_str("token has no exp claim"),
        }
    }
}

impl std::error::Error for AuthError {}
