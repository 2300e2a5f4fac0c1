//! One chat completion at the model's provider, streamed: the request SQL built
//! (`api.begin_reply`'s `request`), sent as it is in the protocol SQL named, with a key from
//! the token pool; then the reply's pieces (text, the tokens the provider reported, its end)
//! as they arrive, or a failure whose message is ours (the provider's own words go to the
//! logs only).

mod anthropic;
mod openai;
mod pool;
mod sse;

use genbase_shared::deps::{BodyReader, Deps, Outbound};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::VecDeque;

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

impl Usage {
    /// Counts reported later replace earlier ones; a count not reported keeps the earlier.
    pub fn update(&mut self, later: Usage) {
        self.tokens_in = later.tokens_in.or(self.tokens_in);
        self.tokens_out = later.tokens_out.or(self.tokens_out);
    }
}

/// What a provider's stream says, event by event (the protocol modules' reading).
#[derive(Debug, PartialEq)]
enum Piece {
    Text(String),
    Usage(Usage),
    /// The protocol's own end: the reply is whole.
    End,
    /// The provider reported a failure inside the stream (its words, for the logs).
    Failed(String),
    /// An event that is not the protocol's JSON.
    Unreadable(String),
}

#[derive(Debug, PartialEq)]
pub struct Failure {
    /// What the user reads on the failed message.
    pub message: &'static str,
    /// What we log: the provider's status and words.
    pub cause: String,
}

impl Failure {
    pub fn new(message: &'static str, cause: impl Into<String>) -> Failure {
        Failure {
            message,
            cause: cause.into(),
        }
    }

    /// A provider's non-2xx answer, in words that are ours.
    fn from_status(provider: &str, status: u16, body: &str) -> Failure {
        let message = match status {
            429 => "the model's provider is busy; try again in a moment",
            401 | 403 => "the model's provider is not available right now",
            400..=499 => "the model's provider refused the request",
            _ => "the model's provider failed to answer",
        };
        Failure::new(
            message,
            format!("{provider} answered {status}: {}", clip(body)),
        )
    }
}

fn clip(text: &str) -> String {
    text.chars().take(500).collect()
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
}

/// A reply arriving from the provider.
pub struct Streaming<R> {
    provider: String,
    protocol: Protocol,
    token: genbase_shared::token_pool::Token,
    body: R,
    decoder: sse::Decoder,
    pending: VecDeque<Piece>,
    /// Set once the stream has said its last: the protocol's end, a failure, or the
    /// connection's end.
    over: bool,
    /// How the stream ended, for the key's record.
    outcome: pool::Outcome,
}

const UNAVAILABLE: &str = "the model's provider is not available right now";
/// What the user reads when a stream breaks after it began.
pub const BROKE: &str = "the model's provider stopped answering mid-reply";

/// Opens the stream, once (a retry would be billed again by the provider). A refusal
/// (non-2xx) is read whole and reported to the pool here; a stream's own end is reported by
/// [`Streaming::close`].
pub async fn open<D: Deps>(deps: &D, req: &ChatRequest) -> Result<Streaming<D::Reader>, Failure> {
    let protocol = Protocol::parse(&req.protocol)
        .ok_or_else(|| Failure::new(UNAVAILABLE, format!("unknown protocol {}", req.protocol)))?;
    let base = genbase_shared::token_pool::api_url(deps, &req.provider).ok_or_else(|| {
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
    let opened = match deps.open(outbound).await {
        Ok(opened) => opened,
        Err(e) => {
            pool::report(deps, &token, pool::Outcome::ServerError).await;
            return Err(Failure::new(
                "the model's provider could not be reached",
                format!("{} unreachable: {e}", req.provider),
            ));
        }
    };
    if !(200..300).contains(&opened.status) {
        let body = read_error_body(opened.body).await;
        pool::report(deps, &token, pool::Outcome::from_status(opened.status)).await;
        return Err(Failure::from_status(&req.provider, opened.status, &body));
    }
    Ok(Streaming {
        provider: req.provider.clone(),
        protocol,
        token,
        body: opened.body,
        decoder: sse::Decoder::default(),
        pending: VecDeque::new(),
        over: false,
        outcome: pool::Outcome::Ok,
    })
}

/// The first few KiB of a refusal, for the logs; the rest is left unread.
async fn read_error_body(mut body: impl BodyReader) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < 4096 {
        match body.next_chunk().await {
            Some(Ok(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.cancel().await;
    String::from_utf8_lossy(&bytes).into_owned()
}

/// What the stream says next.
#[derive(Debug, PartialEq)]
pub enum Step {
    Text(String),
    Usage(Usage),
    /// The reply is whole. Nothing follows.
    End,
    /// The stream broke or the provider reported a failure. Nothing follows.
    Failed(Failure),
}

impl<R: BodyReader> Streaming<R> {
    /// The next step: text and usage as they come, then [`Step::End`] or [`Step::Failed`].
    /// Asked again after those, it answers `End`.
    pub async fn next(&mut self) -> Step {
        loop {
            if let Some(piece) = self.pending.pop_front() {
                return self.judge(piece);
            }
            if self.over {
                return Step::End;
            }
            let chunk = match self.body.next_chunk().await {
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => return self.broke(format!("connection broke: {e}")),
                None => return self.broke("the stream ended before its end event".into()),
            };
            let events = match self.decoder.push(&chunk) {
                Ok(events) => events,
                Err(e) => return self.broke(e),
            };
            for event in events {
                self.pending.extend(match self.protocol {
                    Protocol::OpenAiChat => openai::read_event(&event.data),
                    Protocol::AnthropicMessages => anthropic::read_event(&event.data),
                });
            }
        }
    }

    /// Whether more is already here: the rest of the last chunk's events.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Text and usage pass; the end and failures close the stream.
    fn judge(&mut self, piece: Piece) -> Step {
        match piece {
            Piece::Text(text) => Step::Text(text),
            Piece::Usage(usage) => Step::Usage(usage),
            Piece::Failed(cause) => self.broke(format!("reported a failure: {cause}")),
            Piece::Unreadable(data) => {
                self.broke(format!("sent an unreadable event: {}", clip(&data)))
            }
            Piece::End => {
                self.over = true;
                self.pending.clear();
                Step::End
            }
        }
    }

    fn broke(&mut self, cause: String) -> Step {
        self.over = true;
        self.pending.clear();
        self.outcome = pool::Outcome::ServerError;
        Step::Failed(Failure::new(BROKE, format!("{} {cause}", self.provider)))
    }

    /// Reports the key's outcome, and hangs up on a stream that has not ended (a stop, a
    /// client gone), so the provider stops producing.
    pub async fn close(self, deps: &impl Deps) {
        if !self.over {
            self.body.cancel().await;
        }
        pool::report(deps, &self.token, self.outcome).await;
    }
}
/// From bytes, like every JSON the Worker reads: one input type links one copy of the parser.
fn parse(body: &str) -> Option<Value> {
    serde_json::from_slice(body.as_bytes()).ok()
}

/// A reported count: a non-negative integer, else none.
fn count(value: &Value) -> Option<i64> {
    value.as_i64().filter(|n| *n >= 0)
}
