//! The router Worker: one URL in front of every function. Each function is its own Worker,
//! reached through a service binding, so each ships (and is sized and deployed) on its own.

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
    ("/v1/admin", "ADMIN"),
    ("/v1/webhooks", "WEBHOOKS"),
    ("/v1/worker", "WORKER"),
];

/// The binding serving `path`: a prefix matches only on a segment boundary, so
/// `/v1/meta` is not `/v1/me`.
pub fn route(path: &str) -> Option<&'static str> {
    ROUTES.iter().find_map(|(prefix, binding)| {
        let rest = path.strip_prefix(prefix)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(*binding)
    })
}

#[cfg(target_arch = "wasm32")]
mod worker_entry {
    use genbase_shared::error::ApiError;
    use genbase_shared::http::new_request_id;
    use worker::{event, Context, Env, Request, Response, Result};

    #[event(fetch)]
    async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
        let path = req.path();
        match super::route(&path) {
            Some(binding) => env.service(binding)?.fetch_request(req).await,
            None => {
                let id = new_request_id();
                let err = ApiError::not_found(format!("no endpoint at {path}"));
                let mut resp = Response::from_json(&err.body(&id))?.with_status(err.status);
                resp.headers_mut().set("x-request-id", &id)?;
                Ok(resp)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::route;

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
}
