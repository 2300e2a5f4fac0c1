//! Who a Storage request runs as, and the signed-URL tokens, as Supabase Storage does it
//! (storage: src/http/plugins/jwt.ts, src/internal/auth/jwt.ts, src/storage/object.ts).
//!
//! The request's JWT is checked with the stand-in's keys (the same `genbase_shared::auth`
//! verifier as the RPC path), without PostgREST's clock skew: Storage uses jose's defaults.
//! Signed URLs are HS256 JWTs signed with the JWT secret:
//! download `{url: "bucket/name", scope: "download", iat, exp}`,
//! upload `{owner, url, upsert, scope: "upload", iat, exp}`.

use super::error::StorageError;
use super::route::Access;
use crate::keys::Keys;
use genbase_shared::auth::{self, mint_hs256, AuthError, Policy};
use serde_json::{json, Value};

/// The role that bypasses RLS: Storage's "super user" for public and signed routes.
pub const SERVICE_ROLE: &str = "service_role";
const ANON_ROLE: &str = "anon";

/// How long a signed upload URL is valid (Storage's `uploadSignedUrlExpirationTime`).
pub const UPLOAD_URL_SECONDS: i64 = 7200;

/// Largest `expiresIn` Storage accepts: the expiry must stay a safe JavaScript integer of ms.
const MAX_EXPIRY_UNIX: i64 = 9_007_199_254_740;

fn policy() -> Policy {
    Policy {
        audience: None,
        issuer: None,
        leeway_secs: 0,
        require_role: false,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub role: String,
    /// The verified claims (`request.jwt.claims`).
    pub claims: Value,
    /// The raw token (`request.jwt`), empty without one.
    pub jwt: String,
    /// The `sub` claim: the owner of what this caller uploads.
    pub sub: Option<String>,
    /// A valid JWT was presented (Storage's `isAuthenticated`; the anon key counts).
    pub authenticated: bool,
}

impl Identity {
    pub fn service_role() -> Identity {
        Identity {
            role: SERVICE_ROLE.into(),
            claims: json!({ "role": SERVICE_ROLE }),
            jwt: String::new(),
            sub: None,
            authenticated: true,
        }
    }

    fn anonymous() -> Identity {
        Identity {
            role: ANON_ROLE.into(),
            claims: json!({ "role": ANON_ROLE }),
            jwt: String::new(),
            sub: None,
            authenticated: false,
        }
    }
}

/// The caller of a route with `access`, from its `Authorization` header.
pub fn identify(
    authorization: Option<&str>,
    keys: &Keys,
    access: Access,
    now: i64,
) -> Result<Identity, StorageError> {
    if access == Access::Public {
        return Ok(Identity::service_role());
    }
    let token = strip_bearer(authorization.unwrap_or("")).trim();
    if token.is_empty() && access == Access::Optional {
        return Ok(Identity::anonymous());
    }
    match auth::verify(token, &keys.key_set, &policy(), now) {
        Ok(claims) => {
            let role = match claims.raw.get("role").and_then(Value::as_str) {
                Some(r) if !r.is_empty() => r.to_string(),
                _ => ANON_ROLE.to_string(),
            };
            Ok(Identity {
                role,
                sub: claims.sub.clone(),
                claims: claims.raw,
                jwt: token.to_string(),
                authenticated: true,
            })
        }
        Err(_) if access == Access::Optional => Ok(Identity::anonymous()),
        Err(e) => Err(StorageError::access_denied(jose_message(&e))),
    }
}

/// Storage strips `Bearer ` case-insensitively and takes anything else as the token itself.
fn strip_bearer(header: &str) -> &str {
    match header.get(..6) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer") => {
            let rest = &header[6..];
            let trimmed = rest.trim_start();
            if trimmed.len() < rest.len() {
                trimmed
            } else {
                header
            }
        }
        _ => header,
    }
}

