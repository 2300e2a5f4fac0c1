use super::RpcAuth;
use crate::error::ApiError;
use serde_json::Value;
use std::fmt;

/// The schema exposed to PostgREST for our RPCs.
pub const RPC_SCHEMA: &str = "api";

/// Where and as whom to call PostgREST.
#[derive(Clone)]
pub struct PostgrestTarget {
    /// `<SUPABASE_URL>/rest/v1`, without trailing slash.
    pub rest_url: String,
    /// Publishable (`sb_publishable_...`) or legacy anon key.
    pub anon_key: String,
    /// Secret (`sb_secret_...`) or legacy service_role key.
    pub service_role_key: String,
}

impl PostgrestTarget {
    pub fn new(rest_url: &str, anon_key: &str, service_role_key: &str) -> PostgrestTarget {
        PostgrestTarget {
            rest_url: rest_url.trim_end_matches('/').to_owned(),
            anon_key: anon_key.to_owned(),
            service_role_key: service_role_key.to_owned(),
        }
    }

    /// `<rest_url>/rpc/<function>`. Names are ours, but are still checked so no caller can
    /// smuggle a path or query into the URL.
    pub fn rpc_url(&self, function: &str) -> Result<String, ApiError> {
        let valid = !function.is_empty()
            && function.len() <= 63
            && function
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(ApiError::internal(format!("invalid rpc name {function:?}")));
        }
        Ok(format!("{}/rpc/{function}", self.rest_url))
    }

    /// Headers of an RPC call as `auth`. Legacy keys are JWTs and go in both `apikey` and
    /// `Authorization`; the new `sb_secret_` keys are not JWTs and go in `apikey` only (the
    /// Supabase gateway then mints the service_role JWT itself).
    pub fn headers(&self, auth: &RpcAuth) -> Result<Vec<(String, String)>, ApiError> {
        let (apikey, bearer) = match auth {
            RpcAuth::User(jwt) => (&self.anon_key, Some(jwt.as_str())),
            RpcAuth::ServiceRole => {
                let key = &self.service_role_key;
                (key, looks_like_jwt(key).then_some(key.as_str()))
            }
        };
        if !is_header_safe(apikey) || bearer.is_some_and(|b| !is_header_safe(b)) {
            // Never echo the value: it may be the service key.
            return Err(ApiError::internal(
                "api key or token contains characters not allowed in a header",
            ));
        }
        let mut headers = vec![
            ("apikey".to_owned(), apikey.clone()),
            ("content-profile".to_owned(), RPC_SCHEMA.to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
            ("accept".to_owned(), "application/json".to_owned()),
        ];
        if let Some(token) = bearer {
            headers.push(("authorization".to_owned(), format!("Bearer {token}")));
        }
        Ok(headers)
    }

    /// Removes our keys from a text headed for a log line.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in [&self.service_role_key, &self.anon_key] {
            if secret.len() >= 8 {
                out = out.replace(secret.as_str(), "[redacted]");
            }
        }
        out
    }
}

impl fmt::Debug for PostgrestTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgrestTarget")
            .field("rest_url", &self.rest_url)
            .finish_non_exhaustive()
    }
}

fn looks_like_jwt(key: &str) -> bool {
    key.split('.').count() == 3 && !key.starts_with("sb_")
}

