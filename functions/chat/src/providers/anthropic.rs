//! Anthropic's Messages API (`POST {base}/v1/messages`, the key in `x-api-key`, API version
//! 2023-06-01: the version whose request shape we send, `temperature` included).

use super::{count, parse, ChatRequest, Completion, Failure, Usage};
use genbase_shared::deps::Outbound;
use serde_json::{json, Value};

const API_VERSION: &str = "2023-06-01";

pub fn request(base: &str, key: &str, req: &ChatRequest) -> Outbound {
    // The system prompt is a top-level field here, never a message.
    let mut body =
        json!({"model": req.model, "max_tokens": req.max_tokens, "messages": req.messages});
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

/// A 2xx `message`: its text blocks joined (other blocks, such as a tool use we never offer,
/// carry no text) and `usage`.
pub fn read(provider: &str, body: &str) -> Result<Completion, Failure> {
    let json = parse(body).unwrap_or(Value::Null);
    let usage = Usage {
        tokens_in: count(&json["usage"]["input_tokens"]),
        tokens_out: count(&json["usage"]["output_tokens"]),
    };
    let Some(blocks) = json["content"].as_array() else {
        return Err(Failure::unreadable(provider, body, usage));
    };
    let content = blocks
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect();
    Ok(Completion { content, usage })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Turn;

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
                   "temperature": 1, "messages": [{"role": "user", "content": "hi"}]})
        );
        let plain = request("http://p", "k", &chat(None, None));
        let body: Value = serde_json::from_str(plain.body.as_deref().unwrap()).unwrap();
        assert!(body.get("system").is_none() && body.get("temperature").is_none());
    }

    #[test]
    fn a_message_gives_its_text_blocks_and_usage() {
        let answer = json!({"type": "message", "role": "assistant", "content": [
            {"type": "text", "text": "echo: "}, {"type": "text", "text": "hi"}],
            "stop_reason": "end_turn", "usage": {"input_tokens": 5, "output_tokens": 2}});
        assert_eq!(
            read("anthropic", &answer.to_string()),
            Ok(Completion {
                content: "echo: hi".into(),
                usage: Usage {
                    tokens_in: Some(5),
                    tokens_out: Some(2)
                }
            })
        );
    }

    #[test]
    fn an_answer_without_content_keeps_the_usage_it_reported() {
        let e = read(
            "anthropic",
            r#"{"usage": {"input_tokens": 5, "output_tokens": 0}}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.usage,
            Usage {
                tokens_in: Some(5),
                tokens_out: Some(0)
            }
        );
    }
}
