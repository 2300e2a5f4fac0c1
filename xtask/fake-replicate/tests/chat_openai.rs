//! `POST /v1/chat/completions` at the HTTP level against the real binary: OpenAI's shapes
//! streamed and not, usage, max_tokens, auth and bad input, every marker, the time to first
//! token, and what `/_fake/chat/requests` records.

mod chat_http;
mod support;

use chat_http::{chat_log, expected_reply, post, post_and_leave, Answer};
use serde_json::{json, Value};
use std::time::Duration;
use support::Fake;

const PATH: &str = "/v1/chat/completions";
const KEY: &str = "sk-test-key-one";

fn call(fake: &Fake, body: &Value) -> Answer {
    let auth = format!("Bearer {KEY}");
    post(
        &fake.base,
        PATH,
        &[("authorization", &auth)],
        &body.to_string(),
    )
}

fn ask(text: &str) -> Value {
    json!({
        "model": "gpt-fake",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": text},
        ],
    })
}

fn streamed(text: &str, include_usage: bool) -> Value {
    let mut body = ask(text);
    body["stream"] = json!(true);
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

/// The text the content deltas of a stream spell.
fn streamed_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

fn content_chunks(chunks: &[Value]) -> usize {
    chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
                || c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty())
        })
        .count()
}

#[test]
fn a_non_streamed_reply_is_a_chat_completion_with_usage() {
    let fake = Fake::start(&[]);
    let text = "hello brave new world of tiny fakes";
    let mut body = ask(text);
    body["temperature"] = json!(0.3);
    let a = call(&fake, &body);
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(a
        .header("x-request-id")
        .is_some_and(|id| id.starts_with("req_")));
    let c = a.json();
    assert_eq!(c["object"], "chat.completion");
    assert!(c["id"].as_str().unwrap().starts_with("chatcmpl-"), "{c}");
    assert_eq!(c["model"], "gpt-fake");
    assert!(c["created"].as_u64().unwrap() > 1_700_000_000);
    let choice = &c["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], expected_reply(text, 20));
    assert_eq!(choice["finish_reason"], "stop");
    // Prompt tokens: the words of every message (3 + 7); completion tokens: the reply's words.
    assert_eq!(c["usage"]["prompt_tokens"], 10);
    assert_eq!(c["usage"]["completion_tokens"], 20);
    assert_eq!(c["usage"]["total_tokens"], 30);

    let log = chat_log(&fake.base, |l| l.len() == 1);
    let entry = &log[0];
    assert_eq!(
        (&entry["protocol"], &entry["key"], &entry["model"]),
        (&json!("openai"), &json!(KEY), &json!("gpt-fake"))
    );
    assert_eq!(entry["messages"], body["messages"]);
    assert_eq!(
        (&entry["temperature"], &entry["max_tokens"]),
        (&json!(0.3), &Value::Null)
    );
    assert_eq!(
        (&entry["status"], &entry["outcome"]),
        (&json!(200), &json!("complete"))
    );
    assert_eq!(
        entry["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 20})
    );
    assert_eq!(entry["request"], body);
}

#[test]
fn a_streamed_reply_ends_with_a_usage_chunk_and_done() {
    let fake = Fake::start(&[]);
    let a = call(&fake, &streamed("stream this please", true));
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert!(a.complete);
    let events = a.events();
    assert!(
        events.iter().all(|(name, _)| name.is_none()),
        "OpenAI names no events"
    );
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks = a.event_data();
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    let id = &chunks[0]["id"];
    assert!(
        chunks.iter().all(|c| &c["id"] == id),
        "one id for the whole stream"
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(
        streamed_text(&chunks),
        expected_reply("stream this please", 20)
    );
    assert_eq!(content_chunks(&chunks), 20, "one chunk per token");
    let (last, rest) = chunks.split_last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(
        (
            &last["usage"]["prompt_tokens"],
            &last["usage"]["completion_tokens"],
            &last["usage"]["total_tokens"]
        ),
        (&json!(6), &json!(20), &json!(26))
    );
    assert!(rest
        .iter()
        .all(|c| c["usage"].is_null() && c.get("usage").is_some()));
    let finishing: Vec<_> = rest
        .iter()
        .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
        .collect();
    assert_eq!(finishing, ["stop"]);

    // Without include_usage: no usage anywhere, still [DONE].
    let a = call(&fake, &streamed("again", false));
    let chunks = a.event_data();
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "{chunks:?}"
    );
    assert_eq!(a.events().last().unwrap().1, "[DONE]");
    let log = chat_log(&fake.base, |l| {
        l.len() == 2 && l[1]["outcome"] == "complete"
    });
    assert_eq!(log[1]["stream"], true);
}

#[test]
fn max_tokens_cuts_the_reply_with_finish_reason_length() {
    let fake = Fake::start(&[]);
    let mut body = ask("count to five");
    body["max_tokens"] = json!(5);
    let c = call(&fake, &body).json();
    assert_eq!(
        c["choices"][0]["message"]["content"],
        "echo: count to five lorem"
    );
    assert_eq!(c["choices"][0]["finish_reason"], "length");
    assert_eq!(c["usage"]["completion_tokens"], 5);

    // `max_completion_tokens` is the newer name and wins; streamed the same.
    let mut body = streamed("count to five", true);
    body["max_tokens"] = json!(50);
    body["max_completion_tokens"] = json!(3);
    let chunks = call(&fake, &body).event_data();
    assert_eq!(streamed_text(&chunks), "echo: count to");
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "length"));
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 3);
    let log = chat_log(&fake.base, |l| l.len() == 2);
    assert_eq!(
        (&log[0]["max_tokens"], &log[1]["max_tokens"]),
        (&json!(5), &json!(3))
    );

    // [words:N] sets the natural length; under max_tokens it ends with "stop".
    let c = call(&fake, &ask("[words:40] long")).json();
    assert_eq!(c["usage"]["completion_tokens"], 40);
    assert_eq!(
        c["choices"][0]["message"]["content"],
        expected_reply("long", 40)
    );
}

