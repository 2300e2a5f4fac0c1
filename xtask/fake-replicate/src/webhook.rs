//! Webhook signing and delivery, as Replicate documents them
//! (replicate.com/docs/topics/webhooks, which follow the Standard Webhooks spec):
//!
//! - headers `webhook-id` (one per event, the same on every retry), `webhook-timestamp` (unix
//!   seconds of the attempt) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of
//!   `{id}.{timestamp}.{body}`, keyed with the base64-decoded part of the `whsec_` secret);
//! - only the final (`completed`) webhook is retried: when the request cannot be made or the
//!   answer is not 2xx (4xx included), with exponential backoff; redirects are not followed.
//!
//! The client is a bare HTTP/1.1 one over a tokio socket: webhooks go to local receivers, so it
//! speaks plain `http://` only and reports an `https://` webhook as a failed delivery.

use crate::ids;
use crate::store::{DeliveryRecord, Event, Outgoing, Store};
use axum::body::Bytes;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::{header, Request, Uri};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc::UnboundedReceiver;

/// Replicate asks receivers to answer "within a few seconds"; past this the attempt failed.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MIN_KEY_BYTES: usize = 16;

/// One webhook request exactly as sent; kept so `/_fake/redeliver` can replay it byte for byte.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub url: String,
    pub webhook_id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: Bytes,
}

/// Signs with genbase's own `sign_webhook`, as the receiving side of genbase shares it; the
/// spec's test vector (below) and the independent verifier in tests/ keep both honest.
pub struct Signer {
    secret: String,
}

impl Signer {
    /// Accepts `whsec_<base64>` (the Standard Webhooks serialization) or the bare base64, and
    /// refuses anything else up front: a mistyped secret would otherwise only show as every
    /// delivery failing verification.
    pub fn from_secret(secret: &str) -> Result<Signer, String> {
        let secret = secret.trim();
        let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
        let key = STANDARD
            .decode(encoded)
            .map_err(|e| format!("--webhook-secret must be whsec_ followed by base64: {e}"))?;
        // Replicate's keys are 32 bytes; genbase's verifier (rightly) refuses short ones, so a
        // short key here would only show up later as every delivery being rejected.
        if key.len() < MIN_KEY_BYTES {
            return Err(format!(
                "--webhook-secret key is {} bytes; use at least {MIN_KEY_BYTES}",
                key.len()
            ));
        }
        Ok(Signer {
            secret: format!("whsec_{encoded}"),
        })
    }

    /// A signer for another key (tampered deliveries).
    pub fn from_key(key: &[u8]) -> Signer {
        Signer {
            secret: format!("whsec_{}", STANDARD.encode(key)),
        }
    }

    pub fn sign(&self, webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
        genbase_shared::webhook::sign_webhook(&self.secret, webhook_id, timestamp, body)
    }

    pub fn delivery(&self, url: &str, webhook_id: &str, timestamp: i64, body: Bytes) -> Delivery {
        Delivery {
            url: url.to_string(),
            webhook_id: webhook_id.to_string(),
            timestamp,
            signature: self.sign(webhook_id, timestamp, &body),
            body,
        }
    }
}

pub fn now() -> i64 {
    ids::unix_seconds(SystemTime::now())
}

/// Sends one delivery; the receiver's HTTP status, or why there is none.
pub async fn send(d: &Delivery) -> Result<u16, String> {
    match tokio::time::timeout(ATTEMPT_TIMEOUT, post(d)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {}s", ATTEMPT_TIMEOUT.as_secs())),
    }
}

async fn post(d: &Delivery) -> Result<u16, String> {
    let uri: Uri = d.url.parse().map_err(|e| format!("bad webhook URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(
                "fake-replicate cannot send https webhooks (no TLS); use an http:// URL".into(),
            )
        }
        _ => return Err("webhook URL must be http://".into()),
    }
    let authority = uri.authority().ok_or("webhook URL has no host")?.clone();
    // `Uri::host` keeps the brackets of an IPv6 literal; the socket API wants them off.
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let stream = tokio::net::TcpStream::connect((host, authority.port_u16().unwrap_or(80)))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    // The connection task ends with the exchange (the request carries no keep-alive reuse).
    tokio::spawn(conn);
    let request = Request::post(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
        .header(header::HOST, authority.as_str())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, "fake-replicate")
        .header("webhook-id", &d.webhook_id)
        .header("webhook-timestamp", d.timestamp.to_string())
        .header("webhook-signature", &d.signature)
        .body(Full::new(d.body.clone()))
        .map_err(|e| format!("building the request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = response.status().as_u16();
    // Read the answer to its end so the receiver is not cut off mid-write.
    let _ = response.into_body().collect().await;
    Ok(status)
}

/// Delivers one prediction's webhooks in the order they were queued. Ends when the prediction
/// is dropped (store reset) and its queue closes.
pub async fn worker(
    store: Arc<Store>,
    signer: Arc<Signer>,
    prediction_id: String,
    url: String,
    mut queue: UnboundedReceiver<Outgoing>,
    retries: u32,
) {
    while let Some(Outgoing { event, body }) = queue.recv().await {
        let webhook_id = ids::message_id();
        let attempts = if event == Event::Completed {
            1 + retries
        } else {
            1
        };
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=attempts {
            // A paused fake holds the attempt (it is not spent) until resumed.
            store.wait_unpaused().await;
            if !store.contains(&prediction_id) {
                return;
            }
            // Same id and body on every attempt; the timestamp (and so the signature) is the
            // attempt's own, as Standard Webhooks senders do.
            let delivery = signer.delivery(&url, &webhook_id, now(), body.clone());
            let outcome = send(&delivery).await;
            let delivered = matches!(outcome, Ok(code) if (200..300).contains(&code));
            if event == Event::Completed {
                store.update(&prediction_id, |p, _| {
                    p.last_completed = Some(delivery.clone())
                });
            }
            store.record_delivery(DeliveryRecord {
                prediction_id: prediction_id.clone(),
                kind: event.as_str().to_string(),
                attempt,
                delivery,
                outcome,
                at: SystemTime::now(),
            });
            if delivered || attempt == attempts {
                break;
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_standard_webhooks_test_vector() {
        // The example from the Standard Webhooks spec and its reference libraries.
        let signer = Signer::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signer.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_foreign_key_signs_differently() {
        let body = b"{}";
        let right = Signer::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let wrong = Signer::from_key(b"some other key");
        assert_ne!(right.sign("msg_1", 1, body), wrong.sign("msg_1", 1, body));
        assert!(wrong.sign("msg_1", 1, body).starts_with("v1,"));
    }

    #[test]
    fn rejects_secrets_that_are_not_base64() {
        assert!(Signer::from_secret("whsec_!!!").is_err());
        assert!(Signer::from_secret("whsec_").is_err());
        assert!(Signer::from_secret("whsec_bm9wZQ==").is_err(), "4-byte key");
    }
}
