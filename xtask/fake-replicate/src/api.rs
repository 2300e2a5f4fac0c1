//! The Replicate HTTP API subset genbase uses (https://replicate.com/docs/reference/http):
//!
//! - `POST /v1/predictions` (`version`: `owner/name:hash`, `owner/name` or a bare hash)
//! - `POST /v1/models/{owner}/{name}/predictions` (official models)
//! - `GET /v1/predictions`, `GET /v1/predictions/{id}`, `POST /v1/predictions/{id}/cancel`
//! - `GET /v1/webhooks/default/secret`
//! - the trainings API (trainings.rs): `POST /v1/models/{owner}/{name}/versions/{id}/trainings`,
//!   `GET /v1/trainings[/{id}]`, `POST /v1/trainings/{id}/cancel`
//! - `GET /files/{name}`: output files (files.rs)
//!
//! Every `/v1` route wants `Authorization: Bearer <token>` (or Replicate's older `Token <token>`).
//! Any token is accepted except one containing `invalid`, which lets a test put a revoked token
//! in genbase's pool. Errors are problem details, as Replicate's:
//! `{"title", "detail", "status"}`.

use crate::store::{Event, Prediction, Status};
use crate::{files, runner};
use crate::{ids, webhook, App};
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The longest `Prefer: wait` Replicate honours.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// The caller's API token, put in the request by the auth layer.
#[derive(Clone)]
pub(crate) struct Token(String);

pub fn router(app: Arc<App>) -> Router {
    let v1 = Router::new()
        .route("/v1/predictions", post(create_for_version).get(list))
        .route("/v1/predictions/{id}", get(get_prediction))
        .route("/v1/predictions/{id}/cancel", post(cancel))
        .route(
            "/v1/models/{owner}/{name}/predictions",
            post(create_for_model),
        )
        .route("/v1/webhooks/default/secret", get(secret))
        .route(
            "/v1/models/{owner}/{name}/versions/{version}/trainings",
            post(crate::trainings::create),
        )
        .route("/v1/trainings", get(crate::trainings::list))
        .route("/v1/trainings/{id}", get(crate::trainings::get))
        .route("/v1/trainings/{id}/cancel", post(crate::trainings::cancel))
        .route_layer(middleware::from_fn_with_state(app.clone(), authenticate));
    Router::new()
        .merge(v1)
        .merge(crate::chat::routes())
        .route(crate::embeddings::PATH, post(crate::embeddings::create))
        .route("/files/{name}", get(files::file))
        .fallback(|| async {
            problem(
                StatusCode::NOT_FOUND,
                "Not found",
                "The requested resource does not exist.",
            )
        })
        .with_state(app)
}

pub fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = json!({ "title": title, "detail": detail, "status": status.as_u16() });
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

/// A problem-details error as a value; small, so `Result`s carrying it stay cheap to move.
pub struct Problem {
    status: StatusCode,
    title: &'static str,
    detail: String,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        problem(self.status, self.title, &self.detail)
    }
}

pub fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
    (known && !token.is_empty()).then(|| token.to_string())
}

/// Checks the token and logs the request (with its token and answer) for `/_fake/requests`.
async fn authenticate(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let token = bearer(request.headers());
    let response = match &token {
        Some(t) if !t.contains("invalid") => {
            request.extensions_mut().insert(Token(t.clone()));
            next.run(request).await
        }
        _ => problem(
            StatusCode::UNAUTHORIZED,
            "Unauthenticated",
            "You did not pass a valid authentication token",
        ),
    };
    app.store.record_request(json!({
        "method": method,
        "path": path,
        "token": token,
        "status": response.status().as_u16(),
        "at": ids::rfc3339(SystemTime::now()),
    }));
    response
}

/// The parts of a create request the fake acts on.
pub(crate) struct Create {
    pub(crate) raw: Value,
    input: Value,
    webhook: Option<String>,
    events: Vec<Event>,
}

/// Both create endpoints take their body as a [`Create`], or answer with the problem.
impl<S: Send + Sync> FromRequest<S> for Create {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Create, Response> {
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        parse_create(&body).map_err(IntoResponse::into_response)
    }
}

pub(crate) fn invalid(detail: impl Into<String>) -> Problem {
    Problem {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        title: "Input validation failed",
        detail: detail.into(),
    }
}