#[test]
fn keys_are_checked_like_the_replicate_api() {
    let fake = Fake::start(&[]);
    let body = ask("hi").to_string();
    let a = post(&fake.base, PATH, &[], &body);
    assert_eq!(a.status, 401);
    let e = a.json();
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("didn't provide an API key"));
    let a = post(
        &fake.base,
        PATH,
        &[("authorization", "Bearer sk-invalid-0001")],
        &body,
    );
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"]["code"], "invalid_api_key");
    assert!(!a.text().contains("sk-invalid-0001"), "the key is masked");
    let log = chat_log(&fake.base, |l| l.len() == 2);
    assert_eq!(
        (&log[0]["status"], &log[1]["status"]),
        (&json!(401), &json!(401))
    );
    assert_eq!(log[1]["key"], "sk-invalid-0001");
    assert!(log.iter().all(|e| e["usage"].is_null()));
}

#[test]
fn bad_requests_get_openai_errors() {
    let fake = Fake::start(&[]);
    let auth = format!("Bearer {KEY}");
    let h = [("authorization", auth.as_str())];
    for (body, param) in [
        ("{not json", Value::Null),
        (r#"{"model":"m"}"#, json!("messages")),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":-1}"#,
            json!("max_tokens"),
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}"#,
            json!("stream_options"),
        ),
    ] {
        let a = post(&fake.base, PATH, &h, body);
        assert_eq!(a.status, 400, "{body}");
        let e = a.json();
        assert_eq!(
            (&e["error"]["type"], &e["error"]["param"]),
            (&json!("invalid_request_error"), &param),
            "{body}"
        );
    }
}

#[test]
fn midfail_sends_an_error_chunk_after_three_tokens() {
    let fake = Fake::start(&[]);
    let a = call(&fake, &streamed("[midfail] doomed reply", true));
    assert_eq!(a.status, 200);
    assert!(a.complete, "the stream ends, the connection is not cut");
    assert!(a.events().iter().all(|(_, d)| d != "[DONE]"));
    let chunks = a.event_data();
    let (error, before) = chunks.split_last().unwrap();
    assert_eq!(error["error"]["type"], "server_error", "{error}");
    assert!(error["error"]["message"].is_string());
    assert_eq!(content_chunks(before), 3);
    assert_eq!(streamed_text(before), "echo: doomed reply");
    assert!(before
        .iter()
        .all(|c| c["choices"][0]["finish_reason"].is_null()));

    let a = call(&fake, &ask("[midfail] not streamed"));
    assert_eq!(a.status, 500);
    assert_eq!(a.json()["error"]["type"], "server_error");
    let log = chat_log(&fake.base, |l| l.len() == 2 && !l[0]["outcome"].is_null());
    assert_eq!(log[0]["outcome"], "error");
    assert_eq!(log[0]["usage"]["completion_tokens"], 3);
    assert_eq!(
        (&log[1]["status"], &log[1]["outcome"]),
        (&json!(500), &json!("error"))
    );
}

#[test]
fn drop_cuts_the_connection_after_three_tokens() {
    let fake = Fake::start(&[]);
    let a = call(&fake, &streamed("[drop] cut me off", true));
    assert_eq!(a.status, 200);
    assert!(!a.complete, "the chunked body never ends");
    let chunks = a.event_data();
    assert_eq!(content_chunks(&chunks), 3);
    assert!(chunks
        .iter()
        .all(|c| c.get("error").is_none() && c["choices"][0]["finish_reason"].is_null()));
    assert!(a.events().iter().all(|(_, d)| d != "[DONE]"));

    let a = call(&fake, &ask("[drop] not streamed"));
    assert_eq!(a.status, 200);
    assert!(!a.complete);
    assert!(
        a.text().starts_with('{') && a.body().len() > 50,
        "{}",
        a.text()
    );
    assert!(
        serde_json::from_slice::<Value>(&a.body()).is_err(),
        "half a JSON body"
    );
    let log = chat_log(&fake.base, |l| {
        l.len() == 2 && l.iter().all(|e| !e["outcome"].is_null())
    });
    assert_eq!(
        (&log[0]["outcome"], &log[1]["outcome"]),
        (&json!("dropped"), &json!("dropped"))
    );
}

