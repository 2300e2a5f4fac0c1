//! PostgREST error bodies (`{code, message, details, hint}`) to [`ApiError`].
//!
//! Only messages we wrote ourselves (`raise ... using errcode = 'PTxyz'`) or that describe the
//! client's own input (SQLSTATE class 22) reach the client. Everything that names our schema
//! (constraint, function, table names) is replaced by a generic message and kept as the cause.

use super::ApiError;
use serde::Deserialize;

#[derive(Deserialize, Default)]
struct PostgrestBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    hint: Option<String>,
}

/// Upper bound for a cause copied from an upstream body, so a huge HTML error page does not
/// flood the logs.
const MAX_CAUSE_CHARS: usize = 1000;

impl ApiError {
    pub fn from_postgrest(status: u16, body: &str) -> ApiError {
        let parsed: PostgrestBody = serde_json::from_slice(body.as_bytes()).unwrap_or_default();
        let code = parsed.code.as_deref().unwrap_or("");
        let message = parsed.message.clone().unwrap_or_default();
        let cause = cause_line(status, &parsed, body);

        if status >= 500 {
            return server_error(status, cause);
        }

        if let Some(http) = custom_status(code) {
            if http >= 500 {
                return server_error(http, cause);
            }
            if http == 429 {
                let message = for_status(429, message).message;
                return ApiError::rate_limited(message, retry_after(&parsed)).with_cause(cause);
            }
            return for_status(http, message).with_cause(cause);
        }

        let mapped = match code {
            // Class 22, data exception: Postgres describes the offending input value.
            c if c.starts_with("22") => ApiError::validation(message),
            // Bare `raise exception`: our own SQL wrote it.
            "P0001" => ApiError::validation(message),
            "23505" | "23P01" => ApiError::conflict("conflicts with an existing record"),
            "23503" => ApiError::conflict("refers to a record that does not exist"),
            c if c.starts_with("23") => ApiError::validation("input violates a data constraint"),
            "42501" => for_status(if status == 401 { 401 } else { 403 }, "permission denied"),
            // JWT rejected by PostgREST itself; its messages ("JWT expired") are safe.
            c if c.starts_with("PGRST3") => ApiError::unauthorized(message),
            // Any other PGRST or SQLSTATE code here (function missing, bad request we built,
            // undefined column) is a bug or a deployment mismatch on our side.
            c if !c.is_empty() => ApiError::internal(String::new()),
            _ if status == 429 => {
                ApiError::rate_limited(for_status(429, message).message, retry_after(&parsed))
            }
            _ => for_status(status, message),
        };
        if mapped.is_server_error() {
            return server_error(500, cause);
        }
        mapped.with_cause(cause)
    }
}

/// `PT402` -> 402. PostgREST already uses it as the HTTP status; we re-derive it so a proxy that
/// rewrites the status cannot change the meaning.
fn custom_status(code: &str) -> Option<u16> {
    let digits = code.strip_prefix("PT")?;
    if digits.len() != 3 {
        return None;
    }
    digits
        .parse::<u16>()
        .ok()
        .filter(|s| (100..600).contains(s))
}

/// Seconds to wait after a PT429: SQL says it in the hint as `retry_after=<seconds>`
/// (PostgREST passes the hint through); [`DEFAULT_RETRY_AFTER_SECS`] when it does not.
fn retry_after(parsed: &PostgrestBody) -> u32 {
    parsed
        .hint
        .as_deref()
        .and_then(|h| h.trim().strip_prefix("retry_after="))
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(DEFAULT_RETRY_AFTER_SECS)
}

/// The wait a PT429 without a hint asks for.
const DEFAULT_RETRY_AFTER_SECS: u32 = 5;

fn for_status(status: u16, message: impl Into<String>) -> ApiError {
    let message = message.into();
    let (code, default_message) = match status {
        400 => ("validation_failed", "invalid request"),
        401 => ("unauthorized", "authentication required"),
        402 => ("insufficient_credits", "insufficient credits"),
        403 => ("forbidden", "forbidden"),
        404 => ("not_found", "not found"),
        405 => ("method_not_allowed", "method not allowed"),
        409 => ("conflict", "conflict"),
        // An invitation that was revoked, expired or used up: it existed, and never will again.
        410 => ("gone", "gone"),
        413 => ("payload_too_large", "payload too large"),
        415 => ("unsupported_media_type", "unsupported media type"),
        429 => ("rate_limited", "too many requests"),
        s if (400..500).contains(&s) => ("bad_request", "bad request"),
        _ => return ApiError::internal(String::new()),
    };
    let message = if message.trim().is_empty() {
        default_message.to_string()
    } else {
        message
    };
    ApiError::new(status, code, message)
}

fn server_error(status: u16, cause: String) -> ApiError {
    let status = if (500..600).contains(&status) {
        status
    } else {
        500
    };
    ApiError::new(status, "internal", super::OPAQUE_MESSAGE).with_cause(cause)
}

