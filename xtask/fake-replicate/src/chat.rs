//! The fake chat models behind `POST /v1/chat/completions` (openai.rs) and `POST /v1/messages`
//! (anthropic.rs): what a reply says, how many tokens it counts, how fast it comes and how it
//! ends, and the log `/_fake/chat/requests` shows. Both protocols share all of it so a test can
//! predict a reply without knowing which protocol carried it.
//!
//! - **Text.** `echo:`, then the first [`ECHO_WORDS`] words of the last user message's text
//!   (words in square brackets left out), then filler words: [`REPLY_WORDS`] words in all (`[words:N]`: N), cut
//!   to `max_tokens` words (finish "length" / "max_tokens").
//! - **Tokens.** One token is one whitespace-separated word. Output tokens: the words produced
//!   (for a tool call, the words of its arguments JSON); each is streamed as one chunk, the first
//!   as is, the others with a leading space, so the chunks concatenate to the text. Prompt tokens:
//!   the words of every text the request carries (see [`message_text`]).
//! - **Markers** in the last user message's text steer the outcome (see [`Markers`]).

use crate::{anthropic, openai, App};
use axum::routing::post;
use axum::Router;
use rand::Rng;
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Words in a reply without `[words:N]`.
pub const REPLY_WORDS: usize = 20;
/// Words of the user's message a reply echoes after `echo:`.
pub const ECHO_WORDS: usize = 6;
/// Bounds `[words:N]` so a typo cannot make the fake stream for hours.
pub const MAX_WORDS: usize = 100_000;
/// Content chunks a `[midfail]` or `[drop]` stream sends before it fails.
pub const CHUNKS_BEFORE_FAILURE: usize = 3;
/// Time between the chunks of a `[slowstream]` reply.
pub const SLOW_GAP: Duration = Duration::from_millis(200);
/// The `retry-after` of a `[throttle]`d request, in seconds.
pub const RETRY_AFTER_SECONDS: u64 = 1;

const FILLER: [&str; 19] = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
];

/// Both chat endpoints, merged into the API router.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(openai::PATH, post(openai::create))
        .route(anthropic::PATH, post(anthropic::create))
}

/// The same rule as the Replicate API (api.rs): any key works except one containing `invalid`,
/// which stands for a revoked key in genbase's pool.
pub fn key_is_valid(key: &str) -> bool {
    !key.is_empty() && !key.contains("invalid")
}

/// Outcome markers, looked for in the text of the last user message:
///
/// - `[midfail]`: the stream sends [`CHUNKS_BEFORE_FAILURE`] content chunks, then the
///   protocol's error, then ends (not streamed: a 5xx error answer);
/// - `[drop]`: the connection is cut after [`CHUNKS_BEFORE_FAILURE`] content chunks (not
///   streamed: partway through the JSON body);
/// - `[slowstream]`: [`SLOW_GAP`] between content chunks;
/// - `[tool]`: a call of the first tool the request offers (when it offers one and the
///   conversation ends with the user's turn rather than a tool result);
/// - `[nousage]`: no usage reported anywhere;
/// - `[throttle]`: 429 with `retry-after`, nothing generated;
/// - `[words:N]`: a text reply of N words (at most [`MAX_WORDS`]) instead of [`REPLY_WORDS`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Markers {
    pub midfail: bool,
    pub drop: bool,
    pub slowstream: bool,
    pub tool: bool,
    pub nousage: bool,
    pub throttle: bool,
    pub words: Option<usize>,
}

impl Markers {
    pub fn find(text: &str) -> Markers {
        Markers {
            midfail: text.contains("[midfail]"),
            drop: text.contains("[drop]"),
            slowstream: text.contains("[slowstream]"),
            tool: text.contains("[tool]"),
            nousage: text.contains("[nousage]"),
            throttle: text.contains("[throttle]"),
            words: words_marker(text),
        }
    }
}

fn words_marker(text: &str) -> Option<usize> {
    let rest = &text[text.find("[words:")? + "[words:".len()..];
    let n: usize = rest[..rest.find(']')?].trim().parse().ok()?;
    Some(n.min(MAX_WORDS))
}

/// How a reply's stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Complete,
    /// `[midfail]`: the protocol's error after a few chunks.
    Error,
    /// `[drop]`: the connection is cut after a few chunks.
    Drop,
}