fn parse_create(body: &[u8]) -> Result<Create, Problem> {
    let raw: Value = serde_json::from_slice(body).map_err(|e| Problem {
        status: StatusCode::BAD_REQUEST,
        title: "Invalid JSON",
        detail: format!("The request body is not valid JSON: {e}"),
    })?;
    let obj = raw
        .as_object()
        .ok_or_else(|| invalid("The request body must be a JSON object."))?;
    let input = match obj.get("input") {
        Some(Value::Object(o)) => Value::Object(o.clone()),
        Some(_) => return Err(invalid("input: Invalid type. Expected: object.")),
        None => return Err(invalid("input is required.")),
    };
    let url = |field: &str| -> Result<Option<String>, Problem> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if valid_webhook_url(s) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(format!("{field}: must be an http(s) URL."))),
        }
    };
    let (webhook, legacy) = (url("webhook")?, url("webhook_completed")?);
    let events = match obj.get("webhook_events_filter") {
        None | Some(Value::Null) => Event::ALL.to_vec(),
        Some(Value::Array(items)) => {
            let mut events = Vec::new();
            for item in items {
                match item.as_str().and_then(Event::parse) {
                    Some(e) if !events.contains(&e) => events.push(e),
                    Some(_) => {}
                    None => {
                        return Err(invalid(format!(
                            "webhook_events_filter: {item} is not one of start, output, logs, completed."
                        )))
                    }
                }
            }
            events
        }
        Some(_) => {
            return Err(invalid(
                "webhook_events_filter: Invalid type. Expected: array.",
            ))
        }
    };
    // `webhook_completed` is the pre-2023 way to ask for the final webhook only.
    let (webhook, events) = match (webhook, legacy) {
        (None, Some(url)) => (Some(url), vec![Event::Completed]),
        (w, _) => (w, events),
    };
    Ok(Create {
        raw,
        input,
        webhook,
        events,
    })
}

fn valid_webhook_url(s: &str) -> bool {
    s.parse::<axum::http::Uri>()
        .is_ok_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some())
}

