//! HTTP surface: routes, the RPC handler and responses. Everything outside
//! `GET|HEAD|POST /rest/v1/rpc/<fn>` (or `/rpc/<fn>`), the JWKS document and Storage's
//! `/storage/v1` (see [`crate::storage`]) is answered with 501 STANDIN501.

use crate::call::{self, Call, Outcome};
use crate::catalog::{Catalog, Resolved};
use crate::config::Config;
use crate::errors::ApiError;
use crate::jwt;
use crate::keys::Keys;
use crate::request;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use deadpool_postgres::Pool;
use percent_encoding::percent_decode_str;
use std::collections::BTreeSet;
use std::sync::Arc;

pub const JWKS_PATH: &str = "/auth/v1/.well-known/jwks.json";

pub struct App {
    pub config: Config,
    pub keys: Keys,
    pub catalog: Arc<Catalog>,
    pub pool: Pool,
    /// Storage's state; `None` without `--storage-dir`.
    pub storage: Option<crate::storage::Storage>,
}

pub fn router(app: Arc<App>) -> Router {
    Router::new().fallback(handle).with_state(app)
}

#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// `name` is the decoded function name; `path` is what PostgREST itself would see (Supabase's
    /// gateway strips `/rest/v1`), i.e. the value of `request.path`.
    Rpc {
        name: String,
        path: String,
    },
    Jwks,
    /// Anything under `/storage/v1/`.
    Storage,
    Other,
}

fn route(path: &str) -> Route {
    if path == JWKS_PATH {
        return Route::Jwks;
    }
    if path.starts_with("/storage/v1/") {
        return Route::Storage;
    }
    let pgrst_path = match path.strip_prefix("/rest/v1") {
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    };
    match pgrst_path.strip_prefix("/rpc/") {
        Some(name) if !name.is_empty() && !name.contains('/') => Route::Rpc {
            name: percent_decode_str(name).decode_utf8_lossy().into_owned(),
            path: pgrst_path.to_string(),
        },
        _ => Route::Other,
    }
}

async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let resp = match route(parts.uri.path()) {
        Route::Storage => return crate::storage::serve(app, parts, body).await,
        Route::Rpc { name, path } => rpc(&app, &parts, body, name, path).await,
        Route::Jwks if parts.method == Method::GET || parts.method == Method::HEAD => {
            Ok(json_answer(
                StatusCode::OK,
                app.keys.public_jwks.to_string(),
                &parts.method,
            ))
        }
        _ => Err(ApiError::not_implemented(format!(
            "{} {} (it serves only POST/GET /rest/v1/rpc/<function> and GET {JWKS_PATH})",
            parts.method,
            parts.uri.path()
        ))),
    };
    resp.unwrap_or_else(|e| {
        if e.status >= 500 && e.code != "STANDIN501" {
            eprintln!(
                "postgrest-standin: {} {} -> {} {}",
                parts.method,
                parts.uri,
                e.status,
                e.body()
            );
        }
        e.into_response()
    })
}

async fn rpc(
    app: &App,
    parts: &Parts,
    body: Body,
    name: String,
    path: String,
) -> Result<Response, ApiError> {
    let method = &parts.method;
    let is_get = method == Method::GET || method == Method::HEAD;
    if method == Method::OPTIONS {
        return Err(ApiError::not_implemented(
            "OPTIONS requests (CORS preflight, allowed methods)",
        ));
    }
    if !is_get && method != Method::POST {
        return Err(ApiError::new(
            405,
            "PGRST101",
            format!("Cannot use the {method} method on RPC"),
        ));
    }
    // PostgREST authenticates before it looks at anything else in the request.
    let identity = jwt::authenticate(
        request::header_str(&parts.headers, header::AUTHORIZATION.as_str()),
        &app.keys,
        &app.config.anon_role,
        unix_now(),
    )?;
    let schema = request::profile(&parts.headers, is_get, &app.config)?;
    request::check_accept(&parts.headers)?;
    request::check_prefer(&parts.headers)?;
    let query = request::classify_query(parts.uri.query().unwrap_or(""))?;
    let args = if is_get {
        query
    } else {
        request::check_content_type(&parts.headers)?;
        request::body_args(&parts.headers, body).await?
    };

    let keys: BTreeSet<String> = args.keys().cloned().collect();
    let routine = match app
        .catalog
        .resolve(&app.pool, &schema, &name, &keys, !is_get)
        .await?
    {
        Resolved::Found(r) => r,
        Resolved::NotFound(e) | Resolved::Ambiguous(e) => return Err(e),
    };
    let role_settings = app.catalog.role_settings(&app.pool, &identity.role).await?;
    let search_path = std::iter::once(schema.as_str())
        .chain(app.config.extra_search_path.iter().map(String::as_str))
        .map(call::ident)
        .collect::<Vec<_>>()
        .join(", ");
    let call = Call {
        read_only: call::read_only(is_get, routine.volatility),
        routine,
        args,
        identity,
        role_settings,
        search_path,
        method: method.to_string(),
        path,
        headers: request::headers_json(&parts.headers),
        cookies: request::cookies_json(&parts.headers),
    };
    // The transaction runs to its end even if the client hangs up, so a write is either
    // committed or rolled back, never cut off half-way by a dropped future.
    let pool = app.pool.clone();
    let outcome = tokio::spawn(async move { call::run(&pool, call).await })
        .await
        .map_err(|e| ApiError::new(500, "STANDIN500", format!("internal error: {e}")))??;

    let mut resp = match outcome {
        Outcome::NoContent => StatusCode::NO_CONTENT.into_response(),
        Outcome::Json(body) => json_answer(StatusCode::OK, body, method),
    };
    if app.config.schemas.len() > 1 {
        // PostgREST names the schema it used when more than one is exposed.
        if let Ok(v) = HeaderValue::from_str(&schema) {
            resp.headers_mut().insert("content-profile", v);
        }
    }
    Ok(resp)
}

/// A JSON answer; to `HEAD`, the same headers without the body.
fn json_answer(status: StatusCode, body: String, method: &Method) -> Response {
    let body = if method == Method::HEAD {
        String::new()
    } else {
        body
    };
    json_response(status, body)
}

/// `body` as `application/json`, the content type PostgREST and Storage answer with.
pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route("/rest/v1/rpc/get_x"),
            Route::Rpc {
                name: "get_x".into(),
                path: "/rpc/get_x".into()
            }
        );
        assert_eq!(
            route("/rpc/a%20b"),
            Route::Rpc {
                name: "a b".into(),
                path: "/rpc/a%20b".into()
            }
        );
        assert_eq!(route(JWKS_PATH), Route::Jwks);
        assert_eq!(route("/storage/v1/object/b/a.png"), Route::Storage);
        for other in [
            "/rest/v1/profiles",
            "/rest/v1/",
            "/rest/v1/rpc/",
            "/rest/v1/rpc/a/b",
            "/auth/v1/token",
            "/",
            "/rest/v1rpc/x",
            "/storage/v1",
        ] {
            assert_eq!(route(other), Route::Other, "{other}");
        }
    }
}
