use super::super::test_keys::*;
use super::*;
use crate::auth::NativeSignatures;
use crate::test_support::block_on;
use std::cell::{Cell, RefCell};

/// Serves queued answers in order, repeating the last one; counts calls.
struct FakeHttp {
    answers: RefCell<Vec<Result<String, String>>>,
    calls: Cell<usize>,
}

impl FakeHttp {
    fn new(answers: Vec<Result<String, String>>) -> FakeHttp {
        FakeHttp {
            answers: RefCell::new(answers),
            calls: Cell::new(0),
        }
    }
}

impl HttpGet for FakeHttp {
    async fn get_text(&self, url: &str) -> Result<String, String> {
        assert_eq!(url, "https://ref.supabase.co/auth/v1/.well-known/jwks.json");
        self.calls.set(self.calls.get() + 1);
        let mut answers = self.answers.borrow_mut();
        if answers.len() > 1 {
            answers.remove(0)
        } else {
            answers[0].clone()
        }
    }
}

fn cache() -> JwksCache {
    JwksCache::from_config(
        None,
        Some(SECRET),
        Some(JwksCache::supabase_jwks_url("https://ref.supabase.co/")),
    )
    .unwrap()
}

fn policy() -> Policy {
    Policy {
        audience: Some("authenticated".into()),
        ..Policy::default()
    }
}

#[test]
fn hs256_tokens_never_trigger_a_fetch() {
    let http = FakeHttp::new(vec![Err("unreachable".into())]);
    let token = hs256_token(None, &user_claims());
    assert!(block_on(cache().verify(&token, &policy(), NOW, &http, &NativeSignatures)).is_ok());
    assert_eq!(http.calls.get(), 0);
}

#[test]
fn the_first_asymmetric_token_fetches_the_jwks_once_and_later_ones_use_the_cache() {
    let http = FakeHttp::new(vec![Ok(jwks(&[ec_public_jwk("ec-1")]))]);
    let cache = cache();
    let token = es256_token(Some("ec-1"), &user_claims());
    for i in 0..3 {
        assert!(
            block_on(cache.verify(&token, &policy(), NOW + i, &http, &NativeSignatures)).is_ok()
        );
    }
    assert_eq!(http.calls.get(), 1);
}

#[test]
fn an_unknown_kid_refetches_once_and_finds_a_rotated_key() {
    let http = FakeHttp::new(vec![
        Ok(jwks(&[ec_public_jwk("old")])),
        Ok(jwks(&[ec_public_jwk_with_seed("new", 9)])),
    ]);
    let cache = cache();
    let old = es256_token(Some("old"), &user_claims());
    assert!(block_on(cache.verify(&old, &policy(), NOW, &http, &NativeSignatures)).is_ok());

    let new = es256_token_with_seed(Some("new"), &user_claims(), 9);
    let later = NOW + JWKS_REFETCH_INTERVAL_SECS;
    assert!(block_on(cache.verify(&new, &policy(), later, &http, &NativeSignatures)).is_ok());
    assert_eq!(http.calls.get(), 2);
}

#[test]
fn unknown_kids_do_not_refetch_more_than_once_per_interval() {
    let http = FakeHttp::new(vec![Ok(jwks(&[ec_public_jwk("ec-1")]))]);
    let cache = cache();
    for i in 0..5 {
        let forged = es256_token(Some(&format!("forged-{i}")), &user_claims());
        let err = block_on(cache.verify(&forged, &policy(), NOW + i, &http, &NativeSignatures))
            .unwrap_err();
        assert_eq!(
            err,
            VerifyError::Token(AuthError::UnknownKey {
                kid: format!("forged-{i}")
            })
        );
    }
    assert_eq!(http.calls.get(), 1);
    let forged = es256_token(Some("again"), &user_claims());
    let _ = block_on(cache.verify(
        &forged,
        &policy(),
        NOW + JWKS_REFETCH_INTERVAL_SECS,
        &http,
        &NativeSignatures,
    ));
    assert_eq!(http.calls.get(), 2);
}

#[test]
fn a_failed_fetch_is_reported_as_keys_unavailable_not_as_a_bad_token() {
    let http = FakeHttp::new(vec![Err("connection refused".into())]);
    let token = es256_token(Some("ec-1"), &user_claims());
    let err =
        block_on(cache().verify(&token, &policy(), NOW, &http, &NativeSignatures)).unwrap_err();
    let VerifyError::KeysUnavailable(cause) = err else {
        panic!("expected KeysUnavailable, got {err:?}");
    };
    assert!(cause.contains("connection refused"));
}

