//! Test hooks under `/_fake/` (no auth; the fake only ever listens locally):
//!
//! - `GET /_fake/predictions`: every prediction created, oldest first, with the token used
//!   (`token`), the endpoint, the raw request and the current prediction object;
//! - `GET /_fake/deliveries`: every webhook request made, in order (`kind`, `attempt`,
//!   `webhook_id`, `webhook_timestamp`, `webhook_signature`, receiver `status` or `error`);
//! - `GET /_fake/requests`: every `/v1` request with its token and answer status;
//! - `POST /_fake/redeliver/{id}`: replays the last `completed` webhook byte for byte (same
//!   headers, timestamp and signature), as an attacker or a duplicate delivery would;
//! - `POST /_fake/deliver_tampered/{id}`: the completed body under a new webhook-id with a
//!   signature made with the wrong key;
//! - `POST /_fake/deliver_stale/{id}`: the completed body under a new webhook-id, correctly
//!   signed, but stamped 10 minutes ago (outside the usual 5-minute tolerance);
//! - `POST /_fake/webhooks/pause`, `POST /_fake/webhooks/resume`: hold every webhook attempt
//!   (none is spent or recorded) until resumed, then deliver them in order;
//! - `GET /_fake/chat/requests`: every chat request (chat.rs's log), oldest first;
//! - `GET /_fake/embeddings/requests`: every embeddings request (embeddings.rs's log), oldest
//!   first; `DELETE` empties it (a test sharing the fake with others reads only its own);
//! - `POST /_fake/reset`: forgets everything (and resumes deliveries).
//!
//! Tampered and stale deliveries take a fresh webhook-id so a receiver that deduplicates on it
//! cannot pass the test by ignoring them; what must reject them is the signature check. Each hook
//! answers with the delivery record, including the receiver's HTTP status.

use crate::api::json_response;
use crate::store::DeliveryRecord;
use crate::webhook::{self, Delivery, Signer};
use crate::{ids, App};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::SystemTime;

/// How far back a stale delivery is stamped.
const STALE_BY_SECONDS: i64 = 600;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(
            "/_fake/predictions",
            get(|State(app): State<Arc<App>>| async move { list(app.store.received()) }),
        )
        .route(
            "/_fake/deliveries",
            get(|State(app): State<Arc<App>>| async move { list(app.store.deliveries()) }),
        )
        .route(
            "/_fake/requests",
            get(|State(app): State<Arc<App>>| async move { list(app.store.requests()) }),
        )
        .route(
            "/_fake/chat/requests",
            get(|State(app): State<Arc<App>>| async move { list(app.chats.list()) }),
        )
        .route(
            "/_fake/embeddings/requests",
            get(|State(app): State<Arc<App>>| async move { list(app.embeddings.list()) }).delete(
                |State(app): State<Arc<App>>| async move {
                    app.embeddings.clear_log();
                    json_response(StatusCode::OK, &json!({ "cleared": true }))
                },
            ),
        )
        .route("/_fake/redeliver/{id}", post(redeliver))
        .route("/_fake/predictions/{id}/expire-files", post(expire_files))
        .route("/_fake/deliver_tampered/{id}", post(deliver_tampered))
        .route("/_fake/deliver_stale/{id}", post(deliver_stale))
        .route(
            "/_fake/webhooks/pause",
            post(|State(app): State<Arc<App>>| async move {
                app.store.set_paused(true);
                json_response(StatusCode::OK, &json!({ "paused": true }))
            }),
        )
        .route(
            "/_fake/webhooks/resume",
            post(|State(app): State<Arc<App>>| async move {
                app.store.set_paused(false);
                json_response(StatusCode::OK, &json!({ "paused": app.store.is_paused() }))
            }),
        )
        .route(
            "/_fake/reset",
            post(|State(app): State<Arc<App>>| async move {
                app.store.reset();
                app.chats.clear();
                app.embeddings.reset();
                json_response(StatusCode::OK, &json!({ "reset": true }))
            }),
        )
        .with_state(app)
}

/// Makes a prediction's output files disappear now, as they do at Replicate an hour after.
async fn expire_files(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match app.store.update(&id, |p, _| p.files_expired = true) {
        Some(()) => json_response(StatusCode::OK, &json!({ "expired": id })),
        None => json_response(StatusCode::NOT_FOUND, &json!({ "detail": "Not found." })),
    }
}

fn list(items: Vec<Value>) -> Response {
    json_response(StatusCode::OK, &Value::Array(items))
}

/// Why a hook could not act; answered as `{"error": ...}`.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        json_response(self.0, &json!({ "error": self.1 }))
    }
}

/// The webhook URL, the last completed delivery (if any) and the body hooks should send.
fn target(app: &App, id: &str) -> Result<(String, Option<Delivery>, Bytes), Refusal> {
    let found = app.store.update(id, |p, base| {
        let body = match &p.last_completed {
            Some(d) => d.body.clone(),
            None => serde_json::to_vec(&p.to_json(base))
                .unwrap_or_default()
                .into(),
        };
        (p.webhook.clone(), p.last_completed.clone(), body)
    });
    match found {
        None => Err(Refusal(
            StatusCode::NOT_FOUND,
            format!("no prediction {id}"),
        )),
        Some((None, _, _)) => Err(Refusal(
            StatusCode::CONFLICT,
            format!("prediction {id} has no webhook"),
        )),
        Some((Some(url), last, body)) => Ok((url, last, body)),
    }
}

async fn send(app: &App, id: &str, kind: &str, delivery: Delivery) -> Response {
    let outcome = webhook::send(&delivery).await;
    let record = DeliveryRecord {
        prediction_id: id.to_string(),
        kind: kind.to_string(),
        attempt: 1,
        delivery,
        outcome,
        at: SystemTime::now(),
    };
    let body = record.to_json();
    app.store.record_delivery(record);
    json_response(StatusCode::OK, &body)
}

async fn redeliver(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match target(&app, &id) {
        Ok((_, Some(last), _)) => send(&app, &id, "redeliver", last).await,
        Ok((_, None, _)) => Refusal(
            StatusCode::CONFLICT,
            format!("prediction {id} has sent no completed webhook yet"),
        )
        .into_response(),
        Err(r) => r.into_response(),
    }
}

async fn deliver_tampered(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match target(&app, &id) {
        Ok((url, _, body)) => {
            let wrong = Signer::from_key(b"fake-replicate: not the webhook secret");
            let delivery = wrong.delivery(&url, &ids::message_id(), webhook::now(), body);
            send(&app, &id, "tampered", delivery).await
        }
        Err(r) => r.into_response(),
    }
}

async fn deliver_stale(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match target(&app, &id) {
        Ok((url, _, body)) => {
            let stamped = webhook::now() - STALE_BY_SECONDS;
            let delivery = app.signer.delivery(&url, &ids::message_id(), stamped, body);
            send(&app, &id, "stale", delivery).await
        }
        Err(r) => r.into_response(),
    }
}