#[test]
fn slowstream_spaces_the_tokens_and_a_client_can_leave() {
    let fake = Fake::start(&[]);
    let mut body = streamed("[slowstream] take your time", false);
    body["max_tokens"] = json!(4);
    let a = call(&fake, &body);
    assert!(a.complete);
    // Chunks: role, 4 tokens, finish, [DONE]; the tokens come about 200 ms apart.
    let times: Vec<Duration> = a.chunks.iter().map(|(t, _)| *t).collect();
    for pair in times[1..5].windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(150), "{times:?}");
    }

    // A client that hangs up mid-reply is logged as such.
    let auth = format!("Bearer {KEY}");
    let left = post_and_leave(
        &fake.base,
        PATH,
        &[("authorization", &auth)],
        &streamed("[slowstream] I will leave", false).to_string(),
        3,
    );
    assert_eq!(left.chunks.len(), 3);
    let log = chat_log(&fake.base, |l| l.len() == 2 && !l[1]["outcome"].is_null());
    assert_eq!(log[1]["outcome"], "client_closed");
}

#[test]
fn tool_marker_calls_the_first_tool() {
    let fake = Fake::start(&[]);
    let tools = json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "other", "parameters": {"type": "object"}}},
    ]);
    let mut body = streamed("weather in Paris [tool]", true);
    body["tools"] = tools.clone();
    let chunks = call(&fake, &body).event_data();
    let first = &chunks[0]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(
        (&first["index"], &first["type"]),
        (&json!(0), &json!("function"))
    );
    assert_eq!(first["function"]["name"], "get_weather");
    assert!(first["id"].as_str().unwrap().starts_with("call_"));
    let arguments: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    let parsed: Value = serde_json::from_str(&arguments).unwrap();
    assert_eq!(parsed, json!({"query": "weather in Paris"}));
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "tool_calls"));
    // Arguments `{"query": "weather in Paris"}` are 4 words, so 4 tokens.
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 4);

    let mut body = ask("weather in Paris [tool]");
    body["tools"] = tools.clone();
    let c = call(&fake, &body).json();
    let message = &c["choices"][0]["message"];
    assert!(message["content"].is_null());
    assert_eq!(message["tool_calls"][0]["function"]["name"], "get_weather");
    assert_eq!(message["tool_calls"][0]["function"]["arguments"], arguments);
    assert_eq!(c["choices"][0]["finish_reason"], "tool_calls");

    // Given the tool's result, the model answers in text.
    body["messages"].as_array_mut().unwrap().extend([
        message.clone(),
        json!({"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "sunny"}),
    ]);
    let c = call(&fake, &body).json();
    assert_eq!(c["choices"][0]["finish_reason"], "stop");
    assert!(c["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .starts_with("echo: weather"));
    // No tools offered: text too.
    let c = call(&fake, &ask("weather [tool]")).json();
    assert_eq!(c["choices"][0]["finish_reason"], "stop");
}

#[test]
fn nousage_and_throttle() {
    let fake = Fake::start(&[]);
    let chunks = call(&fake, &streamed("[nousage] quiet", true)).event_data();
    assert!(chunks.iter().all(|c| c["usage"].is_null()), "{chunks:?}");
    assert!(chunks.iter().all(|c| c["choices"] != json!([])));
    let c = call(&fake, &ask("[nousage] quiet")).json();
    assert!(c.get("usage").is_none(), "{c}");
    assert_eq!(
        c["choices"][0]["message"]["content"],
        expected_reply("quiet", 20)
    );
    // The log still has what the fake counted.
    let log = chat_log(&fake.base, |l| l.len() == 2);
    assert_eq!(log[1]["usage"]["completion_tokens"], 20);

    let a = call(&fake, &ask("[throttle] too fast"));
    assert_eq!(a.status, 429);
    assert_eq!(a.header("retry-after"), Some("1"));
    assert_eq!(a.json()["error"]["code"], "rate_limit_exceeded");
}

#[test]
fn ttft_flag_delays_the_first_token() {
    let slow = Fake::start(&["--ttft-ms", "400"]);
    let a = call(&slow, &streamed("wait for it", false));
    let first_token = a.chunks[0].0;
    assert!(first_token >= Duration::from_millis(400), "{first_token:?}");
    let started = std::time::Instant::now();
    assert_eq!(call(&slow, &ask("wait")).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(400));

    let fast = Fake::start(&[]);
    let a = call(&fast, &streamed("quick", false));
    assert!(
        a.chunks[0].0 < Duration::from_millis(400),
        "{:?}",
        a.chunks[0].0
    );
}

#[test]
fn reset_forgets_the_chat_log() {
    let fake = Fake::start(&[]);
    call(&fake, &ask("one"));
    assert_eq!(chat_log(&fake.base, |l| l.len() == 1).len(), 1);
    let (status, _) = fake.call("POST", "/_fake/reset", None, None);
    assert_eq!(status, 200);
    assert!(chat_log(&fake.base, |l| l.is_empty()).is_empty());
}
