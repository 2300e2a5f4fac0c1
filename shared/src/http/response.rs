use super::request::REQUEST_ID_HEADER;
use crate::error::ApiError;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
}

impl ApiResponse {
    /// A JSON response. API answers are per user, so no cache may keep them.
    pub fn json(status: u16, body: Value) -> ApiResponse {
        ApiResponse {
            status,
            body: Some(body),
            headers: vec![
                (
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                ),
                ("cache-control".into(), "no-store".into()),
            ],
        }
    }

    pub fn ok(body: Value) -> ApiResponse {
        Self::json(200, body)
    }

    pub fn created(body: Value) -> ApiResponse {
        Self::json(201, body)
    }

    pub fn accepted(body: Value) -> ApiResponse {
        Self::json(202, body)
    }

    pub fn no_content() -> ApiResponse {
        ApiResponse {
            status: 204,
            body: None,
            headers: Vec::new(),
        }
    }

    /// The one error -> response mapping: `{"error":{code,message,request_id}}`, opaque for 5xx.
    pub fn from_error(err: &ApiError, request_id: &str) -> ApiResponse {
        Self::json(err.status, err.body(request_id)).with_header(REQUEST_ID_HEADER, request_id)
    }

    /// Sets a header, replacing any earlier value of the same name.
    pub fn with_header(mut self, name: &str, value: &str) -> ApiResponse {
        self.set_header(name, value);
        self
    }

    pub fn set_header(&mut self, name: &str, value: &str) {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.to_owned()));
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn with_request_id(self, request_id: &str) -> ApiResponse {
        self.with_header(REQUEST_ID_HEADER, request_id)
    }

    /// The serialized body (empty for 204).
    pub fn body_bytes(&self) -> Vec<u8> {
        self.body
            .as_ref()
            .map(|b| b.to_string().into_bytes())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn success_constructors_set_status_and_json_headers() {
        for (resp, status) in [
            (ApiResponse::ok(json!({})), 200),
            (ApiResponse::created(json!({})), 201),
            (ApiResponse::accepted(json!({})), 202),
        ] {
            assert_eq!(resp.status, status);
            assert_eq!(
                resp.header("Content-Type"),
                Some("application/json; charset=utf-8")
            );
            assert_eq!(resp.header("cache-control"), Some("no-store"));
        }
        let empty = ApiResponse::no_content();
        assert_eq!((empty.status, empty.body_bytes().len()), (204, 0));
    }

    #[test]
    fn errors_become_the_standard_body_with_the_request_id() {
        let resp = ApiResponse::from_error(&ApiError::conflict("already canceled"), "req-9");
        assert_eq!(resp.status, 409);
        assert_eq!(resp.header("x-request-id"), Some("req-9"));
        assert_eq!(
            resp.body.unwrap(),
            json!({"error": {"code": "conflict", "message": "already canceled", "request_id": "req-9"}})
        );
    }

    #[test]
    fn internal_errors_do_not_leak_through_the_response() {
        let resp = ApiResponse::from_error(&ApiError::internal("secret db detail"), "r");
        assert!(!String::from_utf8(resp.body_bytes())
            .unwrap()
            .contains("secret"));
    }

    #[test]
    fn setting_a_header_twice_keeps_the_last_value() {
        let resp = ApiResponse::no_content()
            .with_header("X-A", "1")
            .with_header("x-a", "2");
        assert_eq!(resp.headers, vec![("x-a".to_string(), "2".to_string())]);
    }
}
