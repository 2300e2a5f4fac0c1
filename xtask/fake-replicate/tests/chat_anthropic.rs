//! `POST /v1/messages` at the HTTP level against the real binary: Anthropic's message and
//! event stream, usage, max_tokens, the two auth headers, bad input and every marker.

mod chat_http;
mod support;

use chat_http::{chat_log, expected_reply, post, Answer};
use serde_json::{json, Value};
use support::Fake;

const PATH: &str = "/v1/messages";
const KEY: &str = "sk-ant-test-one";
const VERSION: &str = "2023-06-01";

fn call(fake: &Fake, body: &Value) -> Answer {
    post(
        &fake.base,
        PATH,
        &[("x-api-key", KEY), ("anthropic-version", VERSION)],
        &body.to_string(),
    )
}

fn ask(text: &str, stream: bool) -> Value {
    json!({
        "model": "claude-fake",
        "max_tokens": 100,
        "system": "Answer briefly.",
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    })
}

/// `(event name, data)` of a stream, checking each data's `type` repeats its event name.
fn events(a: &Answer) -> Vec<(String, Value)> {
    a.events()
        .into_iter()
        .map(|(name, data)| {
            let name = name.expect("every Anthropic event is named");
            let data: Value = serde_json::from_str(&data).unwrap();
            assert_eq!(data["type"], name.as_str(), "{data}");
            (name, data)
        })
        .collect()
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

fn deltas(events: &[(String, Value)], field: &str) -> String {
    events
        .iter()
        .filter_map(|(_, d)| d["delta"][field].as_str())
        .collect()
}

#[test]
fn a_non_streamed_reply_is_a_message_with_usage() {
    let fake = Fake::start(&[]);
    let text = "tell me about the quiet sea";
    let mut body = ask(text, false);
    body["temperature"] = json!(0.7);
    let a = call(&fake, &body);
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(a
        .header("request-id")
        .is_some_and(|id| id.starts_with("req_")));
    let m = a.json();
    assert!(m["id"].as_str().unwrap().starts_with("msg_"), "{m}");
    assert_eq!(
        (&m["type"], &m["role"], &m["model"]),
        (
            &json!("message"),
            &json!("assistant"),
            &json!("claude-fake")
        )
    );
    assert_eq!(
        m["content"],
        json!([{"type": "text", "text": expected_reply(text, 20)}])
    );
    assert_eq!(
        (&m["stop_reason"], &m["stop_sequence"]),
        (&json!("end_turn"), &Value::Null)
    );
    // Input tokens: the words of the system prompt (2) and the message (6).
    assert_eq!(
        (&m["usage"]["input_tokens"], &m["usage"]["output_tokens"]),
        (&json!(8), &json!(20))
    );

    let log = chat_log(&fake.base, |l| l.len() == 1);
    let e = &log[0];
    assert_eq!(
        (&e["protocol"], &e["key"], &e["model"]),
        (&json!("anthropic"), &json!(KEY), &json!("claude-fake"))
    );
    assert_eq!(
        (&e["system"], &e["max_tokens"], &e["temperature"]),
        (&json!("Answer briefly."), &json!(100), &json!(0.7))
    );
    assert_eq!(e["messages"], body["messages"]);
    assert_eq!(
        (&e["status"], &e["outcome"]),
        (&json!(200), &json!("complete"))
    );
    assert_eq!(
        e["usage"],
        json!({"prompt_tokens": 8, "completion_tokens": 20})
    );
}

#[test]
fn a_streamed_reply_follows_anthropics_event_sequence() {
    let fake = Fake::start(&[]);
    let a = call(&fake, &ask("stream to me", true));
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert!(a.complete);
    let ev = events(&a);
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(["content_block_delta"; 20]);
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names(&ev), expected);
    let start = &ev[0].1["message"];
    assert_eq!(
        (&start["content"], &start["stop_reason"]),
        (&json!([]), &Value::Null)
    );
    assert_eq!(start["usage"]["input_tokens"], 5);
    assert_eq!(
        ev[1].1["content_block"],
        json!({"type": "text", "text": ""})
    );
    assert!(ev[3..23]
        .iter()
        .all(|(_, d)| d["index"] == 0 && d["delta"]["type"] == "text_delta"));
    assert_eq!(deltas(&ev, "text"), expected_reply("stream to me", 20));
    let delta = &ev[24].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 20);
}

