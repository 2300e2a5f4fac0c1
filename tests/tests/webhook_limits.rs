//! Body limits per function, end to end: provider webhooks accept up to 1 MiB (a prediction
//! with a long output or long logs must still settle), user endpoints keep 64 KiB, and a body
//! over the limit is refused with 413 while it is read, whether or not it declares its length,
//! and changes nothing.

use genbase_shared::http::{MAX_BODY_BYTES, MAX_WEBHOOK_BODY_BYTES};
use genbase_shared::webhook::sign_webhook;
use genbase_tests::{Stack, User};
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const KIB: usize = 1024;

/// A generation the fake provider keeps `processing` (`[never]`), with its prediction id: it
/// waits for a webhook only this test sends.
fn waiting_generation(stack: &Stack, user: &User) -> (String, String) {
    let body = json!({"kind": "image", "model": "flux-schnell",
        "prompt": "[never] a lighthouse with long logs", "params": {"num_outputs": 1}});
    let id = stack.start_generation(user, &body);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let g = stack.get(&format!("/v1/generations/{id}"), Some(&user.token));
        assert_eq!(g.status, 200, "{g:?}");
        if let Some(p) = g.body["provider_prediction_id"].as_str() {
            return (id, p.to_string());
        }
        assert!(
            Instant::now() < deadline,
            "no prediction id for {id}: {g:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Replicate's `completed` webhook body for a succeeded image prediction, padded with `logs`
/// (Replicate sends the prediction's whole log) to exactly `size` bytes.
fn prediction_body(prediction: &str, size: usize) -> Vec<u8> {
    let body = |logs: &str| {
        json!({
            "id": prediction, "status": "succeeded",
            // The fake provider's file URL for it: the copy that follows is answered at once.
            "output": [format!("{}/files/{prediction}-0.png", Stack::from_env().provider_url)],
            "error": null, "logs": logs, "metrics": {"predict_time": 1.25},
        })
        .to_string()
    };
    let bare = body("").len();
    assert!(
        size >= bare,
        "a body of {size} bytes cannot hold the prediction"
    );
    let out = body(&"l".repeat(size - bare)).into_bytes();
    assert_eq!(out.len(), size);
    out
}

/// A signed delivery, as Replicate makes it; `chunked` sends it without a Content-Length.
fn deliver(stack: &Stack, webhook_id: &str, body: &[u8], chunked: bool) -> (u16, Value) {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signature = sign_webhook(&stack.webhook_secret, webhook_id, ts, body);
    let req = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build()
        .post(&format!("{}/v1/webhooks/replicate", stack.api_url))
        .set("content-type", "application/json")
        .set("webhook-id", webhook_id)
        .set("webhook-timestamp", &ts.to_string())
        .set("webhook-signature", &signature);
    let result = if chunked {
        req.send(std::io::Cursor::new(body.to_vec()))
    } else {
        req.send_bytes(body)
    };
    reply(result, "webhook")
}

fn reply(result: Result<ureq::Response, ureq::Error>, what: &str) -> (u16, Value) {
    let resp = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{what}: {e}"),
    };
    let status = resp.status();
    let text = resp.into_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(json!({ "raw": text })),
    )
}

fn webhook_events(stack: &Stack, webhook_id: &str) -> i64 {
    stack
        .db()
        .query_one(
            "select count(*) from public.webhook_events where webhook_id = $1",
            &[&webhook_id],
        )
        .unwrap()
        .get(0)
}

fn generation(stack: &Stack, user: &User, id: &str) -> Value {
    let r = stack.get(&format!("/v1/generations/{id}"), Some(&user.token));
    assert_eq!(r.status, 200, "{r:?}");
    r.body
}

fn assert_too_large(status: u16, body: &Value, limit: usize) {
    assert_eq!(status, 413, "{body:?}");
    assert_eq!(body["error"]["code"], "payload_too_large", "{body:?}");
    assert_eq!(
        body["error"]["message"],
        format!("request body exceeds {limit} bytes"),
        "{body:?}"
    );
}

