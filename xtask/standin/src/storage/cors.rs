//! CORS for Storage, as a hosted project's gateway answers it: Supabase puts Kong's `cors`
//! plugin (default configuration) in front of Storage, so a browser may upload to a signed
//! URL or download from any origin. Preflights are answered by the gateway without reaching
//! Storage; every other answer carries `Access-Control-Allow-Origin: *`. Storage's own
//! authorization (tokens, signed URLs, policies) is what guards the objects.

use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// The methods Kong's `cors` plugin allows by default.
const METHODS: &str = "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT";

/// A preflight's answer: any origin, the default methods, and the request headers the
/// browser asks for echoed back (Kong's default when no header list is configured).
pub fn preflight(request: &HeaderMap) -> Response {
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    allow_any_origin(headers);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(METHODS),
    );
    if let Some(asked) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    response
}

/// Lets a page of any origin read the answer.
pub fn allow_any_origin(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preflight_allows_any_origin_and_echoes_the_asked_headers() {
        let mut asked = HeaderMap::new();
        asked.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("authorization,x-upsert,content-type"),
        );
        let r = preflight(&asked);
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(h[header::ACCESS_CONTROL_ALLOW_METHODS]
            .to_str()
            .unwrap()
            .contains("PUT"));
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_HEADERS],
            "authorization,x-upsert,content-type"
        );
    }

    #[test]
    fn a_preflight_without_asked_headers_allows_none() {
        let r = preflight(&HeaderMap::new());
        assert!(r
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_HEADERS)
            .is_none());
    }
}