impl Ending {
    /// How the chat log names it (`outcome`); a client that left first is `client_closed`.
    pub fn outcome(self) -> &'static str {
        match self {
            Ending::Complete => "complete",
            Ending::Error => "error",
            Ending::Drop => "dropped",
        }
    }
}

/// Why the model stopped, named by each protocol its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Stop,
    Length,
    ToolUse,
}

/// A tool call the reply makes; its arguments are the reply's pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
}

/// What a request says that shapes the reply; each protocol reads its own request into one.
#[derive(Debug, Default)]
pub struct Ask {
    /// The text of the last user message (text parts only, not tool results).
    pub last_user_text: String,
    /// The first tool offered, when the model may call one now: the conversation ends with the
    /// user's own turn (a model answers a tool result with text, or it would loop).
    pub tool: Option<String>,
    pub max_tokens: Option<u64>,
    pub prompt_tokens: u64,
}

#[derive(Debug)]
pub struct Reply {
    pub markers: Markers,
    /// `Some`: the pieces are this call's arguments JSON instead of text.
    pub tool: Option<ToolCall>,
    /// The chunks as streamed: one word each, the first without the leading space.
    pub pieces: Vec<String>,
    pub finish: Finish,
    pub prompt_tokens: u64,
}

impl Reply {
    /// The reply to `ask`; `tool_id` names a tool call in the protocol's id shape.
    pub fn plan(ask: &Ask, tool_id: impl FnOnce() -> String) -> Reply {
        let markers = Markers::find(&ask.last_user_text);
        let echoed: Vec<&str> = ask
            .last_user_text
            .split_whitespace()
            .filter(|w| !(w.starts_with('[') && w.ends_with(']')))
            .take(ECHO_WORDS)
            .collect();
        let (tool, words) = match (&ask.tool, markers.tool) {
            (Some(name), true) => {
                let query = Value::String(echoed.join(" "));
                let arguments = format!("{{\"query\": {query}}}");
                let words: Vec<String> = arguments.split(' ').map(str::to_string).collect();
                let call = ToolCall {
                    id: tool_id(),
                    name: name.clone(),
                };
                (Some(call), words)
            }
            _ => {
                let total = markers.words.unwrap_or(REPLY_WORDS);
                let words: Vec<String> = std::iter::once("echo:")
                    .chain(echoed.iter().copied())
                    .chain(FILLER.iter().copied().cycle())
                    .take(total)
                    .map(str::to_string)
                    .collect();
                (None, words)
            }
        };
        let limit = ask
            .max_tokens
            .map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
        let finish = if words.len() > limit {
            Finish::Length
        } else if tool.is_some() {
            Finish::ToolUse
        } else {
            Finish::Stop
        };
        let pieces = words
            .into_iter()
            .take(limit)
            .enumerate()
            .map(|(i, w)| if i == 0 { w } else { format!(" {w}") })
            .collect();
        Reply {
            markers,
            tool,
            pieces,
            finish,
            prompt_tokens: ask.prompt_tokens,
        }
    }

    /// The whole text (or arguments JSON) the chunks spell.
    pub fn text(&self) -> String {
        self.pieces.concat()
    }

    pub fn completion_tokens(&self) -> u64 {
        self.pieces.len() as u64
    }

    pub fn ending(&self) -> Ending {
        if self.markers.drop {
            Ending::Drop
        } else if self.markers.midfail {
            Ending::Error
        } else {
            Ending::Complete
        }
    }

    /// The pieces streamed before the stream ends (all of them unless it fails).
    pub fn pieces_sent(&self) -> &[String] {
        match self.ending() {
            Ending::Complete => &self.pieces,
            _ => &self.pieces[..self.pieces.len().min(CHUNKS_BEFORE_FAILURE)],
        }
    }

    pub fn usage_reported(&self) -> bool {
        !self.markers.nousage
    }

    /// Time between content chunks.
    pub fn gap(&self) -> Duration {
        if self.markers.slowstream {
            SLOW_GAP
        } else {
            Duration::ZERO
        }
    }

    /// How long the stream takes to its last content chunk (or its failure); a non-streamed
    /// answer takes as long, as a real model generates the same tokens either way.
    pub fn duration(&self, ttft: Duration) -> Duration {
        let gaps = self.pieces_sent().len().saturating_sub(1) as u32;
        ttft + self.gap() * gaps
    }
}

