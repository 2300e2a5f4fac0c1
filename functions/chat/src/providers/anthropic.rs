//! Anthropic's Messages API (`POST {base}/v1/messages`, the key in `x-api-key`, API version
//! 2023-06-01: the version whose request shape we send, `temperature` included). Always
//! streamed: named events, `message_start` (input tokens), `content_block_delta` (text),
//! `message_delta` (output tokens), `message_stop`; `error` when the stream fails.

use super::{count, parse, ChatRequest, Piece, Usage};
use genbase_shared::deps::Outbound;
use serde_json::json;

const API_VERSION: &str = "2023-06-01";

pub fn request(base: &str, key: &str, req: &ChatRequest) -> Outbound {
    // The system prompt is a top-level field here, never a message.
    let mut body = json!({"model": req.model, "max_tokens": req.max_tokens,
                          "messages": req.messages, "stream": true});
    if let Some(system) = &req.system {
        body["system"] = json!(system);
    }
    if let Some(t) = &req.temperature {
        body["temperature"] = t.clone();
    }
    Outbound {
        method: "POST",
        url: format!("{base}/v1/messages"),
        headers: vec![
            ("x-api-key".into(), key.to_string()),
            ("anthropic-version".into(), API_VERSION.into()),
            ("content-type".into(), "application/json".into()),
        ],
        body: Some(body.to_string()),
    }
}

/// What one event says, read from its data's `type` (which repeats the event's name). Other
/// blocks than text (a tool use we never offer) carry no text; `ping` and the block
/// boundaries say nothing we keep.
pub fn read_event(data: &str) -> Vec<Piece> {
    let Some(json) = parse(data) else {
        return vec![Piece::Unreadable(data.to_string())];
    };
    // Usage sits in the message at the start, at the top level of message_delta.
    let usage = |u: &serde_json::Value| {
        Piece::Usage(Usage {
            tokens_in: count(&u["input_tokens"]),
            tokens_out: count(&u["output_tokens"]),
        })
    };
    match json["type"].as_str() {
        Some("message_start") => vec![Piece::Usage(Usage {
            tokens_in: count(&json["message"]["usage"]["input_tokens"]),
            // The start's output count is a placeholder; message_delta gives the real one.
            tokens_out: None,
        })],
        Some("content_block_delta") if json["delta"]["type"] == "text_delta" => json["delta"]
            ["text"]
            .as_str()
            .map(|t| vec![Piece::Text(t.to_string())])
            .unwrap_or_default(),
        Some("message_delta") if json["usage"].is_object() => vec![usage(&json["usage"])],
        Some("message_stop") => vec![Piece::End],
        Some("error") => vec![Piece::Failed(json["error"].to_string())],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Turn;
    use serde_json::Value;

    fn chat(system: Option<&str>, temperature: Option<Value>) -> ChatRequest {
        ChatRequest {
            protocol: "anthropic_messages".into(),
            provider: "anthropic".into(),
            model: "claude-3-5-haiku-20241022".into(),
            system: system.map(str::to_string),
            messages: vec![Turn {
                role: "user".into(),
                content: "hi".into(),
            }],
            max_tokens: 1024,
            temperature,
        }
    }

    #[test]
    fn the_key_and_version_go_in_headers_and_the_system_prompt_at_the_top() {
        let out = request(
            "http://p",
            "sk-ant-1",
            &chat(Some("be brief"), Some(json!(1))),
        );
        assert_eq!(out.url, "http://p/v1/messages");
        for h in [
            ("x-api-key", "sk-ant-1"),
            ("anthropic-version", "2023-06-01"),
        ] {
            assert!(
                out.headers.contains(&(h.0.into(), h.1.into())),
                "{:?}",
                out.headers
            );
        }
        let body: Value = serde_json::from_str(out.body.as_deref().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"model": "claude-3-5-haiku-20241022", "max_tokens": 1024, "system": "be brief",
                   "stream": true,
                   "temperature": 1, "messages": [{"role": "user", "content": "hi"}]})
        );
        let plain = request("http://p", "k", &chat(None, None));
        let body: Value = serde_json::from_str(plain.body.as_deref().unwrap()).unwrap();
        assert!(body.get("system").is_none() && body.get("temperature").is_none());
    }

    #[test]
    fn events_give_the_text_both_counts_and_the_end() {
        let events = [
            json!({"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 5, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "ping"}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "echo: hi"}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
            json!({"type": "message_stop"}),
        ];
        let pieces: Vec<Piece> = events
            .iter()
            .flat_map(|e| read_event(&e.to_string()))
            .collect();
        assert_eq!(
            pieces,
            vec![
                Piece::Usage(Usage {
                    tokens_in: Some(5),
                    tokens_out: None
                }),
                Piece::Text("echo: hi".into()),
                Piece::Usage(Usage {
                    tokens_in: None,
                    tokens_out: Some(2)
                }),
                Piece::End,
            ]
        );
    }

    #[test]
    fn an_error_event_fails() {
        let e = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
        assert!(
            matches!(&read_event(&e.to_string())[..], [Piece::Failed(c)] if c.contains("overloaded_error"))
        );
        assert!(matches!(
            &read_event("{\"type\": \"mess")[..],
            [Piece::Unreadable(_)]
        ));
    }
}
