use super::keys::{KeySet, PublicKey};
use super::{AuthError, Claims, Policy, SignatureCheck};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use jwt_compact::{TimeOptions, UntrustedToken, ValidationError};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::Sha256;

/// A P-256 JWS signature is r || s, 32 bytes each (RFC 7518 3.4), which is also the form
/// WebCrypto's ECDSA expects.
const ES256_SIGNATURE_BYTES: usize = 64;

/// Tokens longer than this are refused before parsing (Supabase tokens are about 1 KB).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// A leeway beyond a day is a misconfiguration; bounding it keeps chrono's date arithmetic
/// (which panics on overflow) far from its limits.
const MAX_LEEWAY_SECS: i64 = 24 * 60 * 60;

/// The header fields jwt-compact leaves to the caller (it reads `alg`, `kid`, `typ`, ...).
#[derive(Deserialize)]
struct HeaderExtensions {
    /// We understand no extension, so any `crit` makes the token unusable (RFC 7515 4.1.11).
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

/// The payload as jwt-compact reads it: `exp`, `nbf` and `iat` typed, the rest as JSON.
type Payload = jwt_compact::Claims<Map<String, Value>>;

/// Verifies signature then claims, with `signatures` checking ES256 and RS256 (HS256 is an
/// HMAC, done here whatever the runtime). jwt-compact parses the token and checks `exp` and
/// `nbf`; `iat`, `iss`, `aud` and `role` are checked here. `now_unix` comes from the caller's
/// clock so the check is deterministic under test.
pub async fn verify_with<S: SignatureCheck + ?Sized>(
    token: &str,
    keys: &KeySet,
    policy: &Policy,
    now_unix: i64,
    signatures: &S,
) -> Result<Claims, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::TooLarge);
    }
    let parsed =
        UntrustedToken::<HeaderExtensions>::try_from(token).map_err(|_| AuthError::Malformed)?;
    let header = parsed.header();
    if header.other_fields.crit.is_some() {
        return Err(AuthError::Malformed);
    }
    // The parse succeeded, so the token has exactly three parts.
    let (signing_input, _) = token.rsplit_once('.').ok_or(AuthError::Malformed)?;
    let message = signing_input.as_bytes();
    let signature = parsed.signature_bytes();
    let valid = match select_key(keys, parsed.algorithm(), header.key_id.as_deref())? {
        Key::Hs256(secret) => hmac_verifies(secret, message, signature),
        // Any other length cannot be an ES256 signature, whichever runtime checks it.
        Key::Public(PublicKey::Es256 { .. }) if signature.len() != ES256_SIGNATURE_BYTES => false,
        Key::Public(key) => signatures.verifies(key, message, signature).await,
    };
    if !valid {
        return Err(AuthError::BadSignature);
    }

    // Fails for a payload that is not an object or a time that is not a NumericDate.
    let payload: Payload = parsed
        .deserialize_claims_unchecked()
        .map_err(|_| AuthError::Malformed)?;
    check_times(&payload, policy.leeway_secs, now_unix)?;
    check_claims(&payload.custom, policy)?;
    Ok(Claims::from_payload(whole_payload(payload)))
}

/// [`verify_with`] checking signatures in Rust ([`NativeSignatures`](super::NativeSignatures)),
/// for native callers such as the PostgREST stand-in.
#[cfg(not(target_arch = "wasm32"))]
pub fn verify(
    token: &str,
    keys: &KeySet,
    policy: &Policy,
    now_unix: i64,
) -> Result<Claims, AuthError> {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let mut check = std::pin::pin!(verify_with(
        token,
        keys,
        policy,
        now_unix,
        &super::NativeSignatures
    ));
    // Native signature checks are synchronous, so the future is done after its first poll.
    match check.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(outcome) => outcome,
        Poll::Pending => unreachable!("native signature checks never wait"),
    }
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

fn hmac_verifies(secret: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(message);
    mac.verify_slice(signature).is_ok()
}

/// `exp` (required) and `nbf` through jwt-compact, `iat` (which it does not check) here.
fn check_times(payload: &Payload, leeway_secs: i64, now: i64) -> Result<(), AuthError> {
    let leeway_secs = leeway_secs.clamp(0, MAX_LEEWAY_SECS);
    let leeway = Duration::seconds(leeway_secs);
    // jwt-compact accepts a token until `exp + leeway` inclusive, RFC 7519 4.1.4 only strictly
    // before it. Both sides are whole seconds, so checking one second later is exact.
    let expiry = TimeOptions::new(leeway, || instant(now.saturating_add(1)));
    payload
        .validate_expiration(&expiry)
        .map_err(|error| match error {
            ValidationError::NoClaim(_) => AuthError::MissingExp,
            _ => AuthError::Expired,
        })?;
    if payload.not_before.is_some() {
        payload
            .validate_maturity(&TimeOptions::new(leeway, || instant(now)))
            .map_err(|_| AuthError::NotYetValid)?;
    }
    if payload
        .issued_at
        .is_some_and(|iat| iat.timestamp() > now.saturating_add(leeway_secs))
    {
        return Err(AuthError::NotYetValid);
    }
    Ok(())
}

/// A clock reading outside chrono's range (hundreds of millennia away) fails closed: at the
/// end of time every token has expired.
fn instant(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The claims jwt-compact has no notion of.
fn check_claims(claims: &Map<String, Value>, policy: &Policy) -> Result<(), AuthError> {
    if let Some(issuer) = &policy.issuer {
        if claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
            return Err(AuthError::WrongIssuer);
        }
    }
    if let Some(audience) = &policy.audience {
        let accepted = match claims.get("aud") {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !accepted {
            return Err(AuthError::WrongAudience);
        }
    }
    if policy.require_role {
        let has_role = claims
            .get("role")
            .and_then(Value::as_str)
            .is_some_and(|r| !r.trim().is_empty());
        if !has_role {
            return Err(AuthError::MissingRole);
        }
    }
    Ok(())
}

/// jwt-compact takes the registered times out of the claims map; they go back in (as whole
/// seconds) so [`Claims::raw`] stays the whole payload, which the stand-in hands to Postgres.
fn whole_payload(payload: Payload) -> Value {
    let mut raw = payload.custom;
    let times = [
        ("exp", payload.expiration),
        ("nbf", payload.not_before),
        ("iat", payload.issued_at),
    ];
    for (name, time) in times {
        if let Some(time) = time {
            raw.insert(name.to_owned(), time.timestamp().into());
        }
    }
    Value::Object(raw)
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
