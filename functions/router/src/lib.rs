//! The router Worker: one URL in front of every function. Each function is its own Worker,
//! reached through a service binding, so each ships (and is sized and deployed) on its own.

use genbase_shared::error::ApiError;
use genbase_shared::http::{respond, ApiResponse, Cors};

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
];

/// The binding serving `path`: a prefix matches only on a segment boundary, so
/// `/v1/meta` is not `/v1/me`.
pub fn route(path: &str) -> Option<&'static str> {
    ROUTES.iter().find_map(|(prefix, binding)| {
        let rest = path.strip_prefix(prefix)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(*binding)
    })
}

/// The answer for a path no function serves: the one error body through the one mapper, with
/// `x-request-id` and the CORS headers every function's answers carry.
pub fn not_found(
    path: &str,
    request_id: &str,
    origin: Option<&str>,
    cors_origins: Option<&str>,
) -> ApiResponse {
    let cors = Cors::from_list(cors_origins.unwrap_or_default());
    let err = ApiError::not_found(format!("no endpoint at {path}"));
    respond(Err(err), request_id, origin, &cors)
}

#[cfg(target_arch = "wasm32")]
mod worker_entry {
    use genbase_shared::http::{accept_request_id, REQUEST_ID_HEADER};
    use worker::{event, Context, Env, Request, Response, Result};

    #[event(fetch)]
    async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
        let path = req.path();
        if let Some(binding) = super::route(&path) {
            return env.service(binding)?.fetch_request(req).await;
        }
        let header = |name: &str| req.headers().get(name).ok().flatten();
        let request_id = accept_request_id(header(REQUEST_ID_HEADER).as_deref());
        let origins = (env.var("CORS_ORIGINS").map(|v| v.to_string()))
            .or_else(|_| env.secret("CORS_ORIGINS").map(|v| v.to_string()))
            .ok();
        let answer = super::not_found(
            &path,
            &request_id,
            header("origin").as_deref(),
            origins.as_deref(),
        );
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
    use super::{not_found, route};

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
    }

    #[test]
    fn an_unknown_path_gets_the_one_error_body_and_cors_headers() {
        let resp = not_found(
            "/v2/x",
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
        let other = not_found("/v2/x", "r", Some("https://evil.example"), None);
        assert_eq!(other.header("access-control-allow-origin"), None);
        assert_eq!(other.header("vary"), Some("Origin"));
    }
}
