use super::{AuthError, Claims, HttpGet, JwksCache, Policy, VerifyError};
use crate::error::ApiError;
use crate::http::bearer_from_header;

/// The per-request entry point for workers: `Authorization` header in, claims or a 401 out.
#[derive(Debug)]
pub struct Authenticator {
    pub keys: JwksCache,
    pub policy: Policy,
}

impl Authenticator {
    pub fn new(keys: JwksCache, policy: Policy) -> Authenticator {
        Authenticator { keys, policy }
    }

    pub async fn authenticate<H: HttpGet>(
        &self,
        authorization_header: Option<&str>,
        now_unix: i64,
        http: &H,
    ) -> Result<Claims, ApiError> {
        let token = bearer_token(authorization_header)?;
        self.keys
            .verify(token, &self.policy, now_unix, http)
            .await
            .map_err(|err| match err {
                VerifyError::Token(err) => auth_error_to_api(&err),
                VerifyError::KeysUnavailable(cause) => ApiError::unavailable(cause),
            })
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
mod tests {
    use super::super::test_keys::*;
    use super::*;
    use crate::test_support::block_on;
    use serde_json::json;

    struct NoNetwork;

    impl HttpGet for NoNetwork {
        async fn get_text(&self, _url: &str) -> Result<String, String> {
            Err("offline".into())
        }
    }

    fn authenticator(url: Option<String>) -> Authenticator {
        let keys = JwksCache::from_config(Some(&jwks(&[ec_public_jwk("ec-1")])), Some(SECRET), url)
            .unwrap();
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
}
