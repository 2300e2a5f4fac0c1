use super::json_numbers::BoundedNumbers;
use crate::error::ApiError;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

/// The body limit of user endpoints: larger bodies are refused with 413; no user endpoint
/// needs more (prompts and params are far smaller).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The body limit of provider webhooks: a webhook carries the whole prediction (a long text
/// output, logs, metrics), and one refused for its size is never settled.
pub const MAX_WEBHOOK_BODY_BYTES: usize = 1024 * 1024;

/// How much of a refused body a runtime reads and discards (never keeps) before dropping the
/// connection's upload; see the Workers glue (`shared/edge`) for why it reads any of it.
pub const MAX_DRAIN_BYTES: usize = 16 * 1024 * 1024;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

const MAX_REQUEST_ID_LEN: usize = 64;

/// A request as every function sees it, whatever the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    /// Upper case.
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub request_id: String,
    /// The most body this function accepts ([`MAX_BODY_BYTES`] unless its entry point says
    /// otherwise); the runtime enforces it while reading, [`ApiRequest::json_body`] again.
    pub body_limit: usize,
}

impl Default for ApiRequest {
    fn default() -> Self {
        ApiRequest {
            method: String::new(),
            path: String::new(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            request_id: String::new(),
            body_limit: MAX_BODY_BYTES,
        }
    }
}

impl ApiRequest {
    /// Normalises method and header names, and takes the caller's `x-request-id` when it is
    /// safe to echo and log, else mints one.
    pub fn new(
        method: &str,
        path: &str,
        query: Vec<(String, String)>,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> ApiRequest {
        let headers: Vec<(String, String)> = headers
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect();
        let incoming = headers
            .iter()
            .find(|(name, _)| name == REQUEST_ID_HEADER)
            .map(|(_, value)| value.as_str());
        let request_id = accept_request_id(incoming);
        ApiRequest {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            query,
            headers,
            body,
            request_id,
            body_limit: MAX_BODY_BYTES,
        }
    }

    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn bearer_token(&self) -> Option<&str> {
        bearer_from_header(self.header("authorization"))
    }

    pub fn origin(&self) -> Option<&str> {
        self.header("origin")
    }

    /// First value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// 413 when the body is over this function's limit; runtimes refuse earlier, while
    /// reading ([`LimitedBody`]).
    pub fn check_body_size(&self) -> Result<(), ApiError> {
        if self.body.len() > self.body_limit {
            return Err(ApiError::payload_too_large(self.body_limit));
        }
        Ok(())
    }

    /// Syntax errors are `invalid_json`; well-formed JSON of the wrong shape (missing field,
    /// wrong type, unknown field under `deny_unknown_fields`) is `validation_failed`. Both carry
    /// serde's message, which names the field and position.
    pub fn json_body<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        self.check_body_size()?;
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::invalid_json(
                "request body is empty; expected JSON",
            ));
        }
        let refused = |err: serde_json::Error| match err.classify() {
            Category::Data => ApiError::validation(err.to_string()),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::invalid_json(format!("invalid JSON: {err}"))
            }
        };
        let body = serde_json::from_slice(&self.body).map_err(refused)?;
        serde_json::from_slice::<BoundedNumbers>(&self.body).map_err(refused)?;
        Ok(body)
    }
}

/// A body read chunk by chunk that is refused (413) as soon as it passes its limit, so an
/// oversized body is never buffered whole, whatever its `Content-Length` claims (a client may
/// send none, or a false one).
#[derive(Debug)]
pub struct LimitedBody {
    limit: usize,
    bytes: Vec<u8>,
}

