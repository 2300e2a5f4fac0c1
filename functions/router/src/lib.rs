//! The router Worker: one URL in front of every function. Each function is its own Worker,
//! reached through a service binding, so each ships (and is sized and deployed) on its own.

use genbase_shared::error::ApiError;
use genbase_shared::http::{respond, ApiResponse, Cors, REQUEST_ID_HEADER};

genbase_shared::endpoints! {
    /// What the router answers itself: the API's description and its reference page.
    enum Endpoint {
        GET "/v1/openapi.json" => Spec,
        GET "/v1/docs" => Docs,
        GET "/v1/docs/redoc.standalone.js" => DocsScript,
    }
}

const DOCS_PAGE: &str = include_str!("docs.html");

/// An answer of the router's own routes.
#[derive(Debug, PartialEq)]
pub enum Own {
    /// Text compiled into the router: its content type and body.
    Text(&'static str, &'static str),
    /// A file of the router's Workers static assets (binding `ASSETS`, which
    /// `cargo xtask build router` fills): its path there and its content type. The OpenAPI
    /// document (200 KB) and the reference page's script (1 MB) stay out of the WASM.
    Asset(&'static str, &'static str),
}

/// The router's own answer to `method path`: its routes, or the shared 404 / 405.
pub fn own(method: &str, path: &str) -> Result<Own, ApiError> {
    Ok(match Endpoint::parse(method, path)? {
        Endpoint::Spec => Own::Asset("/openapi.json", "application/json; charset=utf-8"),
        Endpoint::Docs => Own::Text("text/html; charset=utf-8", DOCS_PAGE),
        Endpoint::DocsScript => {
            Own::Asset("/redoc.standalone.js", "text/javascript; charset=utf-8")
        }
    })
}

/// The headers of a successful own answer: its type, the request id and CORS (tools read the
/// document from other origins). Public documents, so a cache may keep them briefly.
pub fn own_headers(
    content_type: &str,
    request_id: &str,
    origin: Option<&str>,
    cors_origins: Option<&str>,
) -> Vec<(String, String)> {
    let mut headers = vec![
        ("content-type".to_string(), content_type.to_string()),
        (
            "cache-control".to_string(),
            "public, max-age=300".to_string(),
        ),
        (REQUEST_ID_HEADER.to_string(), request_id.to_string()),
    ];
    Cors::from_list(cors_origins.unwrap_or_default()).apply(origin, &mut headers);
    headers
}

/// Path prefix -> service binding (declared in the top-level wrangler.toml).
/// Adding a function: one line here, one `[[services]]` entry there.
pub const ROUTES: &[(&str, &str)] = &[
    ("/v1/me", "PROFILE"),
    ("/v1/generations", "GENERATIONS"),
    ("/v1/credits", "CREDITS"),
    ("/v1/usage", "USAGE"),
    // Reconciliation talks to the provider with the pool's tokens, which only the
    // generations function holds; it must come before the `/v1/admin` prefix.
    ("/v1/admin/reconcile", "GENERATIONS"),
    ("/v1/admin/storage-jobs", "MEDIA"),
    // Operations' own records: the activity function serves them (error logs, metrics).
    ("/v1/admin/errors", "ACTIVITY"),
    ("/v1/admin/performance", "ACTIVITY"),
    ("/v1/admin", "ADMIN"),
    ("/v1/webhooks", "WEBHOOKS"),
    ("/v1/worker", "WORKER"),
    ("/v1/media", "MEDIA"),
    ("/v1/uploads", "UPLOADS"),
    ("/v1/conversations", "CHAT"),
    ("/v1/memories", "CHAT"),
    ("/v1/prompt-templates", "CHAT"),
    ("/v1/files", "FILES"),
    ("/v1/search", "FILES"),
    ("/v1/projects", "PROJECTS"),
    ("/v1/flows", "FLOWS"),
    ("/v1/loras", "LORAS"),
    ("/v1/training-data", "LORAS"),
    ("/v1/workspaces", "WORKSPACES"),
    ("/v1/invitations", "WORKSPACES"),
    ("/v1/notifications", "NOTIFICATIONS"),
    ("/v1/ideas", "FEEDBACK"),
    ("/v1/support", "FEEDBACK"),
    ("/v1/activity", "ACTIVITY"),
];

/// The binding serving `path`: a prefix matches only on a segment boundary, so
/// `/v1/meta` is not `/v1/me`.
pub fn route(path: &str) -> Option<&'static str> {
    ROUTES.iter().find_map(|(prefix, binding)| {
        let rest = path.strip_prefix(prefix)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(*binding)
    })
}

/// An error of the router's own (a path nothing serves, a method a path does not take): the
/// one error body through the one mapper, with `x-request-id` and the CORS headers every
/// function's answers carry.
pub fn error(
    err: ApiError,
    request_id: &str,
    origin: Option<&str>,
    cors_origins: Option<&str>,
) -> ApiResponse {
    let cors = Cors::from_list(cors_origins.unwrap_or_default());
    respond(Err(err), request_id, origin, &cors)
}

#[cfg(target_arch = "wasm32")]
mod worker_entry {
    use super::Own;
    use genbase_shared::error::ApiError;
    use genbase_shared::http::{
        accept_request_id, ApiRequest, ApiResponse, Cors, REQUEST_ID_HEADER,
    };
    use worker::{event, Context, Env, Headers, Request, Response, Result};