#[test]
fn max_tokens_stops_with_stop_reason_max_tokens() {
    let fake = Fake::start(&[]);
    let mut body = ask("short please", false);
    body["max_tokens"] = json!(4);
    let m = call(&fake, &body).json();
    assert_eq!(m["content"][0]["text"], "echo: short please lorem");
    assert_eq!(
        (&m["stop_reason"], &m["usage"]["output_tokens"]),
        (&json!("max_tokens"), &json!(4))
    );
    body["stream"] = json!(true);
    let ev = events(&call(&fake, &body));
    assert_eq!(deltas(&ev, "text"), "echo: short please lorem");
    let (_, delta) = ev.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(
        (
            &delta["delta"]["stop_reason"],
            &delta["usage"]["output_tokens"]
        ),
        (&json!("max_tokens"), &json!(4))
    );
}

#[test]
fn both_headers_are_required() {
    let fake = Fake::start(&[]);
    let body = ask("hi", false).to_string();
    let error = |headers: &[(&str, &str)]| {
        let a = post(&fake.base, PATH, headers, &body);
        let e = a.json();
        assert_eq!(e["type"], "error", "{e}");
        assert!(e["request_id"].is_string());
        (a.status, e["error"]["type"].as_str().unwrap().to_string())
    };
    assert_eq!(
        error(&[("anthropic-version", VERSION)]),
        (401, "authentication_error".into())
    );
    assert_eq!(
        error(&[
            ("x-api-key", "sk-ant-invalid"),
            ("anthropic-version", VERSION)
        ]),
        (401, "authentication_error".into())
    );
    assert_eq!(
        error(&[("x-api-key", KEY)]),
        (400, "invalid_request_error".into())
    );
    assert_eq!(
        error(&[("x-api-key", KEY), ("anthropic-version", "2099-01-01")]),
        (400, "invalid_request_error".into())
    );
    let log = chat_log(&fake.base, |l| l.len() == 4);
    assert!(log
        .iter()
        .all(|e| e["status"] != 200 && e["usage"].is_null()));
}

#[test]
fn version_2026_10_21_takes_a_bearer_key_and_refuses_temperature() {
    let fake = Fake::start(&[]);
    let bearer = format!("Bearer {KEY}");
    let new = [
        ("authorization", bearer.as_str()),
        ("anthropic-version", "2026-10-21"),
    ];
    let body = ask("hello", false);
    let a = post(&fake.base, PATH, &new, &body.to_string());
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["content"][0]["text"], expected_reply("hello", 20));
    let mut warm = body.clone();
    warm["temperature"] = json!(1.0);
    let a = post(&fake.base, PATH, &new, &warm.to_string());
    assert_eq!(a.status, 400);
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("temperature"));
    // The same request on 2023-06-01 is fine.
    assert_eq!(call(&fake, &warm).status, 200);
    let log = chat_log(&fake.base, |l| l.len() == 3);
    assert_eq!(log[0]["key"], KEY);
    assert_eq!(
        log.iter().map(|e| e["status"].clone()).collect::<Vec<_>>(),
        [json!(200), json!(400), json!(200)]
    );
}

#[test]
fn bad_requests_get_invalid_request_errors() {
    let fake = Fake::start(&[]);
    for (body, field) in [
        ("{not json", "JSON"),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#,
            "max_tokens",
        ),
        (r#"{"model":"m","max_tokens":5,"messages":[]}"#, "messages"),
        (
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"temperature":2}"#,
            "temperature",
        ),
    ] {
        let a = post(
            &fake.base,
            PATH,
            &[("x-api-key", KEY), ("anthropic-version", VERSION)],
            body,
        );
        assert_eq!(a.status, 400, "{body}");
        let e = a.json();
        assert_eq!(e["error"]["type"], "invalid_request_error");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(field),
            "{e}"
        );
    }
}

