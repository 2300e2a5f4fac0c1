//! In-memory state: predictions, the webhook deliveries made and the API requests seen.
//! Everything is behind one `std` mutex held for microseconds and never across an `.await`;
//! state changes and the webhook events they cause are queued under that lock, so the receiver
//! sees events in the order the changes happened.

use crate::ids;
use crate::webhook::Delivery;
use axum::body::Bytes;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;
use tokio::sync::mpsc::UnboundedSender;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Starting,
    Processing,
    Succeeded,
    Failed,
    Canceled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Starting => "starting",
            Status::Processing => "processing",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Canceled => "canceled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Canceled)
    }
}

/// Replicate's webhook event types (`webhook_events_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Start,
    Output,
    Logs,
    Completed,
}

impl Event {
    pub const ALL: [Event; 4] = [Event::Start, Event::Output, Event::Logs, Event::Completed];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::Start => "start",
            Event::Output => "output",
            Event::Logs => "logs",
            Event::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// A webhook body waiting for the prediction's delivery worker.
pub struct Outgoing {
    pub event: Event,
    pub body: Bytes,
}

pub struct Prediction {
    pub id: String,
    pub model: String,
    pub version: String,
    pub input: Value,
    pub status: Status,
    pub output: Value,
    pub error: Option<String>,
    pub logs: String,
    pub created_at: SystemTime,
    pub started_at: Option<SystemTime>,
    pub completed_at: Option<SystemTime>,
    pub predict_time: Option<f64>,
    pub webhook: Option<String>,
    pub events: Vec<Event>,
    /// The bearer token the creating request used (genbase rotates a pool; tests check which).
    pub token: String,
    /// Which create endpoint was called, e.g. `POST /v1/models/acme/flux/predictions`.
    pub endpoint: String,
    /// The create request body as received.
    pub request: Value,
    /// Feeds the delivery worker; `None` without a webhook.
    pub outbox: Option<UnboundedSender<Outgoing>>,
    /// The last `completed` delivery attempt, kept byte for byte for `/_fake/redeliver`.
    pub last_completed: Option<Delivery>,
    /// Model-specific metrics of a success (`image_count`, token counts), beside the times.
    pub extra_metrics: serde_json::Map<String, Value>,
    /// Output file downloads so far (`[flakyfiles]` fails the first ones).
    pub file_fetches: u32,
    /// Set by `/_fake/predictions/{id}/expire-files`: its files are gone before their time.
    pub files_expired: bool,
    /// A training's destination model (`owner/name`, trainings.rs); `None` for a prediction.
    pub destination: Option<String>,
}

impl Prediction {
    /// The prediction object as `GET /v1/predictions/{id}` returns it (and webhooks carry it).
    pub fn to_json(&self, base: &str) -> Value {
        let time = |t: Option<SystemTime>| t.map(ids::rfc3339);
        // Replicate fills `metrics` once the prediction has ended.
        let metrics = match (self.predict_time, self.completed_at) {
            (Some(p), Some(done)) => {
                let mut m = self.extra_metrics.clone();
                m.insert("predict_time".into(), json!(p));
                m.insert(
                    "total_time".into(),
                    json!(done
                        .duration_since(self.created_at)
                        .unwrap_or_default()
                        .as_secs_f64()),
                );
                Value::Object(m)
            }
            _ => json!({}),
        };
        let mut body = json!({
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "input": self.input,
            "logs": self.logs,
            "output": self.output,
            "data_removed": false,
            "error": self.error,
            "status": self.status.as_str(),
            "source": "api",
            "created_at": ids::rfc3339(self.created_at),
            "started_at": time(self.started_at),
            "completed_at": time(self.completed_at),
            "metrics": metrics,
            "urls": {
                "get": format!("{base}/v1/{}/{}", self.collection(), self.id),
                "cancel": format!("{base}/v1/{}/{}/cancel", self.collection(), self.id),
            },
        });
        // Replicate's prediction object (and so its webhook body) echoes the webhook settings
        // when a webhook was given; a receiver can find its own tags in the URL's query.
        if let Some(url) = &self.webhook {
            body["webhook"] = json!(url);
            body["webhook_events_filter"] =
                json!(self.events.iter().map(|e| e.as_str()).collect::<Vec<_>>());
        }
        body
    }

    /// Where the API serves it: `predictions`, or `trainings` for a training.
    pub fn collection(&self) -> &'static str {
        if self.destination.is_some() {
            "trainings"
        } else {
            "predictions"
        }
    }

    /// Queues a webhook for `event` with the current state, if a webhook was given and its
    /// filter asks for that event.
    pub fn emit(&self, event: Event, base: &str) {
        // `[nowebhook]`: the provider "loses" the final webhook; only a GET finds the result.
        if event == Event::Completed && crate::runner::has_marker(&self.input, "[nowebhook]") {
            return;
        }
        if let (Some(tx), true) = (&self.outbox, self.events.contains(&event)) {
            let body = serde_json::to_vec(&self.to_json(base)).unwrap_or_default();
            // A closed channel means the store was reset; nobody is waiting for this event.
            let _ = tx.send(Outgoing {
                event,
                body: body.into(),
            });
        }
    }
}

