//! The one mapping from a handler's result to what the client gets, for every Worker (the
//! functions and the router alike), so every answer has the same error body and headers.

use super::cors::Cors;
use super::request::REQUEST_ID_HEADER;
use super::response::ApiResponse;
use crate::error::ApiError;

/// Errors become `{"error":{code,message,request_id}}` (opaque for 5xx) with the headers the
/// error asks for (`Allow` on a 405); every answer gets `x-request-id` and the CORS headers
/// for `origin`.
pub fn respond(
    result: Result<ApiResponse, ApiError>,
    request_id: &str,
    origin: Option<&str>,
    cors: &Cors,
) -> ApiResponse {
    let mut resp = match result {
        Ok(resp) => resp,
        Err(err) => {
            let mut resp = ApiResponse::json(err.status, err.body(request_id));
            for (name, value) in &err.headers {
                resp.set_header(name, value);
            }
            resp
        }
    };
    resp.set_header(REQUEST_ID_HEADER, request_id);
    cors.apply(origin, &mut resp.headers);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cors() -> Cors {
        Cors::new(vec!["https://app.example".into()])
    }

    #[test]
    fn an_error_gets_the_one_body_its_own_headers_the_request_id_and_cors() {
        let err = ApiError::method_not_allowed().with_header("Allow", "GET, PATCH");
        let resp = respond(Err(err), "req-1", Some("https://app.example"), &cors());
        assert_eq!(resp.status, 405);
        assert_eq!(
            resp.body,
            Some(
                json!({"error": {"code": "method_not_allowed", "message": "method not allowed", "request_id": "req-1"}})
            )
        );
        assert_eq!(resp.header("allow"), Some("GET, PATCH"));
        assert_eq!(resp.header("x-request-id"), Some("req-1"));
        assert_eq!(
            resp.header("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(resp.header("vary"), Some("Origin"));
    }

    #[test]
    fn a_server_error_stays_opaque() {
        let err = ApiError::internal("db password=hunter2");
        let resp = respond(Err(err), "r", None, &cors());
        assert_eq!(resp.status, 500);
        assert!(!resp.body.unwrap().to_string().contains("hunter2"));
    }

    #[test]
    fn a_success_keeps_its_status_and_headers() {
        let ok = ApiResponse::accepted(json!({"a": 1})).with_header("x-extra", "1");
        let resp = respond(Ok(ok), "r", Some("https://evil.example"), &cors());
        assert_eq!((resp.status, resp.header("x-extra")), (202, Some("1")));
        assert_eq!(resp.header("access-control-allow-origin"), None);
        assert_eq!(resp.header("x-request-id"), Some("r"));
    }
}
