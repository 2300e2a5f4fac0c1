//! Webhook delivery end to end: signatures checked independently, event filter, retries and the
//! `/_fake/` replay hooks.

mod support;

use serde_json::json;
use std::time::Duration;
use support::{signature_valid, unix_now, Fake, Receiver};

#[test]
fn every_event_is_delivered_signed_and_in_order() {
    let fake = Fake::start(&[]);
    let hooks = Receiver::start();
    let p = fake.create(
        &json!({"version": "acme/sdxl:1", "input": {"prompt": "a cat"}, "webhook": hooks.url}),
    );
    // No filter: start, logs, output and completed, as Replicate's default.
    let got = hooks.wait_for(4);
    let statuses: Vec<String> = got
        .iter()
        .map(|r| r.json()["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        statuses,
        ["starting", "processing", "processing", "succeeded"]
    );
    assert!(
        got[2].json()["output"].is_array(),
        "the output event carries the output"
    );
    let mut ids = Vec::new();
    for r in &got {
        assert_eq!(r.path, "/hooks/replicate?ref=abc", "query string kept");
        assert_eq!(r.header("content-type"), "application/json");
        assert!(signature_valid(r), "bad signature on {r:?}");
        assert!(r.header("webhook-id").starts_with("msg_"));
        let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
        assert!((unix_now() - ts).abs() <= 5);
        assert_eq!(r.json()["id"], p["id"]);
        ids.push(r.header("webhook-id").to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "one webhook-id per event");

    let done = &got[3].json();
    assert_eq!(
        done["output"][0],
        format!("{}/files/{}-0.png", fake.base, p["id"].as_str().unwrap())
    );
    assert_eq!(done["metrics"]["predict_time"], 1.5);

    let (_, deliveries) = fake.call("GET", "/_fake/deliveries", None, None);
    let kinds: Vec<&str> = deliveries
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["start", "logs", "output", "completed"]);
    assert_eq!(deliveries[3]["status"], 200);
    assert_eq!(deliveries[3]["webhook_id"], got[3].header("webhook-id"));
}

#[test]
fn the_filter_limits_which_events_are_sent() {
    let fake = Fake::start(&[]);
    let (start_only, completed_only) = (Receiver::start(), Receiver::start());
    let a = fake.create(&json!({
        "version": "acme/sdxl:1", "input": {"prompt": "x"},
        "webhook": start_only.url, "webhook_events_filter": ["start"],
    }));
    let b = fake.create(&json!({
        "version": "acme/sdxl:1", "input": {"prompt": "x [fail]"},
        "webhook": completed_only.url, "webhook_events_filter": ["completed"],
    }));
    fake.wait_status(a["id"].as_str().unwrap(), "succeeded");
    fake.wait_status(b["id"].as_str().unwrap(), "failed");
    std::thread::sleep(Duration::from_millis(300));
    let got = start_only.all();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["status"], "starting");
    let got = completed_only.all();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["status"], "failed");
    assert_eq!(got[0].json()["error"], "fake failure");
    assert!(signature_valid(&got[0]));
}

