//! One chat completion, not streamed, at the model's provider: the request SQL built
//! (`api.begin_reply`'s `request`), sent as it is in the protocol SQL named, with a key from
//! the token pool; the reply's text and the tokens the provider reported, or a failure whose
//! message is ours (the provider's own words go to the logs only).

mod anthropic;
mod openai;
mod pool;

use genbase_shared::deps::{Deps, Inbound, Outbound};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `begin_reply`'s `request`: what the provider gets, already validated and priced.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub protocol: String,
    /// The token pool's name, which also names the base URL's var.
    pub provider: String,
    /// The provider's name for the model.
    pub model: String,
    pub system: Option<String>,
    pub messages: Vec<Turn>,
    pub max_tokens: u32,
    /// A number, or `None` for the provider's default; passed on as SQL gave it.
    pub temperature: Option<Value>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct Turn {
    pub role: String,
    pub content: String,
}

/// Tokens as the provider counted them; `None` when it reported none (SQL then estimates).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
}

#[derive(Debug, PartialEq)]
pub struct Completion {
    pub content: String,
    pub usage: Usage,
}

#[derive(Debug, PartialEq)]
pub struct Failure {
    /// What the user reads on the failed message.
    pub message: &'static str,
    /// What we log: the provider's status and words.
    pub cause: String,
    /// Whatever usage the provider still reported.
    pub usage: Usage,
}

impl Failure {
    pub fn new(message: &'static str, cause: impl Into<String>) -> Failure {
        Failure {
            message,
            cause: cause.into(),
            usage: Usage::default(),
        }
    }

    /// A provider's non-2xx answer, in words that are ours.
    fn from_answer(provider: &str, answer: &Inbound) -> Failure {
        let message = match answer.status {
            429 => "the model's provider is busy; try again in a moment",
            401 | 403 => "the model's provider is not available right now",
            400..=499 => "the model's provider refused the request",
            _ => "the model's provider failed to answer",
        };
        Failure::new(
            message,
            format!(
                "{provider} answered {}: {}",
                answer.status,
                answer.body.chars().take(500).collect::<String>()
            ),
        )
    }

    /// A 2xx whose body is not the protocol's reply (cut short, or another shape).
    fn unreadable(provider: &str, body: &str, usage: Usage) -> Failure {
        Failure {
            usage,
            ..Failure::new(
                "the model's provider sent an answer that could not be read",
                format!(
                    "{provider} answered 2xx with an unreadable body: {}",
                    body.chars().take(500).collect::<String>()
                ),
            )
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    OpenAiChat,
    AnthropicMessages,
}

impl Protocol {
    /// `ai_models.protocol`'s chat values.
    fn parse(name: &str) -> Option<Protocol> {
        match name {
            "openai_chat" => Some(Protocol::OpenAiChat),
            "anthropic_messages" => Some(Protocol::AnthropicMessages),
            _ => None,
        }
    }

    fn default_url(self, provider: &str) -> Option<&'static str> {
        match (self, provider) {
            (Protocol::OpenAiChat, "openai") => Some("https://api.openai.com"),
            (Protocol::AnthropicMessages, "anthropic") => Some("https://api.anthropic.com"),
            _ => None,
        }
    }
}

/// The provider's base URL: its var (`OPENAI_API_URL`, `OPENROUTER_API_URL`, ...; locally the
/// fake provider), else the official API of OpenAI and Anthropic. Paths (`/v1/...`) follow.
fn base_url(deps: &impl Deps, protocol: Protocol, provider: &str) -> Option<String> {
    let var = format!(
        "{}_API_URL",
        provider.to_ascii_uppercase().replace('-', "_")
    );
    deps.var(&var)
        .or_else(|| protocol.default_url(provider).map(str::to_string))
        .map(|url| url.trim_end_matches('/').to_string())
}

/// Asks the provider for the whole reply, once (a retry would be billed again by the
/// provider), and reports the key's outcome to the pool.
pub async fn complete(deps: &impl Deps, req: &ChatRequest) -> Result<Completion, Failure> {
    const UNAVAILABLE: &str = "the model's provider is not available right now";
    let protocol = Protocol::parse(&req.protocol)
        .ok_or_else(|| Failure::new(UNAVAILABLE, format!("unknown protocol {}", req.protocol)))?;
    let base = base_url(deps, protocol, &req.provider).ok_or_else(|| {
        Failure::new(
            UNAVAILABLE,
            format!("no API URL configured for {}", req.provider),
        )
    })?;
    let token = pool::take(deps, &req.provider)
        .await
        .map_err(|e| Failure::new(UNAVAILABLE, e.to_string()))?;
    let outbound: Outbound = match protocol {
        Protocol::OpenAiChat => openai::request(&base, &token.secret, req),
        Protocol::AnthropicMessages => anthropic::request(&base, &token.secret, req),
    };
    let sent = deps.send(outbound).await;
    let result = match &sent {
        Ok(answer) if (200..300).contains(&answer.status) => match protocol {
            Protocol::OpenAiChat => openai::read(&req.provider, &answer.body),
            Protocol::AnthropicMessages => anthropic::read(&req.provider, &answer.body),
        },
        Ok(answer) => Err(Failure::from_answer(&req.provider, answer)),
        Err(e) => Err(Failure::new(
            "the model's provider could not be reached",
            format!("{} unreachable: {e}", req.provider),
        )),
    };
    let outcome = match (&sent, &result) {
        (Ok(_), Ok(_)) => pool::Outcome::Ok,
        // A 2xx we cannot use is the provider misbehaving, not a success of the key.
        (Ok(a), Err(_)) if (200..300).contains(&a.status) => pool::Outcome::ServerError,
        (Ok(a), Err(_)) => pool::Outcome::from_status(a.status),
        (Err(_), _) => pool::Outcome::ServerError,
    };
    pool::report(deps, &token, outcome).await;
    result
}

/// From bytes, like every JSON the Worker reads: one input type links one copy of the parser.
fn parse(body: &str) -> Option<Value> {
    serde_json::from_slice(body.as_bytes()).ok()
}

/// A reported count: a non-negative integer, else none.
fn count(value: &Value) -> Option<i64> {
    value.as_i64().filter(|n| *n >= 0)
}
