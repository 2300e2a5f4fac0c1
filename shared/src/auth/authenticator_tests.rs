use super::super::test_keys::*;
use super::*;
use crate::auth::{NativeSignatures, SignatureFuture, JWKS_MAX_AGE_SECS};
use crate::test_support::block_on;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use std::cell::Cell;
use std::rc::Rc;

struct NoNetwork;

impl HttpGet for NoNetwork {
    async fn get_text(&self, _url: &str) -> Result<String, String> {
        Err("offline".into())
    }
}

fn authenticator(url: Option<String>) -> Authenticator {
    let keys =
        JwksCache::from_config(Some(&jwks(&[ec_public_jwk("ec-1")])), Some(SECRET), url).unwrap();
    Authenticator::new(
        keys,
        Policy {
            audience: Some("authenticated".into()),
            ..Policy::default()
        },
    )
}

fn run(header: Option<&str>) -> Result<Claims, ApiError> {
    block_on(authenticator(None).authenticate(header, NOW, &NoNetwork))
}

#[test]
fn a_bearer_token_authenticates_with_any_scheme_case() {
    let token = hs256_token(None, &user_claims());
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let header = format!("{scheme} {token}");
        assert!(run(Some(&header)).is_ok(), "{scheme}");
    }
}

#[test]
fn a_missing_or_non_bearer_header_is_a_401() {
    for header in [
        None,
        Some(""),
        Some("Bearer"),
        Some("Bearer   "),
        Some("Basic abc"),
    ] {
        let err = run(header).unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (401, "missing_token"));
    }
}

#[test]
fn an_expired_token_maps_to_token_expired() {
    let mut claims = user_claims();
    claims["exp"] = json!(NOW - 3600);
    let header = format!("Bearer {}", hs256_token(None, &claims));
    let err = run(Some(&header)).unwrap_err();
    assert_eq!((err.status, err.code.as_str()), (401, "token_expired"));
    assert_eq!(err.message, "token has expired");
}

#[test]
fn every_token_failure_is_a_401_with_the_errors_code() {
    let mut claims = user_claims();
    claims["aud"] = json!("someone-else");
    let header = format!("Bearer {}", hs256_token(None, &claims));
    let err = run(Some(&header)).unwrap_err();
    assert_eq!(
        (err.status, err.code.as_str()),
        (401, "invalid_token_audience")
    );

    let err = run(Some("Bearer not.a.jwt")).unwrap_err();
    assert_eq!((err.status, err.code.as_str()), (401, "invalid_token"));
}

#[test]
fn an_unreachable_jwks_is_a_503_not_a_401() {
    let auth = authenticator(Some(
        "https://ref.supabase.co/auth/v1/.well-known/jwks.json".into(),
    ));
    let header = format!("Bearer {}", es256_token(Some("rotated"), &user_claims()));
    let err = block_on(auth.authenticate(Some(&header), NOW, &NoNetwork)).unwrap_err();
    assert_eq!(err.status, 503);
    assert!(err.cause.unwrap().contains("offline"));
}

/// Native checks, counted, to see which requests the token cache spared.
#[derive(Clone, Default)]
struct Counting(Rc<Cell<usize>>);

impl SignatureCheck for Counting {
    fn verifies<'a>(
        &'a self,
        key: &'a super::super::PublicKey,
        message: &'a [u8],
        signature: &'a [u8],
    ) -> SignatureFuture<'a> {
        static NATIVE: NativeSignatures = NativeSignatures;
        self.0.set(self.0.get() + 1);
        NATIVE.verifies(key, message, signature)
    }
}

/// Serves whatever JWKS document it holds now.
struct Jwks(RefCell<String>);

impl HttpGet for Jwks {
    async fn get_text(&self, _url: &str) -> Result<String, String> {
        Ok(self.0.borrow().clone())
    }
}