    #[event(fetch)]
    async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
        let path = req.path();
        if let Some(binding) = super::route(&path) {
            return env.service(binding)?.fetch_request(req).await;
        }
        let header = |name: &str| req.headers().get(name).ok().flatten();
        let request_id = accept_request_id(header(REQUEST_ID_HEADER).as_deref());
        let origin = header("origin");
        let origins = (env.var("CORS_ORIGINS").map(|v| v.to_string()))
            .or_else(|_| env.secret("CORS_ORIGINS").map(|v| v.to_string()))
            .ok();
        let origins = origins.as_deref();
        // The request's own method: workers-rs reads a method it does not know (QUERY) as GET.
        let method = req.inner().method();
        if method == "OPTIONS" {
            let from: Vec<_> = origin
                .iter()
                .map(|o| ("origin".into(), o.clone()))
                .collect();
            let preflight = ApiRequest::new(&method, &path, Vec::new(), from, Vec::new());
            return api_response(
                Cors::from_list(origins.unwrap_or_default()).preflight(&preflight),
            );
        }
        let fail = |err: ApiError| {
            api_response(super::error(err, &request_id, origin.as_deref(), origins))
        };
        let (content_type, body) = match super::own(&method, &path) {
            Ok(Own::Text(content_type, text)) => (content_type, text.as_bytes().to_vec()),
            Ok(Own::Asset(asset, content_type)) => {
                let Ok(assets) = env.assets("ASSETS") else {
                    return fail(ApiError::unavailable("the router has no ASSETS binding"));
                };
                let mut found = assets
                    .fetch(format!("https://assets.invalid{asset}"), None)
                    .await?;
                if found.status_code() != 200 {
                    return fail(ApiError::not_found(format!("no asset at {asset}")));
                }
                (content_type, found.bytes().await?)
            }
            Err(err) => return fail(err),
        };
        let headers = Headers::new();
        for (name, value) in
            super::own_headers(content_type, &request_id, origin.as_deref(), origins)
        {
            headers.set(&name, &value)?;
        }
        Ok(Response::from_bytes(body)?.with_headers(headers))
    }

    fn api_response(answer: ApiResponse) -> Result<Response> {
        let mut resp = match &answer.body {
            Some(body) => Response::from_json(body)?,
            None => Response::empty()?,
        }
        .with_status(answer.status);
        for (name, value) in &answer.headers {
            resp.headers_mut().set(name, value)?;
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::{error, own, own_headers, route, Own};
    use genbase_shared::error::ApiError;

    #[test]
    fn prefixes_route_to_their_binding() {
        assert_eq!(route("/v1/me"), Some("PROFILE"));
        assert_eq!(route("/v1/generations/abc/cancel"), Some("GENERATIONS"));
        assert_eq!(route("/v1/webhooks/replicate"), Some("WEBHOOKS"));
    }

    #[test]
    fn a_prefix_matches_only_on_a_segment_boundary() {
        assert_eq!(route("/v1/meta"), None);
        assert_eq!(route("/v1/creditsx"), None);
        assert_eq!(route("/"), None);
        assert_eq!(route(""), None);
        assert_eq!(route("/v1/openapi.json"), None);
        assert_eq!(route("/v1/docs"), None);
    }

    #[test]
    fn the_router_serves_the_document_the_page_and_the_pages_script() {
        assert_eq!(
            own("GET", "/v1/openapi.json"),
            Ok(Own::Asset(
                "/openapi.json",
                "application/json; charset=utf-8"
            ))
        );
        let Ok(Own::Text(content_type, page)) = own("GET", "/v1/docs") else {
            panic!("no page");
        };
        assert_eq!(content_type, "text/html; charset=utf-8");
        assert!(page.contains(r#"spec-url="/v1/openapi.json""#));
        assert!(page.contains(r#"src="/v1/docs/redoc.standalone.js""#));
        assert!(!page.contains("://"), "the page names no other host");
        assert_eq!(
            own("GET", "/v1/docs/redoc.standalone.js"),
            Ok(Own::Asset(
                "/redoc.standalone.js",
                "text/javascript; charset=utf-8"
            ))
        );
        let err = own("POST", "/v1/openapi.json").unwrap_err();
        assert_eq!((err.status, err.headers[0].1.as_str()), (405, "GET"));
        assert_eq!(own("GET", "/v2/x").unwrap_err().status, 404);
    }

    #[test]
    fn own_answers_carry_the_request_id_and_cors() {
        let headers = own_headers(
            "text/html",
            "req-1",
            Some("http://localhost:3000"),
            Some("http://localhost:3000"),
        );
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("x-request-id"), Some("req-1"));
        assert_eq!(
            get("access-control-allow-origin"),
            Some("http://localhost:3000")
        );
    }

    #[test]
    fn an_unknown_path_gets_the_one_error_body_and_cors_headers() {
        let resp = error(
            ApiError::not_found("no endpoint at /v2/x"),
            "req-1",
            Some("http://localhost:3000"),
            Some("http://localhost:3000, http://127.0.0.1:3000"),
        );
        assert_eq!(resp.status, 404);
        assert_eq!(resp.body.as_ref().unwrap()["error"]["code"], "not_found");
        assert_eq!(resp.body.as_ref().unwrap()["error"]["request_id"], "req-1");
        assert_eq!(resp.header("x-request-id"), Some("req-1"));
        assert_eq!(
            resp.header("access-control-allow-origin"),
            Some("http://localhost:3000")
        );
        let other = error(
            ApiError::not_found("x"),
            "r",
            Some("https://evil.example"),
            None,
        );
        assert_eq!(other.header("access-control-allow-origin"), None);
        assert_eq!(other.header("vary"), Some("Origin"));
    }
}
