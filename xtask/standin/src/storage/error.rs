//! Supabase Storage's error body `{"statusCode","code","error","message"}` and its HTTP status
//! rule (storage: src/internal/errors/codes.ts, storage-error.ts, src/http/error-handler.ts):
//! the body carries the "real" status as a string, while the HTTP status is 400 for every
//! error except 500s and the few that set their own (416 for a bad range).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError {
    /// The HTTP status of the response.
    pub http: u16,
    /// `statusCode` in the body.
    pub status_code: u16,
    pub code: &'static str,
    /// `error` in the body: a legacy label where Storage has one, else the code.
    pub error: String,
    pub message: String,
}

impl StorageError {
    fn new(status_code: u16, code: &'static str, message: impl Into<String>) -> StorageError {
        StorageError {
            http: if status_code == 500 { 500 } else { 400 },
            status_code,
            code,
            error: code.to_string(),
            message: message.into(),
        }
    }

    fn labelled(mut self, error: &str) -> StorageError {
        self.error = error.to_string();
        self
    }

    pub fn no_such_bucket() -> StorageError {
        StorageError::new(404, "NoSuchBucket", "Bucket not found").labelled("Bucket not found")
    }

    pub fn no_such_key() -> StorageError {
        StorageError::new(404, "NoSuchKey", "Object not found").labelled("not_found")
    }

    /// The renderer's answer when the row exists but the bytes do not.
    pub fn asset_not_found() -> StorageError {
        StorageError::new(404, "NoSuchKey", "The resource was not found").labelled("Not found")
    }

    pub fn access_denied(message: impl Into<String>) -> StorageError {
        StorageError::new(403, "AccessDenied", message).labelled("Unauthorized")
    }

    pub fn key_already_exists() -> StorageError {
        StorageError::new(409, "KeyAlreadyExists", "The resource already exists")
            .labelled("Duplicate")
    }

    pub fn resource_already_exists() -> StorageError {
        StorageError::new(409, "ResourceAlreadyExists", "The resource already exists")
            .labelled("Duplicate")
    }

    pub fn invalid_mime_type(mime: &str) -> StorageError {
        StorageError::new(
            415,
            "InvalidMimeType",
            format!("mime type {mime} is not supported"),
        )
        .labelled("invalid_mime_type")
    }

    /// `entity` is "object", or "user_metadata" for a too large metadata field.
    pub fn entity_too_large(entity: &str) -> StorageError {
        StorageError::new(
            413,
            "EntityTooLarge",
            format!("The {entity} exceeded the maximum allowed size"),
        )
        .labelled("Payload too large")
    }

    pub fn invalid_jwt(message: impl Into<String>) -> StorageError {
        StorageError::new(400, "InvalidJWT", message)
    }

    pub fn invalid_signature(message: impl Into<String>) -> StorageError {
        StorageError::new(400, "InvalidSignature", message)
    }

    pub fn invalid_key(key: &str) -> StorageError {
        StorageError::new(400, "InvalidKey", format!("Invalid key: {key}"))
    }

    pub fn invalid_parameter(message: impl Into<String>) -> StorageError {
        StorageError::new(400, "InvalidParameter", message)
    }

    pub fn no_content_provided(message: impl Into<String>) -> StorageError {
        StorageError::new(400, "InvalidRequest", message)
    }

    /// A request Storage's route schema would refuse (Fastify's validation error).
    pub fn invalid_request(message: impl Into<String>) -> StorageError {
        StorageError::new(400, "InvalidRequest", message).labelled("FastifyError")
    }

    pub fn related_resource_not_found() -> StorageError {
        StorageError::new(404, "InvalidRequest", "The related resource does not exist")
    }

    pub fn invalid_range() -> StorageError {
        let mut e = StorageError::new(416, "InvalidRange", "invalid range provided")
            .labelled("invalid_range");
        e.http = 416;
        e
    }

    /// The stand-in's plain answer outside the part of Storage it implements.
    pub fn not_implemented(what: impl std::fmt::Display) -> StorageError {
        StorageError {
            http: 501,
            status_code: 501,
            code: "STANDIN501",
            error: "STANDIN501".into(),
            message: format!(
                "postgrest-standin does not implement {what} (see xtask/standin/README.md)"
            ),
        }
    }

    pub fn internal(message: impl Into<String>) -> StorageError {
        StorageError::new(500, "InternalError", message)
    }

    pub fn database(message: impl Into<String>) -> StorageError {
        StorageError::new(500, "DatabaseError", message)
    }

    /// A PostgreSQL error, mapped as Storage's `DBError.fromDBError` does.
    pub fn from_db(e: &tokio_postgres::Error) -> StorageError {
        let Some(db) = e.as_db_error() else {
            return StorageError::database(format!("database connection error: {e}"));
        };
        match db.code().code() {
            "42501" if db.message().contains("row-level security") => {
                StorageError::access_denied("new row violates row-level security policy")
            }
            "42501" => StorageError::access_denied(db.message()),
            "23505" => StorageError::resource_already_exists(),
            "23503" => StorageError::related_resource_not_found(),
            "22P02" => StorageError::invalid_parameter(db.message()),
            code => StorageError::database(format!("database error, code: {code}")),
        }
    }

    pub fn body(&self) -> serde_json::Value {
        json!({
            "statusCode": self.status_code.to_string(),
            "code": self.code,
            "error": self.error,
            "message": self.message,
        })
    }
}

impl IntoResponse for StorageError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        crate::http::json_response(status, self.body().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_status_is_400_unless_500_or_a_range() {
        assert_eq!(StorageError::no_such_key().http, 400);
        assert_eq!(StorageError::entity_too_large("object").http, 400);
        assert_eq!(StorageError::internal("x").http, 500);
        assert_eq!(StorageError::invalid_range().http, 416);
    }

    #[test]
    fn body_is_storage_shaped() {
        assert_eq!(
            StorageError::no_such_key().body(),
            json!({"statusCode": "404", "code": "NoSuchKey", "error": "not_found", "message": "Object not found"})
        );
        assert_eq!(
            StorageError::invalid_jwt("m").body(),
            json!({"statusCode": "400", "code": "InvalidJWT", "error": "InvalidJWT", "message": "m"})
        );
        assert_eq!(
            StorageError::entity_too_large("object").body()["message"],
            "The object exceeded the maximum allowed size"
        );
    }
}