fn cause_line(status: u16, parsed: &PostgrestBody, raw: &str) -> String {
    let text = if parsed.code.is_some() || parsed.message.is_some() {
        let mut line = format!(
            "postgrest {status} {}: {}",
            parsed.code.as_deref().unwrap_or("-"),
            parsed.message.as_deref().unwrap_or("")
        );
        if let Some(details) = &parsed.details {
            line.push_str(&format!(" details: {details}"));
        }
        if let Some(hint) = &parsed.hint {
            line.push_str(&format!(" hint: {hint}"));
        }
        line
    } else {
        format!("postgrest {status}: {raw}")
    };
    text.chars().take(MAX_CAUSE_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str, message: &str) -> String {
        serde_json::json!({"code": code, "message": message, "details": null, "hint": null})
            .to_string()
    }

    #[test]
    fn custom_pt_codes_keep_the_message_our_sql_wrote() {
        let cases = [
            ("PT400", 400, "validation_failed"),
            ("PT401", 401, "unauthorized"),
            ("PT402", 402, "insufficient_credits"),
            ("PT403", 403, "forbidden"),
            ("PT404", 404, "not_found"),
            ("PT409", 409, "conflict"),
            ("PT410", 410, "gone"),
            ("PT415", 415, "unsupported_media_type"),
            ("PT429", 429, "rate_limited"),
        ];
        for (code, status, api_code) in cases {
            let err = ApiError::from_postgrest(status, &body(code, "exact sql message"));
            assert_eq!(err.status, status, "{code}");
            assert_eq!(err.code, api_code, "{code}");
            assert_eq!(err.message, "exact sql message", "{code}");
        }
    }

    #[test]
    fn a_pt429_carries_the_retry_after_its_sql_hinted() {
        let hinted = serde_json::json!({"code": "PT429", "message": "concurrent generation limit reached",
            "details": null, "hint": "retry_after=10"});
        let err = ApiError::from_postgrest(429, &hinted.to_string());
        assert_eq!((err.status, err.code.as_str()), (429, "rate_limited"));
        assert_eq!(err.message, "concurrent generation limit reached");
        assert_eq!(err.headers, vec![("retry-after".into(), "10".into())]);

        let bare = ApiError::from_postgrest(429, &body("PT429", "slow down"));
        let default = DEFAULT_RETRY_AFTER_SECS.to_string();
        assert_eq!(bare.headers, vec![("retry-after".into(), default.clone())]);
        let no_code = ApiError::from_postgrest(429, "");
        assert_eq!(
            (no_code.code.as_str(), no_code.headers),
            ("rate_limited", vec![("retry-after".into(), default)])
        );
    }

    #[test]
    fn pt_code_decides_the_status_even_if_the_http_status_disagrees() {
        let err = ApiError::from_postgrest(400, &body("PT402", "need 5 more credits"));
        assert_eq!(
            (err.status, err.code.as_str()),
            (402, "insufficient_credits")
        );
    }

    #[test]
    fn data_exceptions_become_validation_failures() {
        for code in ["22P02", "22023", "22001", "22003", "22007"] {
            let err = ApiError::from_postgrest(
                400,
                &body(code, "invalid input syntax for type uuid: \"x\""),
            );
            assert_eq!((err.status, err.code.as_str()), (400, "validation_failed"));
            assert!(err.message.contains("invalid input syntax"));
        }
    }

    #[test]
    fn constraint_violations_hide_the_constraint_name() {
        let msg =
            "new row for relation \"profiles\" violates check constraint \"profiles_name_check\"";
        let err = ApiError::from_postgrest(400, &body("23514", msg));
        assert_eq!((err.status, err.code.as_str()), (400, "validation_failed"));
        assert!(!err.message.contains("profiles"));
        assert!(err
            .cause
            .as_deref()
            .unwrap()
            .contains("profiles_name_check"));

        let err = ApiError::from_postgrest(409, &body("23505", "duplicate key \"x_pkey\""));
        assert_eq!((err.status, err.code.as_str()), (409, "conflict"));
        assert!(!err.message.contains("pkey"));
    }

    #[test]
    fn permission_denied_does_not_name_the_function() {
        let err = ApiError::from_postgrest(
            403,
            &body(
                "42501",
                "permission denied for function admin_adjust_credits",
            ),
        );
        assert_eq!(
            (err.status, err.message.as_str()),
            (403, "permission denied")
        );
        let err = ApiError::from_postgrest(401, &body("42501", "permission denied for schema api"));
        assert_eq!(err.status, 401);
    }

    #[test]
    fn missing_function_is_our_bug_not_the_clients() {
        let err = ApiError::from_postgrest(
            404,
            &body("PGRST202", "Could not find the function api.nope"),
        );
        assert_eq!(err.status, 500);
        assert_eq!(err.body("r")["error"]["message"], "internal error");
        assert!(err.cause.unwrap().contains("api.nope"));
        let err =
            ApiError::from_postgrest(404, &body("42883", "function api.x(int) does not exist"));
        assert_eq!(err.status, 500);
    }

    #[test]
    fn jwt_errors_from_postgrest_are_unauthorized() {
        let err = ApiError::from_postgrest(401, &body("PGRST301", "JWT expired"));
        assert_eq!(
            (err.status, err.code.as_str(), err.message.as_str()),
            (401, "unauthorized", "JWT expired")
        );
    }

    #[test]
    fn server_errors_are_opaque_and_keep_the_cause() {
        let err = ApiError::from_postgrest(500, &body("XX000", "disk full at /var/lib"));
        assert_eq!((err.status, err.code.as_str()), (500, "internal"));
        assert_eq!(err.message, "internal error");
        assert!(err.cause.unwrap().contains("disk full"));

        let err = ApiError::from_postgrest(503, "<html>bad gateway</html>");
        assert_eq!(err.status, 503);
        assert!(err.cause.unwrap().contains("<html>"));
    }

    #[test]
    fn status_alone_decides_when_the_body_is_not_json() {
        let err = ApiError::from_postgrest(404, "");
        assert_eq!(
            (err.status, err.code.as_str(), err.message.as_str()),
            (404, "not_found", "not found")
        );
        let err = ApiError::from_postgrest(418, "teapot");
        assert_eq!((err.status, err.code.as_str()), (418, "bad_request"));
    }

    #[test]
    fn huge_upstream_bodies_are_truncated_in_the_cause() {
        let err = ApiError::from_postgrest(502, &"x".repeat(10_000));
        assert!(err.cause.unwrap().chars().count() <= MAX_CAUSE_CHARS);
    }
}