/// Whitespace-separated words: the fake's token count.
pub fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The text of a `content` (a string, or an array of parts/blocks): only `text` parts, as a
/// person typed them; markers and the echo come from this.
pub fn plain_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Everything a message (or Anthropic's `system`) carries that a model reads, for the prompt
/// token count: its `content` (a string, or the `text` of its parts/blocks, the content of
/// Anthropic `tool_result` blocks and the input JSON of `tool_use` ones) and OpenAI's
/// `tool_calls` arguments. Roles, names, ids and images count nothing.
pub fn message_text(message: &Value) -> String {
    let mut out = content_text(message.get("content").unwrap_or(&Value::Null));
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(args) = call["function"]["arguments"].as_str() {
            out.push(' ');
            out.push_str(args);
        }
    }
    out
}

/// See [`message_text`]; also reads Anthropic's `system` (a string or text blocks).
pub fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .map(|p| match p.get("type").and_then(Value::as_str) {
                Some("tool_result") => content_text(p.get("content").unwrap_or(&Value::Null)),
                Some("tool_use") => p.get("input").map(Value::to_string).unwrap_or_default(),
                _ => p
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// `prefix` + `len` random base62 characters, the shape of both providers' ids.
pub fn random_id(prefix: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    let tail: String = (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{tail}")
}

pub fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Every chat request received, for `GET /_fake/chat/requests`.
#[derive(Default)]
pub struct ChatLog {
    inner: Mutex<LogInner>,
}

#[derive(Default)]
struct LogInner {
    /// Not reset by [`ChatLog::clear`], so a stream still running across a reset cannot update
    /// a newer entry that reused its id.
    next_id: u64,
    entries: Vec<Value>,
}

impl ChatLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, LogInner> {
        // A panic elsewhere must not wedge a test double; the data stays usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Logs a request as it arrives: the fields tests check (model, messages, max_tokens, ...)
    /// picked out of `request` (`None` when the body was not JSON), the whole body, and the key.
    /// The answer's fields are filled in later through the [`Recorder`].
    pub fn open(
        self: &Arc<ChatLog>,
        protocol: &str,
        key: Option<&str>,
        request: Option<&Value>,
    ) -> Recorder {
        let field = |name: &str| request.and_then(|r| r.get(name)).cloned();
        let max_tokens = field("max_completion_tokens").or_else(|| field("max_tokens"));
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.entries.push(json!({
            "id": id,
            "protocol": protocol,
            "key": key,
            "model": field("model"),
            "messages": field("messages"),
            "system": field("system"),
            "max_tokens": max_tokens,
            "temperature": field("temperature"),
            "stream": field("stream"),
            "tools": field("tools"),
            "request": request,
            "status": null,
            "usage": null,
            "outcome": null,
            "at": crate::ids::rfc3339(SystemTime::now()),
        }));
        Recorder {
            log: self.clone(),
            id,
        }
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut Map<String, Value>)) {
        let mut inner = self.lock();
        if let Some(Value::Object(entry)) = inner.entries.iter_mut().find(|e| e["id"] == id) {
            f(entry);
        }
    }

    pub fn list(&self) -> Vec<Value> {
        self.lock().entries.clone()
    }

    pub fn clear(&self) {
        self.lock().entries.clear();
    }
}

/// Fills in one log entry as its answer goes out.
pub struct Recorder {
    log: Arc<ChatLog>,
    id: u64,
}

impl Recorder {
    /// The answer's status and, when a reply was generated, the tokens the fake counted (set
    /// even when `[nousage]` hides them from the client).
    pub fn answered(&self, status: u16, reply: Option<&Reply>) {
        let usage = reply.map(|r| {
            json!({
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.pieces_sent().len(),
            })
        });
        self.log.update(self.id, |e| {
            e.insert("status".into(), json!(status));
            e.insert("usage".into(), usage.unwrap_or(Value::Null));
        });
    }

    /// How the answer's body ended: `complete`, `error` (`[midfail]`), `dropped` (`[drop]`) or
    /// `client_closed` (the client went away first).
    pub fn ended(&self, outcome: &str) {
        self.log.update(self.id, |e| {
            e.insert("outcome".into(), json!(outcome));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(text: &str, max_tokens: Option<u64>) -> Ask {
        Ask {
            last_user_text: text.into(),
            tool: Some("lookup".into()),
            max_tokens,
            prompt_tokens: 7,
        }
    }

    #[test]
    fn a_reply_echoes_then_fills_to_its_length() {
        let r = Reply::plan(
            &ask("Tell me  about [slowstream] the sea today please now", None),
            String::new,
        );
        assert_eq!(r.pieces.len(), REPLY_WORDS);
        assert!(
            r.text()
                .starts_with("echo: Tell me about the sea today lorem ipsum"),
            "{}",
            r.text()
        );
        assert_eq!(r.pieces[1], " Tell");
        assert_eq!(words(&r.text()), r.completion_tokens());
        assert_eq!(
            (r.finish, r.gap(), r.tool.is_none()),
            (Finish::Stop, SLOW_GAP, true)
        );
        assert_eq!(r.pieces_sent().len(), REPLY_WORDS);
    }

    #[test]
    fn max_tokens_and_words_marker_set_the_length() {
        let r = Reply::plan(&ask("hi", Some(5)), String::new);
        assert_eq!(
            (r.text().as_str(), r.finish),
            ("echo: hi lorem ipsum dolor", Finish::Length)
        );
        let r = Reply::plan(&ask("hi [words:3]", None), String::new);
        assert_eq!(
            (r.text().as_str(), r.finish),
            ("echo: hi lorem", Finish::Stop)
        );
        let r = Reply::plan(&ask("hi [words:3]", Some(3)), String::new);
        assert_eq!(r.finish, Finish::Stop, "exactly max_tokens is not cut");
        let r = Reply::plan(&ask("[words:999999999]", Some(2)), String::new);
        assert_eq!(r.pieces.len(), 2);
        assert_eq!(Markers::find("[words:999999999]").words, Some(MAX_WORDS));
        assert_eq!(Markers::find("[words:x]").words, None);
    }

    #[test]
    fn failing_replies_stop_after_three_chunks() {
        let r = Reply::plan(&ask("[midfail] go", None), String::new);
        assert_eq!((r.ending(), r.pieces_sent().len()), (Ending::Error, 3));
        let r = Reply::plan(&ask("[drop] [midfail]", Some(2)), String::new);
        assert_eq!((r.ending(), r.pieces_sent().len()), (Ending::Drop, 2));
        assert_eq!(
            r.duration(Duration::from_millis(5)),
            Duration::from_millis(5)
        );
        let r = Reply::plan(&ask("[slowstream]", Some(4)), String::new);
        assert_eq!(r.duration(Duration::ZERO), SLOW_GAP * 3);
    }

    #[test]
    fn tool_marker_calls_the_first_tool_with_json_arguments() {
        let r = Reply::plan(&ask("weather in \"Paris\" [tool]", None), || {
            "call_1".into()
        });
        let call = r.tool.clone().unwrap();
        assert_eq!((call.id.as_str(), call.name.as_str()), ("call_1", "lookup"));
        let args: Value = serde_json::from_str(&r.text()).unwrap();
        assert_eq!(args, json!({"query": "weather in \"Paris\""}));
        assert_eq!(r.finish, Finish::ToolUse);
        assert_eq!(words(&r.text()), r.completion_tokens());
        // No tool on offer (or a tool result to answer): text.
        let mut a = ask("[tool] hi", None);
        a.tool = None;
        assert!(Reply::plan(&a, String::new).tool.is_none());
    }

    #[test]
    fn prompt_text_counts_every_part_a_model_reads() {
        let m = json!({"role": "user", "content": [
            {"type": "text", "text": "two words"},
            {"type": "image_url", "image_url": {"url": "http://x/a b.png"}},
            {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "three more words"}]},
            {"type": "tool_use", "id": "t", "name": "n", "input": {"q": "a b"}},
        ]});
        assert_eq!(words(&message_text(&m)), 2 + 3 + 2);
        let call = json!({"role": "assistant", "content": null,
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{\"q\": \"x\"}"}}]});
        assert_eq!(words(&message_text(&call)), 2);
        assert_eq!(plain_text(&m["content"]), "two words");
        assert_eq!(content_text(&json!("a b c")), "a b c");
    }

    #[test]
    fn keys_follow_the_replicate_rule() {
        assert!(key_is_valid("sk-test"));
        assert!(!key_is_valid("sk-invalid-1"));
        assert!(!key_is_valid(""));
    }
}