#[test]
fn the_completed_webhook_is_retried_with_the_same_id_until_2xx() {
    let fake = Fake::start(&[]);
    let hooks = Receiver::start();
    // Replicate retries the final webhook on 4xx and 5xx alike.
    hooks.answer_with(&[500, 404]);
    fake.create(&json!({
        "version": "acme/sdxl:1", "input": {"prompt": "x"},
        "webhook": hooks.url, "webhook_events_filter": ["completed"],
    }));
    let got = hooks.wait_for(3);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(hooks.all().len(), 3, "no attempt after the 2xx");
    assert!(got
        .iter()
        .all(|r| r.header("webhook-id") == got[0].header("webhook-id")));
    assert!(got.iter().all(|r| r.body == got[0].body));
    assert!(got.iter().all(signature_valid));

    let (_, deliveries) = fake.call("GET", "/_fake/deliveries", None, None);
    let seen: Vec<(u64, u64)> = deliveries
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["attempt"].as_u64().unwrap(),
                d["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, [(1, 500), (2, 404), (3, 200)]);
}

#[test]
fn intermediate_events_are_not_retried_and_unreachable_receivers_are_recorded() {
    let fake = Fake::start(&["--webhook-retries", "1"]);
    let hooks = Receiver::start();
    hooks.answer_with(&[503]);
    fake.create(&json!({
        "version": "acme/sdxl:1", "input": {"prompt": "x"},
        "webhook": hooks.url, "webhook_events_filter": ["start", "completed"],
    }));
    let got = hooks.wait_for(2);
    assert_eq!(got[0].json()["status"], "starting");
    assert_eq!(
        got[1].json()["status"],
        "succeeded",
        "the failed start event was not retried"
    );

    // Nothing listens on this port: the attempt is recorded with an error, then retried once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let p = fake.create(&json!({
        "version": "acme/sdxl:1", "input": {"prompt": "x"},
        "webhook": format!("http://{closed}/hook"), "webhook_events_filter": ["completed"],
    }));
    std::thread::sleep(Duration::from_millis(800));
    let (_, deliveries) = fake.call("GET", "/_fake/deliveries", None, None);
    let mine: Vec<_> = deliveries
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["prediction_id"] == p["id"])
        .collect();
    assert_eq!(mine.len(), 2);
    assert!(
        mine.iter()
            .all(|d| d["status"].is_null() && d["error"].is_string()),
        "{mine:?}"
    );
}

#[test]
fn redeliver_replays_the_completed_webhook_byte_for_byte() {
    let fake = Fake::start(&[]);
    let hooks = Receiver::start();
    let p = fake.create(&json!({
        "version": "acme/sdxl:1", "input": {"prompt": "x"},
        "webhook": hooks.url, "webhook_events_filter": ["completed"],
    }));
    let id = p["id"].as_str().unwrap();
    let first = hooks.wait_for(1)[0].clone();
    std::thread::sleep(Duration::from_millis(1100)); // a fresh signature would carry a new timestamp

    hooks.answer_with(&[204]);
    let (status, result) = fake.call("POST", &format!("/_fake/redeliver/{id}"), None, None);
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["status"], 204, "the receiver's answer is reported");
    let replay = hooks.wait_for(2)[1].clone();
    assert_eq!(replay.body, first.body);
    for h in [
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "content-type",
    ] {
        assert_eq!(replay.header(h), first.header(h), "{h}");
    }
    assert_eq!(result["webhook_id"], first.header("webhook-id"));

    // Nothing to replay yet, or no webhook at all: refused.
    let never = fake.create(&json!({"version": "a/b:1", "input": {"prompt": "[never]"}, "webhook": hooks.url, "webhook_events_filter": ["completed"]}));
    assert_eq!(
        fake.call(
            "POST",
            &format!("/_fake/redeliver/{}", never["id"].as_str().unwrap()),
            None,
            None
        )
        .0,
        409
    );
    assert_eq!(
        fake.call("POST", "/_fake/redeliver/unknown", None, None).0,
        404
    );
}

#[test]
fn tampered_and_stale_deliveries_fail_verification_in_their_own_way() {
    let fake = Fake::start(&[]);
    let hooks = Receiver::start();
    let p = fake.create(&json!({
        "version": "acme/sdxl:1", "input": {"prompt": "x"},
        "webhook": hooks.url, "webhook_events_filter": ["completed"],
    }));
    let id = p["id"].as_str().unwrap();
    let genuine = hooks.wait_for(1)[0].clone();

    hooks.answer_with(&[401, 400]);
    let (_, tampered) = fake.call("POST", &format!("/_fake/deliver_tampered/{id}"), None, None);
    assert_eq!(
        (tampered["kind"].as_str(), tampered["status"].as_u64()),
        (Some("tampered"), Some(401))
    );
    let (_, stale) = fake.call("POST", &format!("/_fake/deliver_stale/{id}"), None, None);
    assert_eq!(
        (stale["kind"].as_str(), stale["status"].as_u64()),
        (Some("stale"), Some(400))
    );

    let got = hooks.wait_for(3);
    let (t, s) = (&got[1], &got[2]);
    assert_eq!(t.body, genuine.body);
    assert!(!signature_valid(t), "tampered signature must not verify");
    assert!(t.header("webhook-signature").starts_with("v1,"));
    assert!(signature_valid(s), "stale delivery is correctly signed");
    let age = unix_now() - s.header("webhook-timestamp").parse::<i64>().unwrap();
    assert!(
        (595..=610).contains(&age),
        "stamped 10 minutes ago, got {age}s"
    );
    // Fresh ids, so deduplication alone cannot make a receiver pass.
    assert_ne!(t.header("webhook-id"), genuine.header("webhook-id"));
    assert_ne!(s.header("webhook-id"), genuine.header("webhook-id"));
}