/// One webhook request the fake made (automatic attempt or a `/_fake/` hook).
pub struct DeliveryRecord {
    pub prediction_id: String,
    /// `start`, `output`, `logs`, `completed`, or the hook: `redeliver`, `tampered`, `stale`.
    pub kind: String,
    pub attempt: u32,
    pub delivery: Delivery,
    pub outcome: Result<u16, String>,
    pub at: SystemTime,
}

impl DeliveryRecord {
    pub fn to_json(&self) -> Value {
        let (status, error) = match &self.outcome {
            Ok(code) => (Some(*code), None),
            Err(e) => (None, Some(e.clone())),
        };
        json!({
            "prediction_id": self.prediction_id,
            "kind": self.kind,
            "attempt": self.attempt,
            "url": self.delivery.url,
            "webhook_id": self.delivery.webhook_id,
            "webhook_timestamp": self.delivery.timestamp,
            "webhook_signature": self.delivery.signature,
            "status": status,
            "error": error,
            "at": ids::rfc3339(self.at),
        })
    }
}

#[derive(Default)]
struct Inner {
    order: Vec<String>,
    predictions: HashMap<String, Prediction>,
    deliveries: Vec<DeliveryRecord>,
    requests: Vec<Value>,
}

pub struct Store {
    /// Base of every URL the fake hands out (`--public-url` or the bound address).
    pub base_url: String,
    inner: Mutex<Inner>,
    /// `true` while `/_fake/webhooks/pause` holds every delivery back (a receiver outage that
    /// outlasts the retries can then be staged without timing games).
    paused: tokio::sync::watch::Sender<bool>,
}

impl Store {
    pub fn new(base_url: String) -> Store {
        Store {
            base_url,
            inner: Mutex::new(Inner::default()),
            paused: tokio::sync::watch::Sender::new(false),
        }
    }

    pub fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Returns once deliveries are not paused.
    pub async fn wait_unpaused(&self) {
        let mut rx = self.paused.subscribe();
        // Errors only if the sender is gone, i.e. the store itself: nothing left to wait for.
        let _ = rx.wait_for(|paused| !paused).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere must not wedge a test double; the data stays usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a new prediction, queues its `start` webhook and returns its JSON.
    pub fn insert(&self, p: Prediction) -> Value {
        let mut inner = self.lock();
        p.emit(Event::Start, &self.base_url);
        let json = p.to_json(&self.base_url);
        inner.order.push(p.id.clone());
        inner.predictions.insert(p.id.clone(), p);
        json
    }

    pub fn get(&self, id: &str) -> Option<Value> {
        self.lock()
            .predictions
            .get(id)
            .map(|p| p.to_json(&self.base_url))
    }

    pub fn contains(&self, id: &str) -> bool {
        self.lock().predictions.contains_key(id)
    }

    /// Runs `f` on the prediction under the lock; `None` if it does not exist (or was reset).
    pub fn update<R>(&self, id: &str, f: impl FnOnce(&mut Prediction, &str) -> R) -> Option<R> {
        let mut inner = self.lock();
        inner.predictions.get_mut(id).map(|p| f(p, &self.base_url))
    }

    /// Newest first, as `GET /v1/predictions` (`trainings: false`) or `GET /v1/trainings`
    /// (`true`) lists them.
    pub fn list(&self, trainings: bool) -> Vec<Value> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .rev()
            .filter_map(|id| inner.predictions.get(id))
            .filter(|p| p.destination.is_some() == trainings)
            .map(|p| p.to_json(&self.base_url))
            .collect()
    }

    /// A training's JSON; `None` for an unknown id or a prediction's.
    pub fn get_training(&self, id: &str) -> Option<Value> {
        self.lock()
            .predictions
            .get(id)
            .filter(|p| p.destination.is_some())
            .map(|p| p.to_json(&self.base_url))
    }

    /// What `/_fake/predictions` shows: creation order, with the token and request behind each.
    pub fn received(&self) -> Vec<Value> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .filter_map(|id| inner.predictions.get(id))
            .map(|p| {
                json!({
                    "id": p.id,
                    "token": p.token,
                    "endpoint": p.endpoint,
                    "webhook": p.webhook,
                    "webhook_events_filter": p.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
                    "request": p.request,
                    "prediction": p.to_json(&self.base_url),
                })
            })
            .collect()
    }

    pub fn record_delivery(&self, record: DeliveryRecord) {
        self.lock().deliveries.push(record);
    }

    pub fn deliveries(&self) -> Vec<Value> {
        self.lock()
            .deliveries
            .iter()
            .map(DeliveryRecord::to_json)
            .collect()
    }

    pub fn record_request(&self, request: Value) {
        self.lock().requests.push(request);
    }

    pub fn requests(&self) -> Vec<Value> {
        self.lock().requests.clone()
    }

    /// Forgets everything. Dropping the predictions closes their outboxes, which ends their
    /// delivery workers; their runners find nothing left to update and stop.
    pub fn reset(&self) {
        *self.lock() = Inner::default();
        self.set_paused(false);
    }
}
