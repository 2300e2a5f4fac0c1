//! The `/v1` API end to end against the real binary: shapes, auth, markers, cancel, files.

mod support;

use serde_json::{json, Value};
use std::time::Duration;
use support::{Fake, Receiver, TOKEN};

fn is_replicate_id(id: &Value) -> bool {
    id.as_str().is_some_and(|s| {
        s.len() == 26
            && s.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
    })
}

#[test]
fn create_returns_a_starting_prediction_shaped_like_replicates() {
    let fake = Fake::start(&[]);
    let p = fake.create(&json!({"version": "acme/sdxl:5c7d5dc6", "input": {"prompt": "a cat"}}));
    assert!(is_replicate_id(&p["id"]), "{p}");
    let id = p["id"].as_str().unwrap();
    assert_eq!(p["status"], "starting");
    assert_eq!(p["model"], "acme/sdxl");
    assert_eq!(p["version"], "5c7d5dc6");
    assert_eq!(p["input"], json!({"prompt": "a cat"}));
    assert_eq!(
        (&p["logs"], &p["output"], &p["error"], &p["data_removed"]),
        (&json!(""), &Value::Null, &Value::Null, &json!(false))
    );
    assert!(p["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        p["urls"]["get"],
        format!("{}/v1/predictions/{id}", fake.base)
    );
    assert_eq!(
        p["urls"]["cancel"],
        format!("{}/v1/predictions/{id}/cancel", fake.base)
    );

    let done = fake.wait_status(id, "succeeded");
    let output = done["output"].as_array().unwrap();
    assert_eq!(output.len(), 1);
    assert_eq!(output[0], format!("{}/files/{id}-0.png", fake.base));
    assert_eq!(done["metrics"]["predict_time"], 1.5);
    assert!(
        done["started_at"].is_string() && done["completed_at"].is_string(),
        "{done}"
    );

    // The output URL resolves to an actual PNG.
    let (status, bytes) = fake.get_bytes(output[0].as_str().unwrap());
    assert_eq!(status, 200);
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert_eq!(
        fake.get_bytes(&format!("{}/files/{id}-7.png", fake.base)).0,
        404
    );

    let (status, list) = fake.call("GET", "/v1/predictions", Some(TOKEN), None);
    assert_eq!((status, list["results"][0]["id"].as_str()), (200, Some(id)));
}

#[test]
fn model_endpoint_picks_outputs_by_model_family() {
    let fake = Fake::start(&[]);
    let body = json!({"input": {"prompt": "waves", "num_outputs": 2, "fake_predict_time": 4.25}});
    let (status, p) = fake.call(
        "POST",
        "/v1/models/wan-video/wan-2.2-t2v/predictions",
        Some(TOKEN),
        Some(&body.to_string()),
    );
    assert_eq!(status, 201, "{p}");
    assert_eq!(p["model"], "wan-video/wan-2.2-t2v");
    assert!(p["version"].as_str().unwrap().starts_with("dp-"), "{p}");
    let id = p["id"].as_str().unwrap();
    let done = fake.wait_status(id, "succeeded");
    assert_eq!(
        done["output"],
        json!([
            format!("{}/files/{id}-0.mp4", fake.base),
            format!("{}/files/{id}-1.mp4", fake.base)
        ])
    );
    assert_eq!(done["metrics"]["predict_time"], 4.25);

    let (_, speech) = fake.call(
        "POST",
        "/v1/models/acme/kokoro-tts/predictions",
        Some(TOKEN),
        Some(r#"{"input": {"text": "hello"}}"#),
    );
    let done = fake.wait_status(speech["id"].as_str().unwrap(), "succeeded");
    let url = done["output"][0].as_str().unwrap();
    assert!(url.ends_with(".wav"));
    assert!(fake.get_bytes(url).1.starts_with(b"RIFF"));
}

#[test]
fn fail_marker_fails_the_prediction() {
    let fake = Fake::start(&[]);
    let p = fake.create(&json!({"version": "acme/sdxl:1", "input": {"prompt": "a cat [fail]"}}));
    let done = fake.wait_status(p["id"].as_str().unwrap(), "failed");
    assert_eq!(done["error"], "fake failure");
    assert_eq!(done["output"], Value::Null);
    assert!(done["metrics"]["predict_time"].is_number());
}

#[test]
fn slow_marker_delays_completion() {
    let fake = Fake::start(&["--slow-ms", "600"]);
    let p = fake.create(&json!({"version": "acme/sdxl:1", "input": {"prompt": "[slow] a cat"}}));
    let id = p["id"].as_str().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        fake.call("GET", &format!("/v1/predictions/{id}"), Some(TOKEN), None)
            .1["status"],
        "processing"
    );
    fake.wait_status(id, "succeeded");
}

#[test]
fn cancel_ends_a_running_prediction_once() {
    let fake = Fake::start(&[]);
    let hooks = Receiver::start();
    let p = fake.create(&json!({
        "version": "acme/sdxl:1",
        "input": {"prompt": "[never]"},
        "webhook": hooks.url,
        "webhook_events_filter": ["completed"],
    }));
    let id = p["id"].as_str().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let running = fake.wait_status(id, "processing");
    assert_eq!(running["completed_at"], Value::Null);
    assert!(hooks.all().is_empty(), "no webhook before the end");

    let (status, canceled) = fake.call(
        "POST",
        &format!("/v1/predictions/{id}/cancel"),
        Some(TOKEN),
        None,
    );
    assert_eq!((status, &canceled["status"]), (200, &json!("canceled")));
    let hook = &hooks.wait_for(1)[0];
    assert_eq!(hook.json()["status"], "canceled");
    assert!(support::signature_valid(hook));

    // Canceling again changes nothing and sends nothing.
    let (status, again) = fake.call(
        "POST",
        &format!("/v1/predictions/{id}/cancel"),
        Some(TOKEN),
        None,
    );
    assert_eq!((status, &again["status"]), (200, &json!("canceled")));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(hooks.all().len(), 1);
    assert_eq!(
        fake.call("POST", "/v1/predictions/nope/cancel", Some(TOKEN), None)
            .0,
        404
    );
}

#[test]
fn requests_without_a_valid_token_get_401() {
    let fake = Fake::start(&[]);
    let body = json!({"version": "acme/sdxl:1", "input": {}}).to_string();
    for token in [None, Some("r8_invalid_revoked")] {
        let (status, err) = fake.call("POST", "/v1/predictions", token, Some(&body));
        assert_eq!(status, 401);
        assert_eq!(
            err,
            json!({"title": "Unauthenticated", "detail": "You did not pass a valid authentication token", "status": 401})
        );
    }
    assert_eq!(fake.call("GET", "/v1/predictions/abc", None, None).0, 401);
    let (_, received) = fake.call("GET", "/_fake/predictions", None, None);
    assert_eq!(received, json!([]), "nothing was created");
    let (_, requests) = fake.call("GET", "/_fake/requests", None, None);
    assert_eq!(requests[1]["token"], "r8_invalid_revoked");
    assert_eq!(requests[1]["status"], 401);
}

#[test]
fn malformed_bodies_are_rejected_like_replicate() {
    let fake = Fake::start(&[]);
    let status = |body: &str| {
        fake.call("POST", "/v1/predictions", Some(TOKEN), Some(body))
            .0
    };
    assert_eq!(status("{oops"), 400);
    assert_eq!(status(r#"{"input": {}}"#), 422, "version is required");
    assert_eq!(status(r#"{"version": "a/b:1"}"#), 422, "input is required");
    assert_eq!(
        status(r#"{"version": "a/b:1", "input": {}, "webhook_events_filter": ["done"]}"#),
        422
    );
    let (s, err) = fake.call(
        "POST",
        "/v1/predictions",
        Some(TOKEN),
        Some(r#"{"version": "a/b:1", "input": {"prompt": "[throttle]"}}"#),
    );
    assert_eq!((s, &err["status"]), (429, &json!(429)));
}

#[test]
fn every_prediction_records_the_token_it_used() {
    let fake = Fake::start(&[]);
    for token in ["r8_pool_a", "r8_pool_b"] {
        let body = json!({"version": "acme/sdxl:1", "input": {"prompt": token}}).to_string();
        assert_eq!(
            fake.call("POST", "/v1/predictions", Some(token), Some(&body))
                .0,
            201
        );
    }
    let (_, received) = fake.call("GET", "/_fake/predictions", None, None);
    let tokens: Vec<&str> = received
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["token"].as_str().unwrap())
        .collect();
    assert_eq!(tokens, ["r8_pool_a", "r8_pool_b"]);
    assert_eq!(received[0]["endpoint"], "POST /v1/predictions");
    assert_eq!(received[1]["request"]["input"]["prompt"], "r8_pool_b");
}

#[test]
fn prefer_wait_answers_with_the_finished_prediction() {
    let fake = Fake::start(&[]);
    let body = json!({"version": "acme/sdxl:1", "input": {"prompt": "a cat"}});
    let (status, p) = fake.create_with(&body, &[("Prefer", "wait=5")]);
    assert_eq!((status, &p["status"]), (201, &json!("succeeded")));
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut fake = Fake::start(&[]);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &fake.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = fake
        .wait_exit(Duration::from_secs(5))
        .expect("exits within 5 s");
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn reject_and_outage_markers_refuse_the_create_and_create_nothing() {
    let fake = Fake::start(&[]);
    let create = |prompt: &str| {
        let body = json!({"version": "acme/sdxl:1", "input": {"prompt": prompt}}).to_string();
        fake.call("POST", "/v1/predictions", Some(TOKEN), Some(&body))
    };
    let (status, err) = create("a cat [reject]");
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["title"], "Input validation failed");
    assert_eq!(err["status"], 422);
    assert_eq!(err["invalid_fields"][0]["field"], "input.prompt");
    let (status, err) = create("a cat [outage]");
    assert_eq!((status, &err["status"]), (503, &json!(503)), "{err}");
    let (_, received) = fake.call("GET", "/_fake/predictions", None, None);
    assert_eq!(received, json!([]), "nothing was created");
}

#[test]
fn text_models_answer_with_tokens_and_count_them() {
    let fake = Fake::start(&[]);
    let (status, p) = fake.call(
        "POST",
        "/v1/models/meta/meta-llama-3-8b-instruct/predictions",
        Some(TOKEN),
        Some(r#"{"input": {"prompt": "write a  short poem", "max_tokens": 12}}"#),
    );
    assert_eq!(status, 201, "{p}");
    let done = fake.wait_status(p["id"].as_str().unwrap(), "succeeded");
    let tokens = done["output"].as_array().unwrap();
    assert_eq!(tokens.len(), 12);
    assert!(tokens.iter().all(Value::is_string), "{done}");
    assert_eq!(done["metrics"]["input_token_count"], 4);
    assert_eq!(done["metrics"]["output_token_count"], 12);

    // No max_tokens: a llama answers 40 tokens; max_tokens alone marks a text model.
    let p = fake.create(&json!({"version": "meta/llama-2-7b:1", "input": {"prompt": "hi"}}));
    let done = fake.wait_status(p["id"].as_str().unwrap(), "succeeded");
    assert_eq!(done["output"].as_array().unwrap().len(), 40);
    assert_eq!(done["metrics"]["output_token_count"], 40);
    let p = fake.create(
        &json!({"version": "acme/chat:1", "input": {"prompt": "[overrun] hi", "max_tokens": 5}}),
    );
    let done = fake.wait_status(p["id"].as_str().unwrap(), "succeeded");
    assert_eq!(done["output"].as_array().unwrap().len(), 105);
    assert_eq!(done["metrics"]["output_token_count"], 105);
}

#[test]
fn overrun_and_big_markers_produce_more_than_asked() {
    let fake = Fake::start(&[]);
    let p = fake.create(
        &json!({"version": "acme/sdxl:1", "input": {"prompt": "[overrun] cat", "num_outputs": 3}}),
    );
    let done = fake.wait_status(p["id"].as_str().unwrap(), "succeeded");
    assert_eq!(done["output"].as_array().unwrap().len(), 5);
    assert_eq!(done["metrics"]["image_count"], 5);

    let p = fake.create(
        &json!({"version": "meta/llama-3:1", "input": {"prompt": "[big:2048] a long story"}}),
    );
    let done = fake.wait_status(p["id"].as_str().unwrap(), "succeeded");
    let output = done["output"].as_array().unwrap();
    assert_eq!(output.len(), 1);
    assert_eq!(output[0].as_str().unwrap().len(), 2048);
}

#[test]
fn cancel_after_cancels_a_prediction_still_running_at_its_deadline() {
    let fake = Fake::start(&[]);
    let hooks = Receiver::start();
    let create = |prompt: &str, deadline: &str| {
        let body = json!({
            "version": "acme/sdxl:1",
            "input": {"prompt": prompt},
            "webhook": hooks.url,
            "webhook_events_filter": ["completed"],
        });
        fake.create_with(&body, &[("Cancel-After", deadline)])
    };
    let (status, never) = create("[never]", "5s");
    assert_eq!(status, 201, "{never}");
    let (_, quick) = create("a cat", "5s");
    let (never, quick) = (never["id"].as_str().unwrap(), quick["id"].as_str().unwrap());
    fake.wait_status(quick, "succeeded");
    std::thread::sleep(Duration::from_secs(4));
    fake.wait_status(never, "processing");
    std::thread::sleep(Duration::from_millis(1500));
    let canceled = fake.wait_status(never, "canceled");
    assert!(canceled["metrics"]["predict_time"].as_f64().unwrap() >= 4.5);
    // One completed webhook each: the success, then the cancel; the success stays a success.
    let got = hooks.wait_for(2);
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].json()["status"], "canceled");
    fake.wait_status(quick, "succeeded");

    for bad in ["soon", "2s"] {
        let (status, err) = create("a cat", bad);
        assert_eq!(status, 422, "{bad}: {err}");
    }
}