#[test]
fn the_prediction_echoes_its_webhook_settings() {
    let fake = Fake::start(&[]);
    let hooks = Receiver::start();
    let p = fake.create(&json!({
        "version": "acme/sdxl:1", "input": {"prompt": "x"},
        "webhook": hooks.url, "webhook_events_filter": ["completed"],
    }));
    assert_eq!(p["webhook"], hooks.url.as_str());
    assert_eq!(p["webhook_events_filter"], json!(["completed"]));
    let got = hooks.wait_for(1);
    assert_eq!(got[0].json()["webhook"], hooks.url.as_str());
    let (_, list) = fake.call("GET", "/v1/predictions", Some(support::TOKEN), None);
    assert_eq!(list["results"][0]["webhook"], hooks.url.as_str());
    // Without a webhook there is nothing to echo.
    let bare = fake.create(&json!({"version": "acme/sdxl:1", "input": {"prompt": "x"}}));
    assert!(bare.get("webhook").is_none(), "{bare}");
}

#[test]
fn nowebhook_sends_no_completed_webhook_but_the_prediction_succeeds() {
    let fake = Fake::start(&[]);
    let hooks = Receiver::start();
    let p = fake.create(&json!({
        "version": "acme/sdxl:1", "input": {"prompt": "[nowebhook] x"}, "webhook": hooks.url,
    }));
    let id = p["id"].as_str().unwrap();
    fake.wait_status(id, "succeeded");
    // start, logs and output arrive; completed never does.
    let got = hooks.wait_for(3);
    std::thread::sleep(Duration::from_millis(500));
    let statuses: Vec<String> = hooks
        .all()
        .iter()
        .map(|r| r.json()["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        statuses,
        ["starting", "processing", "processing"],
        "{got:?}"
    );
    assert_eq!(
        fake.call("POST", &format!("/_fake/redeliver/{id}"), None, None)
            .0,
        409,
        "there is no completed delivery to replay"
    );
}

#[test]
fn paused_deliveries_wait_and_then_arrive_in_order() {
    let fake = Fake::start(&[]);
    let hooks = Receiver::start();
    assert_eq!(
        fake.call("POST", "/_fake/webhooks/pause", None, None).0,
        200
    );
    let p = fake.create(&json!({
        "version": "acme/sdxl:1", "input": {"prompt": "x"}, "webhook": hooks.url,
        "webhook_events_filter": ["start", "completed"],
    }));
    fake.wait_status(p["id"].as_str().unwrap(), "succeeded");
    std::thread::sleep(Duration::from_millis(500));
    assert!(hooks.all().is_empty(), "nothing is sent while paused");
    let (_, deliveries) = fake.call("GET", "/_fake/deliveries", None, None);
    assert_eq!(deliveries, json!([]), "no attempt is spent while paused");
    let (status, state) = fake.call("POST", "/_fake/webhooks/resume", None, None);
    assert_eq!((status, &state["paused"]), (200, &json!(false)));
    let got = hooks.wait_for(2);
    assert_eq!(got[0].json()["status"], "starting");
    assert_eq!(got[1].json()["status"], "succeeded");
}