/// Official models run on Replicate-managed deployments whose versions read `dp-<32 hex>`;
/// derived from the model name so it is stable across predictions, like the real one.
fn deployment_version(model: &str) -> String {
    let digest = Sha256::digest(model.as_bytes());
    format!(
        "dp-{}",
        digest[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// `version` may be `owner/name:hash`, `owner/name` (latest version) or a bare version hash; a
/// bare hash does not say which model it belongs to, so the fake calls it `unknown/unknown`.
fn model_and_version(version: &str) -> (String, String) {
    match version.split_once(':') {
        Some((model, hash)) => (model.to_string(), hash.to_string()),
        None if version.contains('/') => (version.to_string(), deployment_version(version)),
        None => ("unknown/unknown".to_string(), version.to_string()),
    }
}

async fn create_for_version(
    State(app): State<Arc<App>>,
    Extension(token): Extension<Token>,
    headers: HeaderMap,
    create: Create,
) -> Response {
    let version = match create.raw.get("version") {
        Some(Value::String(v)) if !v.trim().is_empty() => v.trim().to_string(),
        Some(_) => return invalid("version: Invalid type. Expected: string.").into_response(),
        None => return invalid("version is required.").into_response(),
    };
    let (model, version) = model_and_version(&version);
    create_prediction(
        app,
        token,
        &headers,
        "POST /v1/predictions".into(),
        model,
        version,
        create,
        None,
    )
    .await
}

async fn create_for_model(
    State(app): State<Arc<App>>,
    Extension(token): Extension<Token>,
    Path((owner, name)): Path<(String, String)>,
    headers: HeaderMap,
    create: Create,
) -> Response {
    let model = format!("{owner}/{name}");
    let endpoint = format!("POST /v1/models/{model}/predictions");
    let version = deployment_version(&model);
    create_prediction(app, token, &headers, endpoint, model, version, create, None).await
}

/// Creates and starts a prediction, or a training when `destination` names the model its
/// trained version goes to (trainings.rs): both run, report and are steered alike.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn create_prediction(
    app: Arc<App>,
    Token(token): Token,
    headers: &HeaderMap,
    endpoint: String,
    model: String,
    version: String,
    create: Create,
    destination: Option<String>,
) -> Response {
    // Read before anything is created: a malformed deadline refuses the whole request.
    let cancel_after = match headers.get("cancel-after").map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) => match parse_cancel_after(v) {
            Ok(d) => Some(d),
            Err(detail) => return invalid(detail).into_response(),
        },
        Some(Err(_)) => {
            return invalid("Cancel-After: must be a duration such as 30s, 5m or 1h30m.")
                .into_response()
        }
    };
    if runner::has_marker(&create.input, "[reject]") {
        // Replicate's answer to input its model schema refuses: 422 with `invalid_fields`.
        let body = json!({
            "title": "Input validation failed",
            "detail": "- input.prompt: the fake was told to reject this input ([reject])",
            "status": 422,
            "invalid_fields": [{
                "type": "invalid",
                "field": "input.prompt",
                "description": "the fake was told to reject this input ([reject])",
            }],
        });
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response();
    }
    if runner::has_marker(&create.input, "[outage]") {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            "Replicate is temporarily unavailable; please try again later.",
        );
    }
    if runner::has_marker(&create.input, "[throttle]") {
        let mut r = problem(
            StatusCode::TOO_MANY_REQUESTS,
            "Request was throttled.",
            "Request was throttled. Expected available in 1 second.",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return r;
    }
    let id = ids::prediction_id();
    let (outbox, queue) = match create.webhook {
        Some(_) => {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    let prediction = Prediction {
        id: id.clone(),
        model,
        version,
        input: create.input,
        status: Status::Starting,
        output: Value::Null,
        error: None,
        logs: String::new(),
        created_at: SystemTime::now(),
        started_at: None,
        completed_at: None,
        predict_time: None,
        webhook: create.webhook.clone(),
        events: create.events,
        token,
        endpoint,
        request: create.raw,
        outbox,
        last_completed: None,
        extra_metrics: serde_json::Map::new(),
        file_fetches: 0,
        files_expired: false,
        destination,
    };
    let mut body = app.store.insert(prediction);
    if let (Some(url), Some(queue)) = (create.webhook, queue) {
        let retries = app.config.webhook_retries;
        tokio::spawn(webhook::worker(
            app.store.clone(),
            app.signer.clone(),
            id.clone(),
            url,
            queue,
            retries,
        ));
    }
    tokio::spawn(runner::run(
        app.store.clone(),
        id.clone(),
        app.config.delay,
        app.config.slow_delay,
    ));
    if let Some(deadline) = cancel_after {
        // The deadline counts from creation; a prediction still running then is canceled (and
        // its `completed` webhook sent), one that ended first is left as it is.
        let (store, id) = (app.store.clone(), id.clone());
        tokio::spawn(async move {
            tokio::time::sleep(deadline).await;
            runner::cancel(&store, &id);
        });
    }

    // `Prefer: wait[=n]` holds the answer until the prediction ends or n seconds (max 60) pass.
    if let Some(wait) = prefer_wait(headers) {
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            match app.store.get(&id) {
                Some(p) => {
                    let done = matches!(
                        p["status"].as_str(),
                        Some("succeeded" | "failed" | "canceled")
                    );
                    body = p;
                    if done {
                        break;
                    }
                }
                None => break,
            }
        }
    }
    json_response(StatusCode::CREATED, &body)
}

/// Replicate's shortest accepted `Cancel-After`.
pub const MIN_CANCEL_AFTER: Duration = Duration::from_secs(5);

/// `Cancel-After` as Replicate documents it: a duration made of numbers each followed by a unit
/// (`ms`, `s`, `m`, `h`), such as `30s`, `5m` or `1h30m`; a bare number means seconds. At least
/// 5 seconds.
pub fn parse_cancel_after(value: &str) -> Result<Duration, String> {
    let bad = || format!("Cancel-After: {value:?} is not a duration such as 30s, 5m or 1h30m.");
    let v = value.trim();
    if v.is_empty() {
        return Err(bad());
    }
    let total = if let Ok(secs) = v.parse::<f64>() {
        Duration::try_from_secs_f64(secs).map_err(|_| bad())?
    } else {
        let mut total = Duration::ZERO;
        let mut rest = v;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(bad)?;
            let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let seconds_per = match &rest[..unit_len] {
                "ms" => 0.001,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                _ => return Err(bad()),
            };
            rest = &rest[unit_len..];
            total += Duration::try_from_secs_f64(number * seconds_per).map_err(|_| bad())?;
        }
        total
    };
    if total < MIN_CANCEL_AFTER {
        return Err(format!(
            "Cancel-After: {value:?} is shorter than the minimum of 5s."
        ));
    }
    Ok(total)
}

fn prefer_wait(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("prefer")?.to_str().ok()?;
    value
        .split([',', ';'])
        .map(str::trim)
        .find_map(|p| match p.strip_prefix("wait") {
            Some("") => Some(MAX_WAIT),
            Some(rest) => rest
                .strip_prefix('=')?
                .trim()
                .parse()
                .ok()
                .map(|s: u64| Duration::from_secs(s).min(MAX_WAIT)),
            None => None,
        })
}