#[test]
fn midfail_sends_an_error_event_after_three_deltas() {
    let fake = Fake::start(&[]);
    let a = call(&fake, &ask("[midfail] this will break", true));
    assert!(a.complete);
    let ev = events(&a);
    assert_eq!(
        names(&ev),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "error"
        ]
    );
    assert_eq!(ev[6].1["error"]["type"], "overloaded_error");
    assert_eq!(deltas(&ev, "text"), "echo: this will");

    let a = call(&fake, &ask("[midfail] not streamed", false));
    assert_eq!(a.status, 529);
    assert_eq!(a.json()["error"]["type"], "overloaded_error");
    let log = chat_log(&fake.base, |l| {
        l.len() == 2 && l.iter().all(|e| !e["outcome"].is_null())
    });
    assert_eq!(
        (&log[0]["outcome"], &log[1]["status"]),
        (&json!("error"), &json!(529))
    );
}

#[test]
fn drop_cuts_the_connection_after_three_deltas() {
    let fake = Fake::start(&[]);
    let a = call(&fake, &ask("[drop] gone soon", true));
    assert!(!a.complete);
    let ev = events(&a);
    assert_eq!(
        ev.iter()
            .filter(|(n, _)| n == "content_block_delta")
            .count(),
        3
    );
    assert!(!names(&ev).contains(&"message_stop") && !names(&ev).contains(&"error"));
    let a = call(&fake, &ask("[drop] not streamed", false));
    assert!(!a.complete);
    assert!(
        a.text().starts_with('{') && a.body().len() > 50,
        "{}",
        a.text()
    );
    assert!(serde_json::from_slice::<Value>(&a.body()).is_err());
    let log = chat_log(&fake.base, |l| {
        l.len() == 2 && l.iter().all(|e| !e["outcome"].is_null())
    });
    assert!(log.iter().all(|e| e["outcome"] == "dropped"));
}

#[test]
fn tool_marker_streams_a_tool_use_block() {
    let fake = Fake::start(&[]);
    let tools = json!([{"name": "get_weather", "input_schema": {"type": "object"}}]);
    let mut body = ask("weather in Oslo [tool]", true);
    body["tools"] = tools.clone();
    let ev = events(&call(&fake, &body));
    let block = &ev[1].1["content_block"];
    assert_eq!(
        (&block["type"], &block["name"], &block["input"]),
        (&json!("tool_use"), &json!("get_weather"), &json!({}))
    );
    assert!(block["id"].as_str().unwrap().starts_with("toolu_"));
    assert!(ev
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .all(|(_, d)| d["delta"]["type"] == "input_json_delta"));
    let input: Value = serde_json::from_str(&deltas(&ev, "partial_json")).unwrap();
    assert_eq!(input, json!({"query": "weather in Oslo"}));
    let (_, delta) = ev.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(
        (
            &delta["delta"]["stop_reason"],
            &delta["usage"]["output_tokens"]
        ),
        (&json!("tool_use"), &json!(4))
    );

    body["stream"] = json!(false);
    let m = call(&fake, &body).json();
    assert_eq!(m["content"][0]["type"], "tool_use");
    assert_eq!(m["content"][0]["input"], input);
    assert_eq!(m["stop_reason"], "tool_use");
    // Answering the tool result: text.
    let id = m["content"][0]["id"].clone();
    body["messages"].as_array_mut().unwrap().extend([
        json!({"role": "assistant", "content": m["content"]}),
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "cold"}]}),
    ]);
    let m = call(&fake, &body).json();
    assert_eq!(
        (&m["content"][0]["type"], &m["stop_reason"]),
        (&json!("text"), &json!("end_turn"))
    );
}

#[test]
fn nousage_and_throttle() {
    let fake = Fake::start(&[]);
    let ev = events(&call(&fake, &ask("[nousage] hush", true)));
    assert!(ev
        .iter()
        .all(|(_, d)| d.get("usage").is_none() && d["message"].get("usage").is_none()));
    assert_eq!(deltas(&ev, "text"), expected_reply("hush", 20));
    let m = call(&fake, &ask("[nousage] hush", false)).json();
    assert!(m.get("usage").is_none(), "{m}");

    let a = call(&fake, &ask("[throttle] again", false));
    assert_eq!(a.status, 429);
    assert_eq!(a.header("retry-after"), Some("1"));
    assert_eq!(a.json()["error"]["type"], "rate_limit_error");
}
