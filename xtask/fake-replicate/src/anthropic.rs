//! Anthropic's Messages API, `POST /v1/messages`:
//!
//! - the key in `x-api-key`, or in `Authorization: Bearer` as the official SDKs send it since
//!   their majors for API version 2026-10-21; `anthropic-version`: `2026-10-21`, `2023-06-01` or
//!   `2023-01-01`. Version 2026-10-21 refuses (400) `temperature`, `top_p` and `top_k`, a
//!   `document` block in an assistant message and `citations` on a user's text block;
//! - `stream: false`: one `message` object with `content` blocks, `stop_reason` and `usage`;
//! - `stream: true`: server-sent events, each `event: <type>` with the same `type` in its data:
//!   `message_start` (the message with empty content and `usage.input_tokens`),
//!   `content_block_start`, `ping`, `content_block_delta`s (`text_delta`, or `input_json_delta`
//!   for a `tool_use` block), `content_block_stop`, `message_delta` (`stop_reason` and
//!   `usage.output_tokens`, the total), `message_stop`;
//! - errors as `{"type": "error", "error": {type, message}, "request_id"}`; inside a stream, an
//!   `error` event of that shape, and the stream ends there.
//!
//! What is said and how it ends is chat.rs's part; this module only speaks the protocol.

use crate::chat::{self, Ask, Ending, Finish, Markers, Recorder, Reply};
use crate::stream::{self, Step};
use crate::App;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

pub const PATH: &str = "/v1/messages";
/// The API versions Anthropic accepts in `anthropic-version`.
const VERSIONS: [&str; 3] = ["2026-10-21", "2023-06-01", "2023-01-01"];
/// The version that removed the sampling parameters and tightened message content.
const STRICT_VERSION: &str = "2026-10-21";
const SAMPLING: [&str; 3] = ["temperature", "top_p", "top_k"];
const MAX_TEMPERATURE: f64 = 1.0;
/// A 529 means Anthropic's servers are overloaded; it is also the error type of the example
/// mid-stream error in Anthropic's streaming docs.
const OVERLOADED: u16 = 529;

struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn invalid(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            message: message.into(),
        }
    }

    fn overloaded() -> ApiError {
        ApiError {
            status: StatusCode::from_u16(OVERLOADED).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            kind: "overloaded_error",
            message: "Overloaded".into(),
        }
    }

    fn body(&self, request_id: &str) -> Value {
        json!({
            "type": "error",
            "error": { "type": self.kind, "message": self.message },
            "request_id": request_id,
        })
    }

    fn into_response(self, request_id: &str) -> Response {
        let mut response = crate::api::json_response(self.status, &self.body(request_id));
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(chat::RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

struct Request {
    model: String,
    stream: bool,
    ask: Ask,
}

/// `x-api-key`, else the token of `Authorization: Bearer`.
fn api_key(headers: &HeaderMap) -> Option<String> {
    let x_api_key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    let bearer = || {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(token)
    };
    let key = x_api_key.or_else(bearer)?.trim();
    (!key.is_empty()).then(|| key.to_string())
}

pub async fn create(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let key = api_key(&headers);
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let recorder = app.chats.open("anthropic", key.as_deref(), json.as_ref());
    let request_id = chat::random_id("req_", 24);
    let mut response = match check(key.as_deref(), &headers, &body) {
        Ok(request) => answer(&app, request, recorder, &request_id).await,
        Err(e) => {
            recorder.answered(e.status.as_u16(), None);
            e.into_response(&request_id)
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("request-id", v);
    }
    response
}

/// The key, then the version header, then the body, then `[throttle]`.
fn check(key: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Result<Request, ApiError> {
    let unauthorized = |message: &str| ApiError {
        status: StatusCode::UNAUTHORIZED,
        kind: "authentication_error",
        message: message.into(),
    };
    match key {
        None => return Err(unauthorized("x-api-key header is required")),
        Some(k) if !chat::key_is_valid(k) => return Err(unauthorized("invalid x-api-key")),
        Some(_) => {}
    }
    let version = match headers.get("anthropic-version").map(|v| v.to_str()) {
        None => return Err(ApiError::invalid("anthropic-version: header is required")),
        Some(Ok(v)) if VERSIONS.contains(&v.trim()) => v.trim(),
        Some(v) => {
            return Err(ApiError::invalid(format!(
                "anthropic-version: invalid version {:?}; use one of {}",
                v.unwrap_or_default(),
                VERSIONS.join(", ")
            )))
        }
    };
    let request = parse(body, version == STRICT_VERSION)?;
    if Markers::find(&request.ask.last_user_text).throttle {
        return Err(ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: "rate_limit_error",
            message: "This request would exceed the rate limit for your organization. Please \
                      try again later."
                .into(),
        });
    }
    Ok(request)
}

/// `strict`: the rules of API version 2026-10-21 apply.
fn parse(body: &[u8], strict: bool) -> Result<Request, ApiError> {
    let raw: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("The request body is not valid JSON: {e}")))?;
    let obj = raw
        .as_object()
        .ok_or_else(|| ApiError::invalid("The request body must be a JSON object."))?;
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => m.clone(),
        Some(_) => return Err(ApiError::invalid("model: Input should be a valid string")),
        None => return Err(ApiError::invalid("model: Field required")),
    };
    let max_tokens = match obj.get("max_tokens") {
        None => return Err(ApiError::invalid("max_tokens: Field required")),
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => n,
            _ => {
                return Err(ApiError::invalid(
                    "max_tokens: Input should be an integer greater than or equal to 1",
                ))
            }
        },
    };
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => {
            return Err(ApiError::invalid(
                "messages: at least one message is required",
            ))
        }
        Some(_) => return Err(ApiError::invalid("messages: Input should be a valid list")),
        None => return Err(ApiError::invalid("messages: Field required")),
    };
    for (i, m) in messages.iter().enumerate() {
        if !matches!(m["role"].as_str(), Some("user" | "assistant")) {
            return Err(ApiError::invalid(format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            )));
        }
        if !matches!(m.get("content"), Some(Value::String(_) | Value::Array(_))) {
            return Err(ApiError::invalid(format!(
                "messages.{i}.content: Input should be a valid string or list of content blocks"
            )));
        }
        if strict {
            strict_content(i, m)?;
        }
    }
    if let Some(p) = SAMPLING.iter().find(|p| strict && obj.contains_key(**p)) {
        return Err(ApiError::invalid(format!(
            "{p}: not supported in API version {STRICT_VERSION}; remove it"
        )));
    }
    let system = match obj.get("system") {
        None | Some(Value::Null) => String::new(),
        Some(s @ (Value::String(_) | Value::Array(_))) => chat::content_text(s),
        Some(_) => {
            return Err(ApiError::invalid(
                "system: Input should be a valid string or list of text blocks",
            ))
        }
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid("stream: Input should be a valid boolean")),
    };
    match obj.get("temperature") {
        None | Some(Value::Null) => {}
        Some(t)
            if t.as_f64()
                .is_some_and(|t| (0.0..=MAX_TEMPERATURE).contains(&t)) => {}
        Some(_) => {
            return Err(ApiError::invalid(format!(
                "temperature: Input should be a number from 0 to {MAX_TEMPERATURE}"
            )))
        }
    }
    let last_user = messages.iter().rev().find(|m| m["role"] == "user");
    // After a tool result (a user turn holding `tool_result` blocks) the model answers in text.
    let awaits_tool_result = |m: &Value| {
        m["content"]
            .as_array()
            .is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "tool_result"))
    };
    let may_call = messages
        .last()
        .is_some_and(|m| m["role"] == "user" && !awaits_tool_result(m));
    let tool = obj
        .get("tools")
        .and_then(|t| t[0]["name"].as_str())
        .filter(|_| may_call)
        .map(str::to_string);
    let prompt_tokens = chat::words(&system)
        + messages
            .iter()
            .map(|m| chat::words(&chat::message_text(m)))
            .sum::<u64>();
    Ok(Request {
        model,
        stream,
        ask: Ask {
            last_user_text: last_user
                .map(|m| chat::plain_text(&m["content"]))
                .unwrap_or_default(),
            tool,
            max_tokens: Some(max_tokens),
            prompt_tokens,
        },
    })
}

/// Version 2026-10-21's content rules: no `document` block directly in an assistant message, no
/// non-empty `citations` on a text block of a user message.
fn strict_content(i: usize, message: &Value) -> Result<(), ApiError> {
    let blocks = message["content"].as_array().into_iter().flatten();
    for (j, block) in blocks.enumerate() {
        let at = format!("messages.{i}.content.{j}");
        if message["role"] == "assistant" && block["type"] == "document" {
            return Err(ApiError::invalid(format!(
                "{at}: document blocks are not accepted in assistant messages in API version {STRICT_VERSION}"
            )));
        }
        let cited = block["citations"].as_array().is_some_and(|c| !c.is_empty());
        if message["role"] == "user" && block["type"] == "text" && cited {
            return Err(ApiError::invalid(format!(
                "{at}.citations: not accepted on user text blocks in API version {STRICT_VERSION}"
            )));
        }
    }
    Ok(())
}

