//! OpenAI's chat completions protocol, `POST /v1/chat/completions`, which OpenAI and the
//! OpenAI-compatible providers (OpenRouter, Groq, DeepSeek, Mistral, Together, Gemini's
//! compatible endpoint) speak:
//!
//! - `Authorization: Bearer <key>`;
//! - `stream: false`: one `chat.completion` object with `usage`;
//! - `stream: true`: server-sent `chat.completion.chunk`s (`data: {...}`), the first with the
//!   role, one per token, one with `finish_reason`, then, when `stream_options.include_usage`
//!   asks, one with empty `choices` and the `usage` (every chunk before it has `usage: null`),
//!   then `data: [DONE]`;
//! - tool calls as `tool_calls` (streamed: the id and name first, then `arguments` fragments),
//!   `finish_reason: "tool_calls"`;
//! - errors as `{"error": {message, type, param, code}}`; inside a stream, a chunk of that shape
//!   (which the official client raises as an `APIError`), and the stream ends there.
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

pub const PATH: &str = "/v1/chat/completions";
/// `system_fingerprint` of every answer (OpenAI's names the backend configuration).
const FINGERPRINT: &str = "fp_fake";
const ROLES: [&str; 5] = ["system", "developer", "user", "assistant", "tool"];
const MAX_TEMPERATURE: f64 = 2.0;

/// An error in OpenAI's shape; the embeddings endpoint (embeddings.rs) answers with it too.
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    message: String,
    kind: &'static str,
    param: Option<String>,
    code: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn invalid(
        message: impl Into<String>,
        param: Option<&str>,
        code: Option<&'static str>,
    ) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: param.map(str::to_string),
            code,
        }
    }

    pub(crate) fn server_error() -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "The server had an error while processing your request. Sorry about that!"
                .into(),
            kind: "server_error",
            param: None,
            code: None,
        }
    }

    pub(crate) fn body(&self) -> Value {
        json!({ "error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json_response(self.status, &self.body());
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(chat::RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    crate::api::json_response(status, body)
}

/// What the fake acts on in a valid request.
struct Request {
    model: String,
    stream: bool,
    include_usage: bool,
    ask: Ask,
}

/// The key of `Authorization: Bearer <key>`.
pub(crate) fn api_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, key) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| key.trim().to_string())
        .filter(|k| !k.is_empty())
}

pub async fn create(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let key = api_key(&headers);
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let recorder = app.chats.open("openai", key.as_deref(), json.as_ref());
    let response = match check(key.as_deref(), &body) {
        Ok(request) => answer(&app, request, recorder).await,
        Err(e) => {
            recorder.answered(e.status.as_u16(), None);
            e.into_response()
        }
    };
    with_request_id(response)
}

/// Every OpenAI answer names its request in `x-request-id`.
pub(crate) fn with_request_id(mut response: Response) -> Response {
    let request_id = chat::random_id("req_", 32);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// Authentication first (as OpenAI answers 401 before reading the body), then the body, then
/// `[throttle]`.
fn check(key: Option<&str>, body: &[u8]) -> Result<Request, ApiError> {
    authorize(key)?;
    let request = parse(body)?;
    if Markers::find(&request.ask.last_user_text).throttle {
        return Err(ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!(
                "Rate limit reached for requests. Please try again in {}s.",
                chat::RETRY_AFTER_SECONDS
            ),
            kind: "requests",
            param: None,
            code: Some("rate_limit_exceeded"),
        });
    }
    Ok(request)
}

/// OpenAI's 401s: no key, or a key the fake treats as revoked ([`chat::key_is_valid`]).
pub(crate) fn authorize(key: Option<&str>) -> Result<(), ApiError> {
    let unauthorized = |message: String, code| ApiError {
        status: StatusCode::UNAUTHORIZED,
        message,
        kind: "invalid_request_error",
        param: None,
        code,
    };
    match key {
        None => Err(unauthorized(
            "You didn't provide an API key. You need to provide your API key in an \
             Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                .into(),
            None,
        )),
        Some(k) if !chat::key_is_valid(k) => Err(unauthorized(
            format!("Incorrect API key provided: {}.", masked(k)),
            Some("invalid_api_key"),
        )),
        Some(_) => Ok(()),
    }
}