/// Visible ASCII only: what an HTTP client accepts without panicking or rejecting.
fn is_header_safe(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// Turns PostgREST's answer into the RPC result: 2xx JSON (empty or 204 -> `Null`), anything
/// else through [`ApiError::from_postgrest`].
pub fn read_rpc_response(status: u16, body: &str) -> Result<Value, ApiError> {
    if !(200..300).contains(&status) {
        return Err(ApiError::from_postgrest(status, body));
    }
    if status == 204 || body.trim().is_empty() {
        return Ok(Value::Null);
    }
    // From bytes, as all JSON a Worker reads (request bodies, tokens): serde_json's parser is
    // generic over its input, and one input type links one copy of it.
    serde_json::from_slice(body.as_bytes()).map_err(|err| {
        ApiError::bad_gateway(format!(
            "PostgREST {status} answered with invalid JSON: {err}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SERVICE_JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJl";

    fn target(service: &str) -> PostgrestTarget {
        PostgrestTarget::new(
            "https://ref.supabase.co/rest/v1/",
            "sb_publishable_abc",
            service,
        )
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn rpc_urls_live_under_rest_v1() {
        assert_eq!(
            target(SERVICE_JWT).rpc_url("get_my_profile").unwrap(),
            "https://ref.supabase.co/rest/v1/rpc/get_my_profile"
        );
    }

    #[test]
    fn rpc_names_that_could_alter_the_url_are_refused() {
        for bad in [
            "",
            "a/b",
            "x?y=1",
            "../admin",
            "Get",
            "a b",
            &"a".repeat(64),
        ] {
            assert_eq!(
                target(SERVICE_JWT).rpc_url(bad).unwrap_err().status,
                500,
                "{bad}"
            );
        }
    }

    #[test]
    fn user_calls_send_the_anon_key_and_the_users_jwt() {
        let h = target(SERVICE_JWT)
            .headers(&RpcAuth::User("user.jwt.token".into()))
            .unwrap();
        assert_eq!(header(&h, "apikey"), Some("sb_publishable_abc"));
        assert_eq!(header(&h, "authorization"), Some("Bearer user.jwt.token"));
        assert_eq!(header(&h, "content-profile"), Some("api"));
        assert!(!h.iter().any(|(_, v)| v.contains(SERVICE_JWT)));
    }

    #[test]
    fn a_legacy_service_key_goes_in_apikey_and_authorization() {
        let h = target(SERVICE_JWT).headers(&RpcAuth::ServiceRole).unwrap();
        assert_eq!(header(&h, "apikey"), Some(SERVICE_JWT));
        assert_eq!(
            header(&h, "authorization"),
            Some(format!("Bearer {SERVICE_JWT}").as_str())
        );
    }

    #[test]
    fn a_new_secret_key_goes_in_apikey_only() {
        let h = target("sb_secret_xyz123456")
            .headers(&RpcAuth::ServiceRole)
            .unwrap();
        assert_eq!(header(&h, "apikey"), Some("sb_secret_xyz123456"));
        assert_eq!(header(&h, "authorization"), None);
    }

    #[test]
    fn a_key_with_a_newline_is_an_internal_error_that_does_not_quote_it() {
        let err = target("sb_secret_bad\nvalue")
            .headers(&RpcAuth::ServiceRole)
            .unwrap_err();
        assert_eq!(err.status, 500);
        assert!(!err.to_string().contains("sb_secret_bad"));
    }

    #[test]
    fn redact_removes_both_keys() {
        let t = target(SERVICE_JWT);
        let text = format!("failed with {SERVICE_JWT} and sb_publishable_abc");
        assert_eq!(t.redact(&text), "failed with [redacted] and [redacted]");
        assert!(!format!("{t:?}").contains("sb_"));
    }

    #[test]
    fn successful_answers_are_parsed_and_empty_ones_are_null() {
        assert_eq!(
            read_rpc_response(200, r#"{"a":1}"#).unwrap(),
            json!({"a": 1})
        );
        assert_eq!(read_rpc_response(200, "null").unwrap(), Value::Null);
        assert_eq!(read_rpc_response(204, "").unwrap(), Value::Null);
        assert_eq!(read_rpc_response(200, "").unwrap(), Value::Null);
    }

    #[test]
    fn a_garbled_success_is_a_bad_gateway() {
        let err = read_rpc_response(200, "<html>").unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (502, "internal"));
    }

    #[test]
    fn errors_go_through_the_postgrest_mapping() {
        let body = json!({"code": "PT402", "message": "insufficient credits: need 10, have 3"});
        let err = read_rpc_response(402, &body.to_string()).unwrap_err();
        assert_eq!(
            (err.status, err.code.as_str()),
            (402, "insufficient_credits")
        );
    }
}