#[test]
fn a_signed_900_kib_webhook_settles_its_generation() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("bigwebhook", 100);
    let (id, prediction) = waiting_generation(&stack, &user);
    let webhook_id = format!("msg_{}", uuid::Uuid::new_v4().simple());

    let (status, body) = deliver(
        &stack,
        &webhook_id,
        &prediction_body(&prediction, 900 * KIB),
        false,
    );
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(body["received"], true, "{body:?}");

    let g = generation(&stack, &user, &id);
    assert_eq!(g["status"], "succeeded", "{g:?}");
    assert_eq!(g["credits_charged"], 5, "one image at 5 credits: {g:?}");
    assert_eq!(
        g["outputs"]["urls"].as_array().map(Vec::len),
        Some(1),
        "{g:?}"
    );
    let c = stack.credits(&user);
    assert_eq!(
        (c["balance"].as_i64(), c["held"].as_i64()),
        (Some(95), Some(0)),
        "{c:?}"
    );
    assert_eq!(webhook_events(&stack, &webhook_id), 1);
    assert_eq!(stack.audit(), json!([]));
}

#[test]
fn a_2_mib_webhook_is_refused_and_the_generation_is_settled_by_a_smaller_redelivery() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("hugewebhook", 100);
    let (id, prediction) = waiting_generation(&stack, &user);
    let before = stack.credits(&user);
    assert_eq!(before["held"], 5, "{before:?}");

    // Declared (Content-Length) and undeclared (chunked) alike: refused while reading.
    let huge = prediction_body(&prediction, 2 * KIB * KIB);
    for chunked in [false, true] {
        let webhook_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let (status, body) = deliver(&stack, &webhook_id, &huge, chunked);
        assert_too_large(status, &body, MAX_WEBHOOK_BODY_BYTES);
        assert_eq!(webhook_events(&stack, &webhook_id), 0, "chunked: {chunked}");
    }
    // Just over the limit is over it.
    let webhook_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let (status, body) = deliver(
        &stack,
        &webhook_id,
        &prediction_body(&prediction, MAX_WEBHOOK_BODY_BYTES + 1),
        true,
    );
    assert_too_large(status, &body, MAX_WEBHOOK_BODY_BYTES);

    let g = generation(&stack, &user, &id);
    assert_eq!(
        g["status"], "processing",
        "refused webhooks change nothing: {g:?}"
    );
    assert_eq!(
        stack.credits(&user),
        before,
        "refused webhooks change nothing"
    );

    // The provider retries with a smaller payload under a new webhook id.
    let webhook_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let (status, body) = deliver(
        &stack,
        &webhook_id,
        &prediction_body(&prediction, 4 * KIB),
        false,
    );
    assert_eq!(status, 200, "{body:?}");
    let g = generation(&stack, &user, &id);
    assert_eq!(g["status"], "succeeded", "{g:?}");
    assert_eq!(g["credits_charged"], 5, "{g:?}");
    let c = stack.credits(&user);
    assert_eq!(
        (c["balance"].as_i64(), c["held"].as_i64()),
        (Some(95), Some(0)),
        "{c:?}"
    );
    assert_eq!(stack.audit(), json!([]));
}

#[test]
fn user_endpoints_keep_the_64_kib_limit() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("bigbody", 100);
    let padded = |size: usize| {
        let bare = json!({"kind": "image", "model": "flux-schnell", "prompt": ""}).to_string();
        json!({"kind": "image", "model": "flux-schnell", "prompt": "p".repeat(size - bare.len())})
            .to_string()
    };
    // 100 KiB: under the webhooks' limit, over a user endpoint's; declared or chunked.
    for chunked in [false, true] {
        let req = ureq::post(&format!("{}/v1/generations", stack.api_url))
            .set("authorization", &format!("Bearer {}", user.token))
            .set("content-type", "application/json");
        let body = padded(100 * KIB);
        let result = if chunked {
            req.send(std::io::Cursor::new(body.into_bytes()))
        } else {
            req.send_string(&body)
        };
        let (status, body) = reply(result, "POST /v1/generations");
        assert_too_large(status, &body, MAX_BODY_BYTES);
    }
    let list = stack.get("/v1/generations", Some(&user.token));
    assert_eq!(
        list.body["items"],
        json!([]),
        "a refused body creates nothing: {list:?}"
    );
    assert_eq!(stack.credits(&user)["held"], 0);
}