/// OpenAI shows only the ends of a wrong key.
fn masked(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}***{tail}")
}

fn parse(body: &[u8]) -> Result<Request, ApiError> {
    let raw: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(
            format!("We could not parse the JSON body of your request: {e}."),
            None,
            None,
        )
    })?;
    let obj = raw
        .as_object()
        .ok_or_else(|| ApiError::invalid("The request body must be a JSON object.", None, None))?;
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => m.clone(),
        Some(Value::String(_)) | None => {
            return Err(ApiError::invalid(
                "you must provide a model parameter",
                None,
                None,
            ))
        }
        Some(_) => return Err(invalid_type("model", "a string")),
    };
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => {
            return Err(ApiError::invalid(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
                Some("messages"),
                Some("empty_array"),
            ))
        }
        Some(_) => return Err(invalid_type("messages", "an array")),
        None => {
            return Err(ApiError::invalid(
                "Missing required parameter: 'messages'.",
                Some("messages"),
                Some("missing_required_parameter"),
            ))
        }
    };
    for (i, m) in messages.iter().enumerate() {
        if !m["role"].as_str().is_some_and(|r| ROLES.contains(&r)) {
            let param = format!("messages[{i}].role");
            return Err(ApiError::invalid(
                format!(
                    "Invalid value for '{param}': supported values are {}.",
                    ROLES.join(", ")
                ),
                Some(param.as_str()),
                Some("invalid_value"),
            ));
        }
    }
    let stream = boolean(obj, "stream")?;
    let include_usage = match obj.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(_)) if !stream => {
            return Err(ApiError::invalid(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                Some("stream_options"),
                None,
            ))
        }
        Some(Value::Object(o)) => boolean(o, "include_usage")?,
        Some(_) => return Err(invalid_type("stream_options", "an object")),
    };
    // The newer name wins, as OpenAI's docs say `max_tokens` is deprecated in its favour.
    let max_tokens = match positive(obj, "max_completion_tokens")? {
        Some(n) => Some(n),
        None => positive(obj, "max_tokens")?,
    };
    match obj.get("temperature") {
        None | Some(Value::Null) => {}
        Some(t) if t.as_f64().is_some_and(|t| (0.0..=MAX_TEMPERATURE).contains(&t)) => {}
        Some(t) => {
            return Err(ApiError::invalid(
                format!("Invalid 'temperature': expected a number from 0 to {MAX_TEMPERATURE}, but got {t} instead."),
                Some("temperature"),
                Some("invalid_value"),
            ))
        }
    }
    let last_is_user = messages.last().is_some_and(|m| m["role"] == "user");
    let tool = obj
        .get("tools")
        .and_then(|t| t[0]["function"]["name"].as_str())
        .filter(|_| last_is_user)
        .map(str::to_string);
    let last_user_text = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| chat::plain_text(&m["content"]))
        .unwrap_or_default();
    Ok(Request {
        model,
        stream,
        include_usage,
        ask: Ask {
            last_user_text,
            tool,
            max_tokens,
            prompt_tokens: messages
                .iter()
                .map(|m| chat::words(&chat::message_text(m)))
                .sum(),
        },
    })
}

pub(crate) fn invalid_type(param: &str, expected: &str) -> ApiError {
    ApiError::invalid(
        format!("Invalid type for '{param}': expected {expected}."),
        Some(param),
        Some("invalid_type"),
    )
}

fn boolean(obj: &Map<String, Value>, param: &str) -> Result<bool, ApiError> {
    match obj.get(param) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(invalid_type(param, "a boolean")),
    }
}

