//! Who the request runs as: the `Authorization: Bearer` JWT checked like PostgREST does
//! (docs.postgrest.org, references/auth.html), or the anonymous role when there is none.
//! The cryptography lives in `genbase_shared::auth`; this module only maps its outcome onto
//! PostgREST's behaviour and error codes.

use crate::errors::ApiError;
use crate::keys::Keys;
use genbase_shared::auth::{self, AuthError, Policy};
use serde_json::Value;

/// PostgREST allows 30 s of clock skew on exp/nbf/iat and checks no audience or issuer unless
/// configured (the stand-in has no such settings).
fn policy() -> Policy {
    Policy {
        audience: None,
        issuer: None,
        leeway_secs: 30,
        require_role: false,
    }
}

/// The identity a request runs as.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The role for `SET LOCAL ROLE`.
    pub role: String,
    /// The value of `request.jwt.claims`.
    pub claims: Value,
    /// True when the request runs as another role than the anonymous one (PostgREST's
    /// definition: `authRole /= db-anon-role`). It decides 403 vs 401 for 42501, so the anon
    /// key (a valid JWT whose role is `anon`) still gets 401, as on Supabase.
    pub authenticated: bool,
}

/// Checks the `Authorization` header (if any). `now` is the Unix time in seconds.
pub fn authenticate(
    authorization: Option<&str>,
    keys: &Keys,
    anon_role: &str,
    now: i64,
) -> Result<Identity, ApiError> {
    let Some(token) = authorization.and_then(bearer_token) else {
        // No JWT: the anonymous role, and claims that say so (PostgREST: "The role in
        // request.jwt.claims defaults to the value of db-anon-role").
        return Ok(Identity {
            role: anon_role.to_string(),
            claims: serde_json::json!({ "role": anon_role }),
            authenticated: false,
        });
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(invalid("Empty JWT is sent in Authorization header"));
    }
    let parts = token.split('.').count();
    if parts != 3 {
        return Err(invalid(format!("Expected 3 parts in JWT; got {parts}")));
    }
    if !keys.any {
        return Err(ApiError::new(500, "PGRST300", "Server lacks JWT secret"));
    }
    let claims = auth::verify(token, &keys.key_set, &policy(), now).map_err(map_error)?;
    let mut raw = claims.raw;
    // PostgREST reads the `role` claim; absent (or not a non-empty string) means anonymous.
    let role = match raw.get("role").and_then(Value::as_str) {
        Some(r) if !r.is_empty() => r.to_string(),
        _ => {
            if let Value::Object(map) = &mut raw {
                map.insert("role".into(), Value::String(anon_role.to_string()));
            }
            anon_role.to_string()
        }
    };
    let authenticated = role != anon_role;
    Ok(Identity {
        role,
        claims: raw,
        authenticated,
    })
}

/// `Bearer xxx` or `bearer xxx` (PostgREST accepts both spellings). Any other scheme is not a
/// JWT and leaves the request anonymous.
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    (scheme == "Bearer" || scheme == "bearer").then_some(rest)
}

/// PGRST301: the token could not be decoded or its signature is wrong. (PGRST303 is for a
/// good signature over rejected claims: expired, not yet valid, ...)
fn invalid(message: impl Into<String>) -> ApiError {
    jwt_error("PGRST301", message.into())
}

fn jwt_error(code: &str, message: String) -> ApiError {
    // RFC 6750 challenge, worded like PostgREST's.
    let challenge = format!(
        "Bearer error=\"invalid_token\", error_description={}",
        serde_json::to_string(&message).unwrap_or_default()
    );
    ApiError::new(401, code, message).www_authenticate(challenge)
}

/// `genbase_shared::auth` errors -> PostgREST's JWT errors and messages (PostgREST.Error).
fn map_error(err: AuthError) -> ApiError {
    let (code, message) = match &err {
        AuthError::Expired => ("PGRST303", "JWT expired"),
        AuthError::NotYetValid => ("PGRST303", "JWT not yet valid"),
        AuthError::WrongAudience => ("PGRST303", "JWT not in audience"),
        // PostgREST accepts tokens without exp; the shared verifier (and so the stand-in) does not.
        AuthError::MissingExp => ("PGRST303", "JWT has no exp claim"),
        AuthError::WrongIssuer | AuthError::MissingRole => ("PGRST303", "Parsing claims failed"),
        AuthError::AlgorithmNotAllowed => ("PGRST301", "Wrong or unsupported encoding algorithm"),
        AuthError::UnknownKey { .. } => ("PGRST301", "No suitable key or wrong key type"),
        AuthError::BadSignature => ("PGRST301", "JWT cryptographic operation failed"),
        AuthError::TooLarge | AuthError::Malformed => ("PGRST301", "JWT couldn't be decoded"),
    };
    jwt_error(code, message.to_string()).details(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use genbase_shared::auth::{mint_hs256, KeySet};
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn keys() -> Keys {
        Keys {
            key_set: KeySet::empty().with_hs256_secret(SECRET),
            any: true,
            public_jwks: json!({"keys": []}),
        }
    }

    #[test]
    fn no_token_or_other_scheme_is_anonymous() {
        for header in [None, Some("Basic abc"), Some("Token x.y.z")] {
            let id = authenticate(header, &keys(), "anon", 0).unwrap();
            assert_eq!(
                id,
                Identity {
                    role: "anon".into(),
                    claims: json!({"role": "anon"}),
                    authenticated: false
                }
            );
        }
    }

    #[test]
    fn bad_tokens_are_401_with_a_challenge() {
        for (header, code) in [
            ("Bearer ", "PGRST301"),
            ("Bearer a.b", "PGRST301"),
            ("bearer a.b.c", "PGRST301"),
        ] {
            let e = authenticate(Some(header), &keys(), "anon", 0).unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (401, code), "{header}");
            let challenge = e.www_authenticate.as_deref().unwrap_or_default();
            assert!(
                challenge.starts_with("Bearer error=\"invalid_token\""),
                "{challenge}"
            );
        }
    }

    #[test]
    fn role_claim_or_anon() {
        let now = 1_700_000_000;
        let t = mint_hs256(
            &json!({"role": "authenticated", "sub": "u", "exp": now + 60}),
            SECRET,
            None,
        );
        let id = authenticate(Some(&format!("Bearer {t}")), &keys(), "anon", now).unwrap();
        assert_eq!(
            (id.role.as_str(), id.authenticated),
            ("authenticated", true)
        );
        let t = mint_hs256(&json!({"sub": "u", "exp": now + 60}), SECRET, None);
        let id = authenticate(Some(&format!("Bearer {t}")), &keys(), "anon", now).unwrap();
        assert_eq!((id.role.as_str(), id.authenticated), ("anon", false));
        assert_eq!(
            id.claims,
            json!({"sub": "u", "exp": now + 60, "role": "anon"})
        );
        let t = mint_hs256(
            &json!({"role": "authenticated", "exp": now - 31}),
            SECRET,
            None,
        );
        let e = authenticate(Some(&format!("Bearer {t}")), &keys(), "anon", now).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str(), e.message.as_str()),
            (401, "PGRST303", "JWT expired")
        );
        let none = Keys {
            key_set: KeySet::empty(),
            any: false,
            public_jwks: json!({}),
        };
        let e = authenticate(Some(&format!("Bearer {t}")), &none, "anon", now).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (500, "PGRST300"));
    }
}