/// The messages Storage passes on from jose for the same failures.
fn jose_message(e: &AuthError) -> String {
    match e {
        AuthError::TooLarge | AuthError::Malformed => "Invalid Compact JWS".into(),
        AuthError::BadSignature => "signature verification failed".into(),
        AuthError::Expired => "\"exp\" claim timestamp check failed".into(),
        AuthError::NotYetValid => "\"nbf\" claim timestamp check failed".into(),
        AuthError::AlgorithmNotAllowed => {
            "\"alg\" (Algorithm) Header Parameter value not allowed".into()
        }
        AuthError::UnknownKey { .. } => "no applicable key found in the JSON Web Key Set".into(),
        other => other.to_string(),
    }
}

/// `expiresIn` of a sign request: a positive integer (the route's schema), small enough for
/// the expiry to be representable (Storage's `assertValidNumericJWTExpiration`).
pub fn expires_in(body: &Value, now: i64) -> Result<i64, StorageError> {
    let value = body.get("expiresIn").ok_or_else(|| {
        StorageError::invalid_request("body must have required property 'expiresIn'")
    })?;
    let n = value
        .as_i64()
        .ok_or_else(|| StorageError::invalid_request("body/expiresIn must be integer"))?;
    if n < 1 {
        return Err(StorageError::invalid_request("body/expiresIn must be >= 1"));
    }
    if n > MAX_EXPIRY_UNIX - now {
        return Err(StorageError::invalid_parameter(
            "Invalid Parameter expiresIn",
        ));
    }
    Ok(n)
}

/// A signed download token for `bucket/name`.
pub fn sign_download(secret: &[u8], url: &str, expires_in: i64, now: i64) -> String {
    mint_hs256(
        &json!({ "url": url, "scope": "download", "iat": now, "exp": now + expires_in }),
        secret,
        None,
    )
}

/// A signed upload token for `bucket/name`.
pub fn sign_upload(
    secret: &[u8],
    owner: Option<&str>,
    url: &str,
    upsert: bool,
    now: i64,
) -> String {
    let mut claims = json!({
        "url": url,
        "upsert": upsert,
        "scope": "upload",
        "iat": now,
        "exp": now + UPLOAD_URL_SECONDS,
    });
    if let Some(owner) = owner {
        claims["owner"] = json!(owner);
    }
    mint_hs256(&claims, secret, None)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Download,
    Upload,
}

