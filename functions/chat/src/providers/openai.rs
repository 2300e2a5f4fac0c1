//! OpenAI's chat completions protocol (`POST {base}/v1/chat/completions`, a bearer key),
//! which OpenAI, OpenRouter, Groq, DeepSeek, Mistral, Together and Gemini's compatible
//! endpoint all speak.

use super::{count, parse, ChatRequest, Completion, Failure, Usage};
use genbase_shared::deps::Outbound;
use serde_json::{json, Value};

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
    let mut body = json!({"model": req.model, "messages": messages});
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

/// A 2xx `chat.completion`: the first choice's text (none for a reply that is only a
/// refusal or a tool call) and `usage`.
pub fn read(provider: &str, body: &str) -> Result<Completion, Failure> {
    let json = parse(body).unwrap_or(Value::Null);
    let usage = Usage {
        tokens_in: count(&json["usage"]["prompt_tokens"]),
        tokens_out: count(&json["usage"]["completion_tokens"]),
    };
    let message = &json["choices"][0]["message"];
    if !message.is_object() {
        return Err(Failure::unreadable(provider, body, usage));
    }
    Ok(Completion {
        content: message["content"].as_str().unwrap_or_default().to_string(),
        usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Turn;

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
    fn a_completion_gives_its_text_and_usage() {
        let answer = json!({"object": "chat.completion", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": "echo: hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}});
        assert_eq!(
            read("openai", &answer.to_string()),
            Ok(Completion {
                content: "echo: hi".into(),
                usage: Usage {
                    tokens_in: Some(7),
                    tokens_out: Some(2)
                }
            })
        );
        let no_usage = json!({"choices": [{"message": {"role": "assistant", "content": "x"}}]});
        assert_eq!(
            read("openai", &no_usage.to_string()).unwrap().usage,
            Usage::default()
        );
    }

    #[test]
    fn a_body_cut_short_is_a_failure_in_our_words() {
        let e = read("openai", r#"{"choices": [{"message": {"con"#).unwrap_err();
        assert_eq!(
            e.message,
            "the model's provider sent an answer that could not be read"
        );
        assert!(e.cause.starts_with("openai answered 2xx"), "{}", e.cause);
    }
}