async fn answer(app: &App, request: Request, recorder: Recorder, request_id: &str) -> Response {
    let reply = Reply::plan(&request.ask, || chat::random_id("toolu_01", 22));
    let id = chat::random_id("msg_01", 22);
    let ttft = app.config.ttft;
    recorder.answered(
        match (request.stream, reply.ending()) {
            (false, Ending::Error) => OVERLOADED,
            _ => 200,
        },
        Some(&reply),
    );
    if request.stream {
        let steps = stream_steps(&id, &request.model, &reply, ttft, request_id);
        let body = stream::body(steps, recorder, reply.ending().outcome());
        return (
            [
                (header::CONTENT_TYPE, "text/event-stream; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response();
    }
    tokio::time::sleep(reply.duration(ttft)).await;
    let message = message(&id, &request.model, &reply);
    match reply.ending() {
        Ending::Complete => {
            recorder.ended(Ending::Complete.outcome());
            crate::api::json_response(StatusCode::OK, &message)
        }
        Ending::Error => {
            recorder.ended(Ending::Error.outcome());
            ApiError::overloaded().into_response(request_id)
        }
        Ending::Drop => {
            // Headers and the first half of the JSON, then the connection is cut.
            let text = message.to_string();
            let half = Bytes::from(text.as_bytes()[..text.len() / 2].to_vec());
            let steps = vec![
                Step::Send {
                    after: Duration::ZERO,
                    bytes: half,
                },
                Step::Cut {
                    after: Duration::ZERO,
                },
            ];
            (
                [(header::CONTENT_TYPE, "application/json")],
                stream::body(steps, recorder, Ending::Drop.outcome()),
            )
                .into_response()
        }
    }
}

fn stop_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ToolUse => "tool_use",
    }
}

fn usage(reply: &Reply, output_tokens: u64) -> Value {
    json!({
        "input_tokens": reply.prompt_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    })
}

/// The message as `stream: false` answers it (usage left out for `[nousage]`).
fn message(id: &str, model: &str, reply: &Reply) -> Value {
    let block = match &reply.tool {
        // A tool input cut by max_tokens is no JSON object: the fake sends `{}` then.
        Some(call) => json!({
            "type": "tool_use",
            "id": call.id,
            "name": call.name,
            "input": serde_json::from_str::<Map<String, Value>>(&reply.text()).unwrap_or_default(),
        }),
        None => json!({ "type": "text", "text": reply.text() }),
    };
    let mut message = json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block],
        "stop_reason": stop_reason(reply.finish),
        "stop_sequence": null,
    });
    if reply.usage_reported() {
        message["usage"] = usage(reply, reply.completion_tokens());
    }
    message
}

fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