impl LimitedBody {
    /// 413 at once when the declared length is already over the limit; otherwise room for the
    /// declared length (never more than the limit, since the declaration may lie).
    pub fn new(limit: usize, declared_len: Option<usize>) -> Result<LimitedBody, ApiError> {
        if declared_len.is_some_and(|n| n > limit) {
            return Err(ApiError::payload_too_large(limit));
        }
        Ok(LimitedBody {
            limit,
            bytes: Vec::with_capacity(declared_len.unwrap_or(0).min(limit)),
        })
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        if self.bytes.len() + chunk.len() > self.limit {
            return Err(ApiError::payload_too_large(self.limit));
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 7235 2.1).
pub fn bearer_from_header(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Keeps a caller's id so traces join up across services, but only if it is short and made of
/// `[A-Za-z0-9_-]`: it ends up in logs and response headers.
pub fn accept_request_id(incoming: Option<&str>) -> String {
    match incoming {
        Some(id)
            if !id.is_empty()
                && id.len() <= MAX_REQUEST_ID_LEN
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            id.to_owned()
        }
        _ => new_request_id(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn request(headers: &[(&str, &str)], body: &str) -> ApiRequest {
        ApiRequest::new(
            "post",
            "/v1/things",
            vec![
                ("limit".into(), "5".into()),
                ("tag".into(), "a".into()),
                ("tag".into(), "b".into()),
            ],
            headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body.as_bytes().to_vec(),
        )
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Input {
        name: String,
        count: u32,
    }

    #[test]
    fn method_is_upper_cased_and_header_names_lower_cased() {
        let req = request(&[("Content-Type", "application/json")], "");
        assert_eq!(req.method, "POST");
        assert_eq!(req.headers[0].0, "content-type");
        assert_eq!(req.header("CONTENT-TYPE"), Some("application/json"));
        assert_eq!(req.header("x-missing"), None);
    }

    #[test]
    fn query_params_are_found_by_name() {
        let req = request(&[], "");
        assert_eq!(req.query_param("limit"), Some("5"));
        assert_eq!(req.query_param("nope"), None);
    }

    #[test]
    fn bearer_token_is_extracted_case_insensitively() {
        assert_eq!(
            request(&[("Authorization", "bearer abc.def")], "").bearer_token(),
            Some("abc.def")
        );
        assert_eq!(
            request(&[("authorization", "Basic abc")], "").bearer_token(),
            None
        );
        assert_eq!(
            request(&[("authorization", "Bearer ")], "").bearer_token(),
            None
        );
        assert_eq!(request(&[], "").bearer_token(), None);
    }

    #[test]
    fn a_good_json_body_is_parsed() {
        let req = request(&[], r#"{"name":"a","count":2}"#);
        assert_eq!(
            req.json_body::<Input>().unwrap(),
            Input {
                name: "a".into(),
                count: 2
            }
        );
    }

    #[test]
    fn a_number_postgres_could_not_give_back_is_refused_before_any_handler_sees_it() {
        let req = request(&[], r#"{"settings": {"x": -1.7976931348623157e308}}"#);
        let err = req.json_body::<serde_json::Value>().unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (400, "validation_failed"));
        assert!(
            err.message.contains("between -1e300 and 1e300"),
            "{}",
            err.message
        );
    }

    #[test]
    fn an_empty_or_broken_body_is_invalid_json() {
        for body in ["", "  \n", "{", "{\"name\":", "nope", "{\"name\":\"a\",}"] {
            let err = request(&[], body).json_body::<Input>().unwrap_err();
            assert_eq!(
                (err.status, err.code.as_str()),
                (400, "invalid_json"),
                "{body:?}"
            );
        }
    }

    #[test]
    fn a_body_of_the_wrong_shape_fails_validation_naming_the_field() {
        let err = request(&[], r#"{"name":"a","count":"two"}"#)
            .json_body::<Input>()
            .unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (400, "validation_failed"));
        assert!(err.message.contains("invalid type"), "{}", err.message);

        let err = request(&[], r#"{"name":"a"}"#)
            .json_body::<Input>()
            .unwrap_err();
        assert!(
            err.message.contains("missing field `count`"),
            "{}",
            err.message
        );

        let err = request(&[], r#"{"name":"a","count":1,"role":"admin"}"#)
            .json_body::<Input>()
            .unwrap_err();
        assert!(
            err.message.contains("unknown field `role`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn an_oversized_body_is_payload_too_large() {
        let big = format!(
            "{{\"name\":\"{}\",\"count\":1}}",
            "x".repeat(MAX_BODY_BYTES)
        );
        let err = request(&[], &big).json_body::<Input>().unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (413, "payload_too_large"));
    }

    #[test]
    fn a_larger_body_limit_is_honoured_by_json_body() {
        let body = format!(
            "{{\"name\":\"{}\",\"count\":1}}",
            "x".repeat(MAX_BODY_BYTES * 4)
        );
        let mut req = request(&[], &body);
        req.body_limit = MAX_WEBHOOK_BODY_BYTES;
        assert_eq!(
            req.json_body::<Input>().unwrap().name.len(),
            MAX_BODY_BYTES * 4
        );

        let over = format!(
            "{{\"name\":\"{}\",\"count\":1}}",
            "x".repeat(MAX_WEBHOOK_BODY_BYTES)
        );
        let mut req = request(&[], &over);
        req.body_limit = MAX_WEBHOOK_BODY_BYTES;
        let err = req.json_body::<Input>().unwrap_err();
        assert_eq!(err.status, 413);
    }

    #[test]
    fn a_limited_body_refuses_a_declared_length_over_the_limit_before_reading() {
        let err = LimitedBody::new(10, Some(11)).unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (413, "payload_too_large"));
        assert!(LimitedBody::new(10, Some(10)).is_ok());
    }

    #[test]
    fn a_limited_body_stops_at_the_chunk_that_passes_the_limit_whatever_was_declared() {
        // Declared small (or not at all), sent large: the declaration is not trusted.
        for declared in [Some(4), None] {
            let mut body = LimitedBody::new(10, declared).unwrap();
            body.push(b"12345").unwrap();
            body.push(b"67890").unwrap();
            let err = body.push(b"x").unwrap_err();
            assert_eq!(err.status, 413);
        }
        let mut body = LimitedBody::new(10, None).unwrap();
        body.push(b"abc").unwrap();
        body.push(b"").unwrap();
        body.push(b"def").unwrap();
        assert_eq!(body.into_bytes(), b"abcdef");
    }

    #[test]
    fn a_limited_body_never_preallocates_more_than_its_limit() {
        let body = LimitedBody::new(16, Some(8)).unwrap();
        assert!(body.bytes.capacity() >= 8 && body.bytes.capacity() <= 16);
    }

    #[test]
    fn a_safe_incoming_request_id_is_kept() {
        let req = request(&[("X-Request-Id", "abc-123_XYZ")], "");
        assert_eq!(req.request_id, "abc-123_XYZ");
    }

    #[test]
    fn an_unsafe_incoming_request_id_is_replaced_by_a_uuid() {
        let long = "a".repeat(65);
        for bad in ["", "has space", "new\nline", "<script>", long.as_str(), "é"] {
            let id = accept_request_id(Some(bad));
            assert_ne!(id, bad);
            assert!(uuid::Uuid::parse_str(&id).is_ok());
        }
        assert_eq!(accept_request_id(Some(&"a".repeat(64))), "a".repeat(64));
        assert_ne!(new_request_id(), new_request_id());
    }
}
