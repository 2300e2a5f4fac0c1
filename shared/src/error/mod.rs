//! One error type for every endpoint: the client's fault (4xx, a clear message) or ours
//! (5xx, an opaque message; the cause stays in our logs).

mod postgrest;

use serde_json::{json, Value};
use std::fmt;

/// The message every 5xx response carries, whatever went wrong.
pub const OPAQUE_MESSAGE: &str = "internal error";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    /// Stable snake_case code clients may branch on.
    pub code: String,
    pub message: String,
    /// Ours only: logged, never sent.
    pub cause: Option<String>,
    /// Headers the response must carry (`Allow` on a 405).
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            cause: None,
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_json", message)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "validation_failed", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(405, "method_not_allowed", "method not allowed")
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "conflict", message)
    }

    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            413,
            "payload_too_large",
            format!("request body exceeds {limit_bytes} bytes"),
        )
    }

    /// Too many requests, or a limit that frees up with time: 429 with `Retry-After` (whole
    /// seconds, at least 1), so a client knows when to try again.
    pub fn rate_limited(message: impl Into<String>, retry_after_secs: u32) -> Self {
        Self::new(429, "rate_limited", message)
            .with_header("retry-after", &retry_after_secs.max(1).to_string())
    }

    /// A bug or broken invariant on our side.
    pub fn internal(cause: impl Into<String>) -> Self {
        Self::new(500, "internal", OPAQUE_MESSAGE).with_cause(cause)
    }

    /// An upstream (PostgREST, a provider) answered badly.
    pub fn bad_gateway(cause: impl Into<String>) -> Self {
        Self::new(502, "internal", OPAQUE_MESSAGE).with_cause(cause)
    }

    /// An upstream could not be reached; retrying later may work.
    pub fn unavailable(cause: impl Into<String>) -> Self {
        Self::new(503, "internal", OPAQUE_MESSAGE).with_cause(cause)
    }

    pub fn is_server_error(&self) -> bool {
        self.status >= 500
    }

    /// The client-facing JSON body. 5xx messages are replaced by an opaque one even when a
    /// caller built the error with a detailed message.
    pub fn body(&self, request_id: &str) -> Value {
        let (code, message) = if self.is_server_error() {
            ("internal", OPAQUE_MESSAGE)
        } else {
            (self.code.as_str(), self.message.as_str())
        };
        json!({ "error": { "code": code, "message": message, "request_id": request_id } })
    }
}

impl fmt::Display for ApiError {
    /// The log line form: includes the cause, so never send it to a client.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)?;
        if let Some(cause) = &self.cause {
            write!(f, " (cause: {cause})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_carry_their_code_message_and_request_id() {
        let body = ApiError::not_found("generation not found").body("req-1");
        assert_eq!(
            body,
            json!({"error": {"code": "not_found", "message": "generation not found", "request_id": "req-1"}})
        );
    }

    #[test]
    fn server_errors_never_reveal_message_or_cause() {
        let err = ApiError::new(500, "db_exploded", "relation private.secrets is gone")
            .with_cause("password=hunter2");
        let text = err.body("r").to_string();
        assert!(text.contains("\"internal error\""));
        assert!(text.contains("\"internal\""));
        assert!(!text.contains("secrets"));
        assert!(!text.contains("hunter2"));
    }

    #[test]
    fn each_constructor_pairs_the_documented_status_and_code() {
        let cases = [
            (ApiError::invalid_json("x"), 400, "invalid_json"),
            (ApiError::validation("x"), 400, "validation_failed"),
            (ApiError::unauthorized("x"), 401, "unauthorized"),
            (ApiError::forbidden("x"), 403, "forbidden"),
            (ApiError::not_found("x"), 404, "not_found"),
            (ApiError::method_not_allowed(), 405, "method_not_allowed"),
            (ApiError::conflict("x"), 409, "conflict"),
            (ApiError::payload_too_large(10), 413, "payload_too_large"),
            (ApiError::rate_limited("x", 5), 429, "rate_limited"),
            (ApiError::internal("x"), 500, "internal"),
            (ApiError::bad_gateway("x"), 502, "internal"),
            (ApiError::unavailable("x"), 503, "internal"),
        ];
        for (err, status, code) in cases {
            assert_eq!((err.status, err.code.as_str()), (status, code));
        }
    }

    #[test]
    fn a_rate_limit_says_when_to_retry_in_whole_seconds() {
        let err = ApiError::rate_limited("slow down", 7);
        assert_eq!(
            err.headers,
            vec![("retry-after".to_string(), "7".to_string())]
        );
        assert_eq!(
            err.body("r"),
            json!({"error": {"code": "rate_limited", "message": "slow down", "request_id": "r"}})
        );
        // "Retry-After: 0" would invite an immediate retry that is refused again.
        assert_eq!(ApiError::rate_limited("x", 0).headers[0].1, "1");
    }

    #[test]
    fn display_includes_the_cause_for_logs() {
        let err = ApiError::internal("connection reset");
        assert_eq!(
            err.to_string(),
            "500 internal: internal error (cause: connection reset)"
        );
    }
}
