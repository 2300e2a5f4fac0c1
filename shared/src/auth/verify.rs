use super::keys::{KeySet, PublicKey};
use super::{AuthError, Claims, Policy};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use jwt_compact::alg::{Es256, Rsa};
use jwt_compact::{Algorithm, AlgorithmSignature};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

/// Tokens longer than this are refused before parsing (Supabase tokens are about 1 KB).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    /// We understand no extension, so any `crit` makes the token unusable (RFC 7515 4.1.11).
    #[serde(default)]
    crit: Option<Value>,
}

/// Verifies signature then claims. `now_unix` comes from the caller's clock so the check is
/// deterministic under test.
pub fn verify(
    token: &str,
    keys: &KeySet,
    policy: &Policy,
    now_unix: i64,
) -> Result<Claims, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::TooLarge);
    }
    let (signing_input, signature_b64) = token.rsplit_once('.').ok_or(AuthError::Malformed)?;
    let (header_b64, payload_b64) = signing_input.split_once('.').ok_or(AuthError::Malformed)?;
    let header: Header =
        serde_json::from_slice(&decode(header_b64)?).map_err(|_| AuthError::Malformed)?;
    if header.crit.is_some() {
        return Err(AuthError::Malformed);
    }
    let payload = decode(payload_b64)?;
    let signature = decode(signature_b64)?;

    let key = select_key(keys, &header.alg, header.kid.as_deref())?;
    if !key.verifies(signing_input.as_bytes(), &signature) {
        return Err(AuthError::BadSignature);
    }

    let payload: Value = serde_json::from_slice(&payload).map_err(|_| AuthError::Malformed)?;
    if !payload.is_object() {
        return Err(AuthError::Malformed);
    }
    check_claims(&payload, policy, now_unix)?;
    Ok(Claims::from_payload(payload))
}

fn decode(part: &str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::Malformed)
}

enum Key<'a> {
    Hs256(&'a [u8]),
    Public(&'a PublicKey),
}

/// The key decides the algorithm; the token's `alg` must merely agree with it.
fn select_key<'a>(keys: &'a KeySet, alg: &str, kid: Option<&str>) -> Result<Key<'a>, AuthError> {
    if !matches!(alg, "HS256" | "ES256" | "RS256") {
        return Err(AuthError::AlgorithmNotAllowed);
    }
    let public = match kid {
        Some(kid) => match keys.by_kid(kid) {
            Some(key) => Some(key),
            // Symmetric keys are never published in a JWKS, and Supabase stamps a kid on
            // tokens signed with the legacy secret: an HS256 kid we do not know means the secret.
            None if alg == "HS256" => None,
            None => {
                return Err(AuthError::UnknownKey {
                    kid: kid.to_owned(),
                })
            }
        },
        None if alg == "HS256" => None,
        None => Some(
            keys.only_public_key()
                .ok_or_else(|| AuthError::UnknownKey { kid: String::new() })?,
        ),
    };
    match public {
        Some(key) if key.alg() == alg => Ok(Key::Public(key)),
        Some(_) => Err(AuthError::AlgorithmNotAllowed),
        None => keys
            .hs256_secret()
            .map(Key::Hs256)
            .ok_or(AuthError::AlgorithmNotAllowed),
    }
}

impl Key<'_> {
    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Key::Hs256(secret) => {
                let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
                    return false;
                };
                mac.update(message);
                mac.verify_slice(signature).is_ok()
            }
            Key::Public(PublicKey::Es256(key)) => {
                // A P-256 JWS signature is r || s, 32 bytes each (RFC 7518 3.4).
                if signature.len() != 64 {
                    return false;
                }
                match <Es256 as Algorithm>::Signature::try_from_slice(signature) {
                    Ok(sig) => Es256.verify_signature(&sig, key, message),
                    Err(_) => false,
                }
            }
            Key::Public(PublicKey::Rs256(key)) => {
                match <Rsa as Algorithm>::Signature::try_from_slice(signature) {
                    Ok(sig) => Rsa::rs256().verify_signature(&sig, key, message),
                    Err(_) => false,
                }
            }
        }
    }
}

fn check_claims(payload: &Value, policy: &Policy, now: i64) -> Result<(), AuthError> {
    let now = now as f64;
    let leeway = policy.leeway_secs.max(0) as f64;

    let exp = numeric_date(payload, "exp")?.ok_or(AuthError::MissingExp)?;
    if now >= exp + leeway {
        return Err(AuthError::Expired);
    }
    if let Some(nbf) = numeric_date(payload, "nbf")? {
        if now + leeway < nbf {
            return Err(AuthError::NotYetValid);
        }
    }
    if let Some(iat) = numeric_date(payload, "iat")? {
        if iat > now + leeway {
            return Err(AuthError::NotYetValid);
        }
    }

    if let Some(issuer) = &policy.issuer {
        if payload.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
            return Err(AuthError::WrongIssuer);
        }
    }
    if let Some(audience) = &policy.audience {
        let accepted = match payload.get("aud") {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !accepted {
            return Err(AuthError::WrongAudience);
        }
    }
    if policy.require_role {
        let has_role = payload
            .get("role")
            .and_then(Value::as_str)
            .is_some_and(|r| !r.trim().is_empty());
        if !has_role {
            return Err(AuthError::MissingRole);
        }
    }
    Ok(())
}

/// RFC 7519 NumericDate: seconds, possibly fractional. `null` counts as absent.
fn numeric_date(payload: &Value, name: &str) -> Result<Option<f64>, AuthError> {
    match payload.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(AuthError::Malformed),
        Some(_) => Err(AuthError::Malformed),
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