fn positive(obj: &Map<String, Value>, param: &str) -> Result<Option<u64>, ApiError> {
    match obj.get(param) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => Ok(Some(n)),
            _ => Err(ApiError::invalid(
                format!(
                    "Invalid '{param}': expected an integer of at least 1, but got {v} instead."
                ),
                Some(param),
                Some("integer_below_min_value"),
            )),
        },
    }
}

/// What every object of one answer shares.
struct Head {
    id: String,
    created: u64,
    model: String,
}

async fn answer(app: &App, request: Request, recorder: Recorder) -> Response {
    let reply = Reply::plan(&request.ask, || chat::random_id("call_", 24));
    let head = Head {
        id: chat::random_id("chatcmpl-", 29),
        created: chat::unix_seconds(),
        model: request.model,
    };
    let ttft = app.config.ttft;
    recorder.answered(
        match (request.stream, reply.ending()) {
            (false, Ending::Error) => 500,
            _ => 200,
        },
        Some(&reply),
    );
    if request.stream {
        let steps = stream_steps(&head, &reply, request.include_usage, ttft);
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
    let completion = completion(&head, &reply);
    match reply.ending() {
        Ending::Complete => {
            recorder.ended(Ending::Complete.outcome());
            json_response(StatusCode::OK, &completion)
        }
        Ending::Error => {
            recorder.ended(Ending::Error.outcome());
            ApiError::server_error().into_response()
        }
        Ending::Drop => {
            // Headers and the first half of the JSON, then the connection is cut.
            let text = completion.to_string();
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

fn finish_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "stop",
        Finish::Length => "length",
        Finish::ToolUse => "tool_calls",
    }
}

fn usage(reply: &Reply) -> Value {
    let (prompt, completion) = (reply.prompt_tokens, reply.completion_tokens());
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": { "cached_tokens": 0 },
        "completion_tokens_details": { "reasoning_tokens": 0 },
    })
}

fn completion(head: &Head, reply: &Reply) -> Value {
    let message = match &reply.tool {
        Some(call) => json!({
            "role": "assistant",
            "content": null,
            "refusal": null,
            "tool_calls": [{
                "id": call.id,
                "type": "function",
                "function": { "name": call.name, "arguments": reply.text() },
            }],
        }),
        None => json!({ "role": "assistant", "content": reply.text(), "refusal": null }),
    };
    let mut completion = json!({
        "id": head.id,
        "object": "chat.completion",
        "created": head.created,
        "model": head.model,
        "system_fingerprint": FINGERPRINT,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(reply.finish),
        }],
    });
    if reply.usage_reported() {
        completion["usage"] = usage(reply);
    }
    completion
}

