//! The webhooks Worker through its handler: a delivery with any headers and any body is a
//! 4xx with the one error body and never reaches SQL unless signed with our secret; a signed
//! delivery of any body is refused (400) or reaches SQL as the prediction it names, its
//! error cut to a short text (never a panic or a 5xx).

use crate::handle;
use genbase_shared::http::ApiRequest;
use genbase_shared::props::{body, json_value, send_request, text};
use genbase_shared::testing::{block_on, ScriptedDeps, NOW};
use genbase_shared::webhook::sign_webhook;
use proptest::prelude::*;
use serde_json::{json, Value};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const FIELDS: &[&str] = &["id", "status", "output", "error", "metrics"];
const WORDS: &[&str] = &["succeeded", "failed", "canceled", "processing", "p-1"];

/// POSTs `body` with `headers` to the webhook as the provider would.
fn deliver(headers: Vec<(String, String)>, body: Vec<u8>) -> Result<Option<Value>, TestCaseError> {
    let req = ApiRequest::new("POST", "/v1/webhooks/replicate", Vec::new(), headers, body);
    let deps = ScriptedDeps::default().var("REPLICATE_WEBHOOK_SECRET", SECRET);
    send_request(req, deps, "handle_provider_webhook", |req, deps| {
        block_on(handle(req, deps))
    })
}

/// A signed delivery of `body`: its id, and the three Standard Webhooks headers.
fn signed(id: &str, skew: i64, body: &[u8]) -> Vec<(String, String)> {
    let timestamp = NOW + skew;
    vec![
        ("webhook-id".into(), id.into()),
        ("webhook-timestamp".into(), timestamp.to_string()),
        (
            "webhook-signature".into(),
            sign_webhook(SECRET, id, timestamp, body),
        ),
    ]
}

proptest! {
    #[test]
    fn an_unsigned_delivery_never_reaches_sql(
        id in prop::option::of(text()),
        timestamp in prop::option::of(prop_oneof![text(), (NOW - 400..NOW + 400).prop_map(|t| t.to_string())]),
        signature in prop::option::of(prop_oneof![text(), "v1,[A-Za-z0-9+/]{43}="]),
        bytes in body(FIELDS, WORDS),
    ) {
        let headers = [("webhook-id", id), ("webhook-timestamp", timestamp), ("webhook-signature", signature)]
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_string(), value?)))
            .collect();
        prop_assert_eq!(deliver(headers, bytes)?, None);
    }

    #[test]
    fn a_signed_delivery_of_any_body_is_refused_or_reaches_sql(
        id in "[!-~]{1,40}",
        skew in -300i64..=300,
        bytes in body(FIELDS, WORDS),
    ) {
        if let Some(args) = deliver(signed(&id, skew, &bytes), bytes)? {
            prop_assert_eq!(&args["p_webhook_id"], &json!(id));
        }
    }

    #[test]
    fn a_signed_prediction_reaches_sql_with_its_error_as_short_text(
        id in "[!-~]{1,40}",
        prediction in text(),
        status in text(),
        output in json_value(),
        error in json_value(),
    ) {
        let body = json!({"id": prediction, "status": status, "output": output, "error": error})
            .to_string()
            .into_bytes();
        let args = deliver(signed(&id, 0, &body), body)?.expect("a signed prediction reaches SQL");
        prop_assert_eq!(&args["p_prediction_id"], &json!(prediction));
        match &args["p_error"] {
            Value::Null => prop_assert!(error.is_null()),
            Value::String(text) => prop_assert!(!error.is_null() && text.chars().count() <= 2000),
            other => prop_assert!(false, "error sent as {other}"),
        }
    }
}