async fn list(State(app): State<Arc<App>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "next": null, "previous": null, "results": app.store.list(false) }),
    )
}

pub fn not_found() -> Response {
    problem(StatusCode::NOT_FOUND, "Not found", "Not found.")
}

async fn get_prediction(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match app.store.get(&id) {
        Some(p) => json_response(StatusCode::OK, &p),
        None => not_found(),
    }
}

async fn cancel(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match runner::cancel(&app.store, &id) {
        Some(p) => json_response(StatusCode::OK, &p),
        None => not_found(),
    }
}

async fn secret(State(app): State<Arc<App>>) -> Response {
    json_response(StatusCode::OK, &json!({ "key": app.config.webhook_secret }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_strings_resolve_like_replicate() {
        assert_eq!(
            model_and_version("acme/sdxl:abc123"),
            ("acme/sdxl".to_string(), "abc123".to_string())
        );
        let (model, version) = model_and_version("acme/sdxl");
        assert_eq!(model, "acme/sdxl");
        assert!(version.starts_with("dp-") && version.len() == 35);
        assert_eq!(version, deployment_version("acme/sdxl"));
        assert_eq!(model_and_version("abc123").0, "unknown/unknown");
    }

    #[test]
    fn parses_the_create_body() {
        let c = parse_create(br#"{"input":{"prompt":"x"},"webhook":"http://h/w","webhook_events_filter":["completed"]}"#)
            .unwrap_or_else(|_| panic!("valid body rejected"));
        assert_eq!(c.webhook.as_deref(), Some("http://h/w"));
        assert_eq!(c.events, vec![Event::Completed]);
        let all =
            parse_create(br#"{"input":{}}"#).unwrap_or_else(|_| panic!("valid body rejected"));
        assert_eq!(all.events, Event::ALL.to_vec());
        let legacy = parse_create(br#"{"input":{},"webhook_completed":"http://h/w"}"#)
            .unwrap_or_else(|_| panic!("valid body rejected"));
        assert_eq!(
            (legacy.webhook.as_deref(), legacy.events),
            (Some("http://h/w"), vec![Event::Completed])
        );

        let status = |body: &[u8]| parse_create(body).err().map(|p| p.status.as_u16());
        assert_eq!(status(b"{not json"), Some(400));
        assert_eq!(status(b"[]"), Some(422));
        assert_eq!(status(br#"{"webhook":"http://h"}"#), Some(422));
        assert_eq!(status(br#"{"input":"x"}"#), Some(422));
        assert_eq!(status(br#"{"input":{},"webhook":"ftp://h/w"}"#), Some(422));
        assert_eq!(
            status(br#"{"input":{},"webhook_events_filter":["done"]}"#),
            Some(422)
        );
    }

    #[test]
    fn reads_prefer_wait() {
        let mut h = HeaderMap::new();
        assert_eq!(prefer_wait(&h), None);
        h.insert("prefer", "wait".parse().unwrap());
        assert_eq!(prefer_wait(&h), Some(MAX_WAIT));
        h.insert("prefer", "wait=5".parse().unwrap());
        assert_eq!(prefer_wait(&h), Some(Duration::from_secs(5)));
        h.insert("prefer", "wait=600".parse().unwrap());
        assert_eq!(prefer_wait(&h), Some(MAX_WAIT));
        h.insert("prefer", "respond-async".parse().unwrap());
        assert_eq!(prefer_wait(&h), None);
    }

    #[test]
    fn reads_cancel_after_like_replicate() {
        let ok = |v: &str| parse_cancel_after(v).unwrap();
        assert_eq!(ok("30s"), Duration::from_secs(30));
        assert_eq!(ok("5m"), Duration::from_secs(300));
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("45"), Duration::from_secs(45));
        assert_eq!(ok("5500ms"), Duration::from_millis(5500));
        for bad in ["", "soon", "4s", "10x", "m5", "-10s"] {
            assert!(parse_cancel_after(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn accepts_bearer_and_token_schemes() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer r8_abc".parse().unwrap());
        assert_eq!(bearer(&h).as_deref(), Some("r8_abc"));
        h.insert(header::AUTHORIZATION, "Token r8_abc".parse().unwrap());
        assert_eq!(bearer(&h).as_deref(), Some("r8_abc"));
        h.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