fn stream_steps(
    id: &str,
    model: &str,
    reply: &Reply,
    ttft: Duration,
    request_id: &str,
) -> Vec<Step> {
    let send = |after, name: &str, data: Value| Step::Send {
        after,
        bytes: event(name, &data),
    };
    let now = Duration::ZERO;
    let mut start = json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": null,
        "stop_sequence": null,
    });
    if reply.usage_reported() {
        // Anthropic counts the first output token at the start; message_delta has the total.
        start["usage"] = usage(reply, 1);
    }
    let block = match &reply.tool {
        Some(call) => json!({ "type": "tool_use", "id": call.id, "name": call.name, "input": {} }),
        None => json!({ "type": "text", "text": "" }),
    };
    let mut steps = vec![
        send(
            ttft,
            "message_start",
            json!({ "type": "message_start", "message": start }),
        ),
        send(
            now,
            "content_block_start",
            json!({ "type": "content_block_start", "index": 0, "content_block": block }),
        ),
        send(now, "ping", json!({ "type": "ping" })),
    ];
    for (i, piece) in reply.pieces_sent().iter().enumerate() {
        let delta = match &reply.tool {
            Some(_) => json!({ "type": "input_json_delta", "partial_json": piece }),
            None => json!({ "type": "text_delta", "text": piece }),
        };
        let after = if i == 0 { now } else { reply.gap() };
        steps.push(send(
            after,
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": 0, "delta": delta }),
        ));
    }
    match reply.ending() {
        Ending::Error => steps.push(send(
            reply.gap(),
            "error",
            ApiError::overloaded().body(request_id),
        )),
        Ending::Drop => steps.push(Step::Cut { after: reply.gap() }),
        Ending::Complete => {
            steps.push(send(
                now,
                "content_block_stop",
                json!({ "type": "content_block_stop", "index": 0 }),
            ));
            let mut delta = json!({
                "type": "message_delta",
                "delta": { "stop_reason": stop_reason(reply.finish), "stop_sequence": null },
            });
            if reply.usage_reported() {
                delta["usage"] = json!({ "output_tokens": reply.completion_tokens() });
            }
            steps.push(send(now, "message_delta", delta));
            steps.push(send(now, "message_stop", json!({ "type": "message_stop" })));
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(body: &str) -> Result<Request, String> {
        parse(body.as_bytes(), false).map_err(|e| e.message)
    }

    #[test]
    fn reads_what_shapes_the_reply() {
        let r = parse_str(
            r#"{"model":"claude-x","max_tokens":50,"stream":true,"system":[{"type":"text","text":"be brief"}],
                "tools":[{"name":"lookup","input_schema":{"type":"object"}}],
                "messages":[{"role":"user","content":"one two"},{"role":"assistant","content":"three"},
                            {"role":"user","content":[{"type":"text","text":"go [tool]"}]}]}"#,
        )
        .unwrap();
        assert_eq!((r.model.as_str(), r.stream), ("claude-x", true));
        assert_eq!(r.ask.max_tokens, Some(50));
        assert_eq!(r.ask.prompt_tokens, 2 + 2 + 1 + 2);
        assert_eq!(r.ask.tool.as_deref(), Some("lookup"));
        assert_eq!(r.ask.last_user_text, "go [tool]");
        // Answering a tool result: text, and the result's content counts.
        let r = parse_str(
            r#"{"model":"m","max_tokens":5,"tools":[{"name":"lookup"}],
                "messages":[{"role":"user","content":"x [tool]"},
                            {"role":"assistant","content":[{"type":"tool_use","id":"t","name":"lookup","input":{"q":"x"}}]},
                            {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"sunny day"}]}]}"#,
        )
        .unwrap();
        assert_eq!((r.ask.tool, r.ask.prompt_tokens), (None, 2 + 1 + 2));
    }

    #[test]
    fn refuses_bad_bodies() {
        let err = |body: &str| parse_str(body).err().unwrap_or_default();
        let msgs = r#""messages":[{"role":"user","content":"x"}]"#;
        assert!(err(&format!(r#"{{"model":"m",{msgs}}}"#)).starts_with("max_tokens"));
        assert!(err(&format!(r#"{{"max_tokens":5,{msgs}}}"#)).starts_with("model"));
        assert!(err(r#"{"model":"m","max_tokens":5,"messages":[]}"#).starts_with("messages"));
        assert!(err(&format!(r#"{{"model":"m","max_tokens":0,{msgs}}}"#)).starts_with("max_tokens"));
        assert!(err(
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"x"}]}"#
        )
        .starts_with("messages.0.role"));
        assert!(
            err(r#"{"model":"m","max_tokens":5,"messages":[{"role":"user"}]}"#)
                .starts_with("messages.0.content")
        );
        assert!(err(&format!(
            r#"{{"model":"m","max_tokens":5,"temperature":1.5,{msgs}}}"#
        ))
        .starts_with("temperature"));
        assert!(err("[]").contains("object"));
        assert!(parse_str(&format!(r#"{{"model":"m","max_tokens":5,{msgs}}}"#)).is_ok());
    }

    #[test]
    fn version_2026_10_21_refuses_sampling_and_misplaced_content() {
        let strict = |body: &str| parse(body.as_bytes(), true).err().map(|e| e.message);
        let msgs = r#""messages":[{"role":"user","content":"x"}]"#;
        for p in ["temperature", "top_p", "top_k"] {
            let body = format!(r#"{{"model":"m","max_tokens":5,"{p}":1,{msgs}}}"#);
            assert!(strict(&body).is_some_and(|m| m.starts_with(p)), "{p}");
            assert!(
                parse(body.as_bytes(), false).is_ok(),
                "{p} is fine on 2023-06-01"
            );
        }
        let document = r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"},
            {"role":"assistant","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"d"}}]}]}"#;
        assert!(strict(document).is_some_and(|m| m.starts_with("messages.1.content.0")));
        let cited = r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[
            {"type":"text","text":"x","citations":[{"type":"char_location","cited_text":"x"}]}]}]}"#;
        assert!(strict(cited).is_some_and(|m| m.contains("citations")));
        assert_eq!(
            strict(&format!(r#"{{"model":"m","max_tokens":5,{msgs}}}"#)),
            None
        );
    }
}
