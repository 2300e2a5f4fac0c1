//! OpenAI's chat completions protocol (`POST {base}/v1/chat/completions`, a bearer key),
//! which OpenAI, OpenRouter, Groq, DeepSeek, Mistral, Together and Gemini's compatible
//! endpoint all speak. Always streamed: `data:` chunks of `chat.completion.chunk`, the usage
//! in a last chunk (`stream_options.include_usage`), then `data: [DONE]`.

use super::{count, parse, ChatRequest, Piece, Usage};
use genbase_shared::deps::Outbound;
use serde_json::json;

pub fn request(base: &str, key: &str, req: &ChatRequest) -> Outbound {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = &req.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.extend(
        req.messages
            .iter()
            .map(|t| json!({"role": t.role, "content": t.content})),
    );
    let mut body = json!({"model": req.model, "messages": messages, "stream": true,
                          "stream_options": {"include_usage": true}});
    // OpenAI deprecated `max_tokens` for `max_completion_tokens` (its reasoning models refuse
    // the old name); the compatible providers still read `max_tokens`.
    let limit = if req.provider == "openai" {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    body[limit] = json!(req.max_tokens);
    if let Some(t) = &req.temperature {
        body["temperature"] = t.clone();
    }
    Outbound {
        method: "POST",
        url: format!("{base}/v1/chat/completions"),
        headers: vec![
            ("authorization".into(), format!("Bearer {key}")),
            ("content-type".into(), "application/json".into()),
        ],
        body: Some(body.to_string()),
    }
}

/// What one event's `data` says: the first choice's text, the usage, the end (`[DONE]`),
/// or an error (`{"error": ...}`, which OpenAI sends inside a stream that fails).
pub fn read_event(data: &str) -> Vec<Piece> {
    if data == "[DONE]" {
        return vec![Piece::End];
    }
    let Some(json) = parse(data) else {
        return vec![Piece::Unreadable(data.to_string())];
    };
    if !json["error"].is_null() {
        return vec![Piece::Failed(json["error"].to_string())];
    }
    let mut pieces = Vec::new();
    if let Some(text) = json["choices"][0]["delta"]["content"].as_str() {
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_string()));
        }
    }
    if json["usage"].is_object() {
        pieces.push(Piece::Usage(Usage {
            tokens_in: count(&json["usage"]["prompt_tokens"]),
            tokens_out: count(&json["usage"]["completion_tokens"]),
        }));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Turn;
    use serde_json::Value;

    fn chat(provider: &str, system: Option<&str>, temperature: Option<Value>) -> ChatRequest {
        ChatRequest {
            protocol: "openai_chat".into(),
            provider: provider.into(),
            model: "gpt-4o-mini".into(),
            system: system.map(str::to_string),
            messages: vec![
                Turn {
                    role: "user".into(),
                    content: "hi".into(),
                },
                Turn {
                    role: "assistant".into(),
                    content: "hello".into(),
                },
                Turn {
                    role: "user".into(),
                    content: "how are you".into(),
                },
            ],
            max_tokens: 300,
            temperature,
        }
    }

    fn body(out: &Outbound) -> Value {
        serde_json::from_str(out.body.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn the_system_prompt_leads_and_the_limit_takes_openais_name() {
        let out = request(
            "http://p",
            "sk-1",
            &chat("openai", Some("be brief"), Some(json!(0.5))),
        );
        assert_eq!(out.url, "http://p/v1/chat/completions");
        assert!(out
            .headers
            .contains(&("authorization".into(), "Bearer sk-1".into())));
        assert_eq!(
            body(&out),
            json!({"model": "gpt-4o-mini", "max_completion_tokens": 300, "temperature": 0.5,
                   "stream": true, "stream_options": {"include_usage": true},
                   "messages": [{"role": "system", "content": "be brief"},
                                {"role": "user", "content": "hi"},
                                {"role": "assistant", "content": "hello"},
                                {"role": "user", "content": "how are you"}]})
        );
    }

    #[test]
    fn compatible_providers_get_max_tokens_and_no_defaults_are_invented() {
        let b = body(&request("http://p", "k", &chat("groq", None, None)));
        assert_eq!(b["max_tokens"], 300);
        assert!(b.get("max_completion_tokens").is_none() && b.get("temperature").is_none());
        assert_eq!(b["messages"][0]["role"], "user");
    }

    #[test]
    fn chunks_give_their_text_the_usage_and_the_end() {
        let text = json!({"object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": "echo"}, "finish_reason": null}]});
        assert_eq!(
            read_event(&text.to_string()),
            vec![Piece::Text("echo".into())]
        );
        let role_only = json!({"choices": [{"delta": {"role": "assistant", "content": ""}}]});
        assert_eq!(read_event(&role_only.to_string()), vec![]);
        let usage = json!({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}});
        assert_eq!(
            read_event(&usage.to_string()),
            vec![Piece::Usage(Usage {
                tokens_in: Some(7),
                tokens_out: Some(2)
            })]
        );
        assert_eq!(read_event("[DONE]"), vec![Piece::End]);
    }

    #[test]
    fn an_error_chunk_fails_and_a_cut_chunk_is_unreadable() {
        let error =
            json!({"error": {"message": "The server had an error", "type": "server_error"}});
        assert!(
            matches!(&read_event(&error.to_string())[..], [Piece::Failed(cause)] if cause.contains("server_error"))
        );
        assert_eq!(
            read_event(r#"{"choices": [{"del"#),
            vec![Piece::Unreadable(r#"{"choices": [{"del"#.into())]
        );
    }

    #[test]
    fn the_request_asks_for_a_stream_with_its_usage() {
        let b = body(&request("http://p", "k", &chat("openai", None, None)));
        assert_eq!(b["stream"], true);
        assert_eq!(b["stream_options"], json!({"include_usage": true}));
    }
}