#[test]
fn a_failed_refresh_keeps_the_previous_keys() {
    let http = FakeHttp::new(vec![Ok(jwks(&[ec_public_jwk("ec-1")])), Err("503".into())]);
    let cache = cache();
    let token = es256_token(Some("ec-1"), &user_claims());
    assert!(block_on(cache.verify(&token, &policy(), NOW, &http, &NativeSignatures)).is_ok());
    let stale = NOW + JWKS_MAX_AGE_SECS;
    assert!(block_on(cache.verify(&token, &policy(), stale, &http, &NativeSignatures)).is_ok());
    assert_eq!(http.calls.get(), 2);
}

#[test]
fn a_key_removed_from_the_jwks_stops_working_once_the_cache_is_stale() {
    let http = FakeHttp::new(vec![
        Ok(jwks(&[ec_public_jwk("ec-1")])),
        Ok(jwks(&[rsa_public_jwk("rsa-1")])),
    ]);
    let cache = cache();
    let token = es256_token(Some("ec-1"), &user_claims());
    assert!(block_on(cache.verify(&token, &policy(), NOW, &http, &NativeSignatures)).is_ok());
    let err = block_on(cache.verify(
        &token,
        &policy(),
        NOW + JWKS_MAX_AGE_SECS,
        &http,
        &NativeSignatures,
    ))
    .unwrap_err();
    assert!(matches!(
        err,
        VerifyError::Token(AuthError::UnknownKey { .. })
    ));
}

#[test]
fn pinned_keys_work_without_any_url() {
    let cache =
        JwksCache::from_config(Some(&jwks(&[rsa_public_jwk("rsa-1")])), None, None).unwrap();
    let http = FakeHttp::new(vec![Err("no network".into())]);
    let token = rs256_token(Some("rsa-1"), &user_claims());
    assert!(block_on(cache.verify(&token, &policy(), NOW, &http, &NativeSignatures)).is_ok());
    let other = es256_token(Some("ec-1"), &user_claims());
    assert!(matches!(
        block_on(cache.verify(&other, &policy(), NOW, &http, &NativeSignatures)),
        Err(VerifyError::Token(AuthError::UnknownKey { .. }))
    ));
    assert_eq!(http.calls.get(), 0);
}

/// Pends until `open` is set, then answers with `body`; counts calls.
struct GatedHttp {
    open: Cell<bool>,
    body: String,
    calls: Cell<usize>,
}

struct Gate<'a>(&'a Cell<bool>);

impl std::future::Future for Gate<'_> {
    type Output = ();
    fn poll(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0.get() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }
}

impl HttpGet for GatedHttp {
    async fn get_text(&self, _url: &str) -> Result<String, String> {
        self.calls.set(self.calls.get() + 1);
        Gate(&self.open).await;
        Ok(self.body.clone())
    }
}

fn poll_once<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    f.poll(&mut cx)
}

#[test]
fn concurrent_requests_for_a_new_key_each_fetch_instead_of_waiting() {
    let http = GatedHttp {
        open: Cell::new(false),
        body: jwks(&[ec_public_jwk("ec-1")]),
        calls: Cell::new(0),
    };
    let cache = cache();
    let token = es256_token(Some("ec-1"), &user_claims());
    let policy = policy();
    let mut first = std::pin::pin!(cache.verify(&token, &policy, NOW, &http, &NativeSignatures));
    let mut second = std::pin::pin!(cache.verify(&token, &policy, NOW, &http, &NativeSignatures));
    assert!(poll_once(first.as_mut()).is_pending());
    assert!(poll_once(second.as_mut()).is_pending());
    http.open.set(true);
    assert!(matches!(
        poll_once(first.as_mut()),
        std::task::Poll::Ready(Ok(_))
    ));
    assert!(matches!(
        poll_once(second.as_mut()),
        std::task::Poll::Ready(Ok(_))
    ));
    assert_eq!(
        http.calls.get(),
        2,
        "neither request waited on the other's I/O"
    );
}

#[test]
fn a_cancelled_fetch_neither_blocks_nor_throttles_the_next_request() {
    let http = GatedHttp {
        open: Cell::new(false),
        body: jwks(&[ec_public_jwk("ec-1")]),
        calls: Cell::new(0),
    };
    let cache = cache();
    let token = es256_token(Some("ec-1"), &user_claims());
    let policy = policy();
    {
        let mut abandoned =
            std::pin::pin!(cache.verify(&token, &policy, NOW, &http, &NativeSignatures));
        assert!(poll_once(abandoned.as_mut()).is_pending());
    }
    http.open.set(true);
    assert!(block_on(cache.verify(&token, &policy, NOW + 1, &http, &NativeSignatures)).is_ok());
    assert_eq!(http.calls.get(), 2);
}