fn data(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

fn stream_steps(head: &Head, reply: &Reply, include_usage: bool, ttft: Duration) -> Vec<Step> {
    let chunk = |choices: Value| {
        let mut chunk = json!({
            "id": head.id,
            "object": "chat.completion.chunk",
            "created": head.created,
            "model": head.model,
            "system_fingerprint": FINGERPRINT,
            "choices": choices,
        });
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    };
    let choice = |delta: Value, finish: Option<&str>| {
        chunk(json!([{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]))
    };
    let first = match &reply.tool {
        Some(call) => json!({
            "role": "assistant",
            "content": null,
            "refusal": null,
            "tool_calls": [{
                "index": 0,
                "id": call.id,
                "type": "function",
                "function": { "name": call.name, "arguments": "" },
            }],
        }),
        None => json!({ "role": "assistant", "content": "", "refusal": null }),
    };
    let send = |after, value: &Value| Step::Send {
        after,
        bytes: data(value),
    };
    let mut steps = vec![send(ttft, &choice(first, None))];
    for (i, piece) in reply.pieces_sent().iter().enumerate() {
        let delta = match &reply.tool {
            Some(_) => {
                json!({ "tool_calls": [{ "index": 0, "function": { "arguments": piece } }] })
            }
            None => json!({ "content": piece }),
        };
        let after = if i == 0 { Duration::ZERO } else { reply.gap() };
        steps.push(send(after, &choice(delta, None)));
    }
    match reply.ending() {
        Ending::Error => steps.push(send(reply.gap(), &ApiError::server_error().body())),
        Ending::Drop => steps.push(Step::Cut { after: reply.gap() }),
        Ending::Complete => {
            let finish = finish_reason(reply.finish);
            steps.push(send(Duration::ZERO, &choice(json!({}), Some(finish))));
            if include_usage && reply.usage_reported() {
                let mut last = chunk(json!([]));
                last["usage"] = usage(reply);
                steps.push(send(Duration::ZERO, &last));
            }
            steps.push(Step::Send {
                after: Duration::ZERO,
                bytes: Bytes::from_static(b"data: [DONE]\n\n"),
            });
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(body: &str) -> Result<Request, (u16, Value)> {
        parse(body.as_bytes()).map_err(|e| (e.status.as_u16(), e.body()))
    }

    #[test]
    fn reads_what_shapes_the_reply() {
        let r = parse_str(
            r#"{"model":"gpt-x","stream":true,"stream_options":{"include_usage":true},
                "max_tokens":9,"max_completion_tokens":4,"temperature":0.5,
                "tools":[{"type":"function","function":{"name":"lookup","parameters":{}}}],
                "messages":[{"role":"system","content":"be brief"},
                            {"role":"user","content":[{"type":"text","text":"hello there [tool]"}]}]}"#,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            (r.model.as_str(), r.stream, r.include_usage),
            ("gpt-x", true, true)
        );
        assert_eq!(r.ask.max_tokens, Some(4));
        assert_eq!(r.ask.prompt_tokens, 2 + 3);
        assert_eq!(r.ask.last_user_text, "hello there [tool]");
        assert_eq!(r.ask.tool.as_deref(), Some("lookup"));
        // After a tool result the model answers in text.
        let r = parse_str(
            r#"{"model":"m","tools":[{"type":"function","function":{"name":"lookup"}}],
                "messages":[{"role":"user","content":"x [tool]"},
                            {"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"lookup","arguments":"{}"}}]},
                            {"role":"tool","tool_call_id":"c","content":"sunny"}]}"#,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((r.ask.tool, r.ask.prompt_tokens), (None, 2 + 1 + 1));
    }

    #[test]
    fn refuses_bad_bodies_with_openai_errors() {
        let status = |body: &str| {
            parse_str(body)
                .err()
                .map(|(s, b)| (s, b["error"]["param"].clone()))
        };
        assert_eq!(status("{nope"), Some((400, Value::Null)));
        assert_eq!(
            status(r#"{"messages":[{"role":"user","content":"x"}]}"#),
            Some((400, Value::Null))
        );
        assert_eq!(status(r#"{"model":"m"}"#), Some((400, json!("messages"))));
        assert_eq!(
            status(r#"{"model":"m","messages":[]}"#),
            Some((400, json!("messages")))
        );
        assert_eq!(
            status(r#"{"model":"m","messages":[{"role":"robot","content":"x"}]}"#),
            Some((400, json!("messages[0].role")))
        );
        let ok = r#""model":"m","messages":[{"role":"user","content":"x"}]"#;
        assert_eq!(
            status(&format!("{{{ok},\"max_tokens\":0}}")),
            Some((400, json!("max_tokens")))
        );
        assert_eq!(
            status(&format!("{{{ok},\"temperature\":3}}")),
            Some((400, json!("temperature")))
        );
        assert_eq!(
            status(&format!("{{{ok},\"stream\":\"yes\"}}")),
            Some((400, json!("stream")))
        );
        assert_eq!(
            status(&format!(
                "{{{ok},\"stream_options\":{{\"include_usage\":true}}}}"
            )),
            Some((400, json!("stream_options")))
        );
        assert!(parse_str(&format!("{{{ok}}}")).is_ok());
    }

    #[test]
    fn keys_are_masked_in_errors() {
        assert_eq!(masked("sk-invalid-123456"), "sk-***3456");
        assert_eq!(masked("short"), "*****");
    }
}