/// Checks a signed-URL token as Storage's `verifyObjectSignature`: signature and expiry, the
/// action it was issued for, and the object it names. Returns its claims.
pub fn verify_signed(
    token: &str,
    keys: &Keys,
    scope: Scope,
    url: &str,
    now: i64,
) -> Result<Value, StorageError> {
    let claims = auth::verify(token, &keys.key_set, &policy(), now)
        .map_err(|e| StorageError::invalid_jwt(jose_message(&e)))?
        .raw;
    // Tokens from before Storage named a scope are told apart by `upsert`, as Storage does.
    let scoped = match (claims.get("scope").and_then(Value::as_str), scope) {
        (Some("upload"), Scope::Upload) | (Some("download"), Scope::Download) => true,
        (None, Scope::Upload) => claims.get("upsert").is_some(),
        (None, Scope::Download) => claims.get("upsert").is_none(),
        _ => false,
    };
    if !scoped {
        let action = match scope {
            Scope::Download => "download",
            Scope::Upload => "upload",
        };
        return Err(StorageError::invalid_signature(format!(
            "Token is not scoped for {action}"
        )));
    }
    if claims.get("url").and_then(Value::as_str) != Some(url) {
        return Err(StorageError::invalid_signature("Invalid signature"));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use genbase_shared::auth::KeySet;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: i64 = 1_700_000_000;

    fn keys() -> Keys {
        Keys {
            key_set: KeySet::empty().with_hs256_secret(SECRET),
            any: true,
            public_jwks: json!({"keys": []}),
        }
    }

    #[test]
    fn callers() {
        let k = keys();
        let anon = identify(None, &k, Access::Optional, NOW).unwrap();
        assert_eq!((anon.role.as_str(), anon.authenticated), ("anon", false));
        let bad = identify(Some("Bearer x.y.z"), &k, Access::Optional, NOW).unwrap();
        assert!(!bad.authenticated);
        let e = identify(None, &k, Access::Required, NOW).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("AccessDenied", "Invalid Compact JWS")
        );
        let t = mint_hs256(
            &json!({"sub": "u1", "role": "authenticated", "exp": NOW + 60}),
            SECRET,
            None,
        );
        let user = identify(Some(&format!("bearer  {t}")), &k, Access::Required, NOW).unwrap();
        assert_eq!(
            (user.role.as_str(), user.sub.as_deref(), user.jwt.as_str()),
            ("authenticated", Some("u1"), t.as_str())
        );
        let expired = mint_hs256(
            &json!({"role": "authenticated", "exp": NOW - 1}),
            SECRET,
            None,
        );
        let e = identify(
            Some(&format!("Bearer {expired}")),
            &k,
            Access::Required,
            NOW,
        )
        .unwrap_err();
        assert_eq!(e.message, "\"exp\" claim timestamp check failed");
        let public = identify(Some("garbage"), &k, Access::Public, NOW).unwrap();
        assert_eq!(public.role, SERVICE_ROLE);
    }

    #[test]
    fn signed_tokens_are_bound_to_their_object_action_and_time() {
        let k = keys();
        let down = sign_download(SECRET, "b/u/a.png", 60, NOW);
        assert!(verify_signed(&down, &k, Scope::Download, "b/u/a.png", NOW).is_ok());
        let other = verify_signed(&down, &k, Scope::Download, "b/u/b.png", NOW).unwrap_err();
        assert_eq!(
            (other.code, other.message.as_str()),
            ("InvalidSignature", "Invalid signature")
        );
        let wrong = verify_signed(&down, &k, Scope::Upload, "b/u/a.png", NOW).unwrap_err();
        assert_eq!(wrong.message, "Token is not scoped for upload");
        let late = verify_signed(&down, &k, Scope::Download, "b/u/a.png", NOW + 61).unwrap_err();
        assert_eq!(late.code, "InvalidJWT");
        // The payload rewritten for a longer life, the signature kept.
        let parts: Vec<&str> = down.split('.').collect();
        let forged =
            json!({"url": "b/u/a.png", "scope": "download", "iat": NOW, "exp": NOW + 9999});
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(forged.to_string()),
            parts[2]
        );
        let bad = verify_signed(&tampered, &k, Scope::Download, "b/u/a.png", NOW).unwrap_err();
        assert_eq!(bad.code, "InvalidJWT");

        let up = sign_upload(SECRET, Some("u1"), "b/u/a.png", true, NOW);
        let claims = verify_signed(&up, &k, Scope::Upload, "b/u/a.png", NOW).unwrap();
        assert_eq!(
            (claims["owner"].as_str(), claims["upsert"].as_bool()),
            (Some("u1"), Some(true))
        );
        assert!(verify_signed(&up, &k, Scope::Download, "b/u/a.png", NOW).is_err());
        // A legacy upload token (no scope) is still recognised by its `upsert` claim.
        let legacy = mint_hs256(
            &json!({"url": "b/x", "upsert": false, "exp": NOW + 5}),
            SECRET,
            None,
        );
        assert!(verify_signed(&legacy, &k, Scope::Upload, "b/x", NOW).is_ok());
        assert!(verify_signed(&legacy, &k, Scope::Download, "b/x", NOW).is_err());
    }

    #[test]
    fn expires_in_must_be_a_positive_integer() {
        assert_eq!(expires_in(&json!({"expiresIn": 60}), NOW), Ok(60));
        for bad in [
            json!({}),
            json!({"expiresIn": 0}),
            json!({"expiresIn": 1.5}),
            json!({"expiresIn": "60"}),
        ] {
            assert_eq!(
                expires_in(&bad, NOW).unwrap_err().code,
                "InvalidRequest",
                "{bad}"
            );
        }
        assert_eq!(
            expires_in(&json!({"expiresIn": i64::MAX}), NOW)
                .unwrap_err()
                .code,
            "InvalidParameter"
        );
    }
}