fn counted(url: Option<String>) -> (Authenticator, Counting) {
    let keys =
        JwksCache::from_config(Some(&jwks(&[ec_public_jwk("ec-1")])), Some(SECRET), url).unwrap();
    let checks = Counting::default();
    let auth = Authenticator::with_signatures(
        keys,
        Policy {
            audience: Some("authenticated".into()),
            ..Policy::default()
        },
        Box::new(checks.clone()),
    );
    (auth, checks)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn at(auth: &Authenticator, header: &str, now: i64) -> Result<Claims, ApiError> {
    block_on(auth.authenticate(Some(header), now, &NoNetwork))
}

#[test]
fn a_second_request_with_the_same_token_skips_the_signature_check() {
    let (auth, checks) = counted(None);
    let header = bearer(&es256_token(Some("ec-1"), &user_claims()));
    let first = at(&auth, &header, NOW).unwrap();
    let second = at(&auth, &header, NOW + 5).unwrap();
    assert_eq!(first, second);
    assert_eq!(checks.0.get(), 1);
    let mut bob = user_claims();
    bob["email"] = json!("bob@example.com");
    let other = bearer(&es256_token(Some("ec-1"), &bob));
    assert!(at(&auth, &other, NOW).is_ok());
    assert_eq!(checks.0.get(), 2, "another token is checked");
}

#[test]
fn a_cached_token_is_checked_again_from_exp_and_refused_after_the_leeway() {
    let (auth, checks) = counted(None);
    let header = bearer(&es256_token(Some("ec-1"), &user_claims()));
    let exp = NOW + 3600;
    assert!(at(&auth, &header, NOW).is_ok());
    assert!(at(&auth, &header, exp - 1).is_ok());
    assert_eq!(checks.0.get(), 1);
    // From exp on, only verification decides: it allows the policy's leeway, then refuses.
    assert!(at(&auth, &header, exp).is_ok());
    assert!(at(&auth, &header, exp + 29).is_ok());
    assert_eq!(checks.0.get(), 3, "no cache hit at or past exp");
    let err = at(&auth, &header, exp + 30).unwrap_err();
    assert_eq!((err.status, err.code.as_str()), (401, "token_expired"));
}

#[test]
fn a_bad_signature_is_never_cached() {
    let (auth, checks) = counted(None);
    let token = es256_token(Some("ec-1"), &user_claims());
    let (input, _) = token.rsplit_once('.').unwrap();
    let forged = bearer(&format!("{input}.{}", URL_SAFE_NO_PAD.encode([7u8; 64])));
    for _ in 0..2 {
        let err = at(&auth, &forged, NOW).unwrap_err();
        assert_eq!(err.code, "invalid_token_signature");
    }
    assert_eq!(checks.0.get(), 2);
}

#[test]
fn a_token_not_yet_valid_is_not_cached_and_is_verified_once_it_is() {
    let (auth, checks) = counted(None);
    let mut claims = user_claims();
    claims["nbf"] = json!(NOW + 120);
    let header = bearer(&es256_token(Some("ec-1"), &claims));
    let err = at(&auth, &header, NOW).unwrap_err();
    assert_eq!(err.code, "token_not_yet_valid");
    // Inside the leeway of nbf: verified (a second check), then cached.
    assert!(at(&auth, &header, NOW + 90).is_ok());
    assert!(at(&auth, &header, NOW + 91).is_ok());
    assert_eq!(checks.0.get(), 2);
}

#[test]
fn a_refused_claim_is_never_cached() {
    let (auth, checks) = counted(None);
    let mut claims = user_claims();
    claims["aud"] = json!("someone-else");
    let header = bearer(&es256_token(Some("ec-1"), &claims));
    for _ in 0..2 {
        assert_eq!(
            at(&auth, &header, NOW).unwrap_err().code,
            "invalid_token_audience"
        );
    }
    assert_eq!(checks.0.get(), 2);
}

#[test]
fn a_key_removed_from_the_jwks_stops_a_cached_token_once_the_keys_are_refreshed() {
    let keys = JwksCache::from_config(
        None,
        None,
        Some(JwksCache::supabase_jwks_url("https://ref.supabase.co")),
    )
    .unwrap();
    let checks = Counting::default();
    let auth = Authenticator::with_signatures(keys, Policy::default(), Box::new(checks.clone()));
    let jwks_now = Jwks(RefCell::new(jwks(&[ec_public_jwk("ec-1")])));
    let header = bearer(&es256_token(Some("ec-1"), &user_claims()));
    let run = |now| block_on(auth.authenticate(Some(&header), now, &jwks_now));
    assert!(run(NOW).is_ok());
    assert!(run(NOW + 1).is_ok());
    assert_eq!(checks.0.get(), 1, "the second request was a cache hit");

    // The same keys fetched again change nothing: the cache keeps answering.
    assert!(run(NOW + JWKS_MAX_AGE_SECS).is_ok());
    assert_eq!(checks.0.get(), 1);

    *jwks_now.0.borrow_mut() = jwks(&[ec_public_jwk_with_seed("ec-2", 9)]);
    let err = run(NOW + 2 * JWKS_MAX_AGE_SECS).unwrap_err();
    assert_eq!(
        (err.status, err.code.as_str()),
        (401, "unknown_signing_key")
    );
}
