//! The chat streaming rows: a streamed reply through `POST /v1/conversations/:id/messages`
//! beside the same prompt sent straight to the fake provider's `/v1/chat/completions`, the
//! request the function itself makes. Two figures, each interleaved with its baseline:
//!
//! - time to first token: from sending the request to the first event carrying text (a
//!   `text-delta` of the AI SDK's UI message stream; a chunk with `delta.content` directly);
//! - relay throughput: words per second between the first and the last text of a long reply.
//!   The fake sends its chunks with no gap between them, so this is how fast text passes
//!   through, not a model's pace.
//!
//! Every reply is read to its end (`finish`, then `[DONE]`): the function has stored and
//! charged it by then, so nothing of one sample runs in the next one's window. Each sample
//! gets a conversation of its own, made beforehand with a title (no automatic title is due),
//! so every reply has the same one-message context however many came before.

use super::calls::agent;
use super::latency::{calls, gauged, Gauge, Measured};
use super::Row;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};
use xtask::cpu::Accounts;

/// A chat model the migrations seed, spoken to in OpenAI's protocol; its pool is `PROVIDER`'s.
const MODEL: &str = "gpt-4o-mini";
const PROVIDER: &str = "openai";
/// The pool key the bench adds, which the direct calls use too.
const POOL_KEY: &str = "sk-bench-chat";
/// `begin_reply`'s `max_tokens` for a conversation that sets none; the direct request asks the
/// same, under the name OpenAI reads.
const MAX_TOKENS: u32 = 4096;
/// A reply of a few words: the time to its first one is the figure.
const SHORT_PROMPT: &str = "bench time to first token [words:5]";
const SHORT_WORDS: usize = 5;
/// A long reply, well under `MAX_TOKENS`, so it is never cut.
const LONG_WORDS: usize = 2000;
const TTFT_SAMPLES: usize = 500;
/// Fewer: each long sample streams 2,000 chunks.
const STREAM_SAMPLES: usize = 150;

/// Where the bench reaches the function and the fake provider, and as whom.
pub struct Setup<'a> {
    pub router: &'a str,
    pub provider: &'a str,
    /// A user token of the bench user, whose credits pay for the replies (a reply holds about
    /// 4 credits and is charged 2 at most).
    pub token: &'a str,
}

pub struct ChatMeasured {
    ttft_via: Measured,
    ttft_direct: Measured,
    stream_via: Measured,
    stream_direct: Measured,
}

/// Measures both pairs: the time-to-first-token pair, then the long-reply pair.
pub fn measure(
    setup: &Setup,
    db: &mut postgres::Client,
    accounts: &Accounts,
) -> Result<ChatMeasured> {
    db.execute(
        "insert into public.provider_tokens (provider, label, token)
         select $1, 'bench', $2
         where not exists (select 1 from public.provider_tokens where provider = $1 and token = $2)",
        &[&PROVIDER, &POOL_KEY],
    )?;
    let short = Prompt {
        content: SHORT_PROMPT,
        words: SHORT_WORDS,
    };
    let long_prompt = format!("bench relay throughput [words:{LONG_WORDS}]");
    let long = Prompt {
        content: &long_prompt,
        words: LONG_WORDS,
    };

    eprintln!("bench: chat time to first token, {TTFT_SAMPLES} replies each way, interleaved");
    let [ttft_via, ttft_direct] = pair(setup, &short, TTFT_SAMPLES, accounts, |s| ms(s.first))?;
    eprintln!(
        "bench: chat relay of {LONG_WORDS}-word replies, {STREAM_SAMPLES} each way, interleaved"
    );
    let [stream_via, stream_direct] = pair(setup, &long, STREAM_SAMPLES, accounts, |s| {
        ms(s.last - s.first)
    })?;
    let unfinished: i64 = db
        .query_one(
            "select count(*) from public.messages where role = 'assistant' and status <> 'complete'",
            &[],
        )?
        .get(0);
    if unfinished > 0 {
        bail!("{unfinished} chat replies were not stored complete once their streams ended");
    }
    Ok(ChatMeasured {
        ttft_via,
        ttft_direct,
        stream_via,
        stream_direct,
    })
}

/// What each request asks, and the reply's length in words, checked on every sample.
struct Prompt<'a> {
    content: &'a str,
    words: usize,
}

/// The prompt through the function and directly, interleaved; `figure` reads each sample.
fn pair(
    setup: &Setup,
    prompt: &Prompt,
    samples: usize,
    accounts: &Accounts,
    figure: fn(&Streamed) -> f64,
) -> Result<[Measured; 2]> {
    let (via_agent, direct_agent) = (agent(), agent());
    let conversations = (0..calls(samples))
        .map(|_| new_conversation(setup, &via_agent))
        .collect::<Result<Vec<_>>>()?;
    let mut conversations = conversations.into_iter();
    let checked = |s: Streamed| -> Result<f64> {
        let words = s.text.split_whitespace().count();
        if words != prompt.words {
            bail!(
                "a reply of {words} words, not {}: {:.80}",
                prompt.words,
                s.text
            );
        }
        Ok(figure(&s))
    };
    let mut gauges = vec![
        Gauge {
            name: "chat via function",
            read: Box::new(|| {
                let id = conversations.next().context("out of bench conversations")?;
                checked(via_function(setup, &via_agent, &id, prompt.content)?)
            }),
        },
        Gauge {
            name: "chat direct",
            read: Box::new(|| checked(direct(setup, &direct_agent, prompt.content)?)),
        },
    ];
    let measured = gauged(&mut gauges, samples, accounts)?;
    <[Measured; 2]>::try_from(measured).map_err(|_| anyhow::anyhow!("gauge count"))
}

fn new_conversation(setup: &Setup, agent: &ureq::Agent) -> Result<String> {
    let created = agent
        .post(&format!("{}/v1/conversations", setup.router))
        .set("authorization", &format!("Bearer {}", setup.token))
        .send_json(json!({"model": MODEL, "title": "bench"}))
        .map_err(failed)?
        .into_json::<Value>()?;
    match created["id"].as_str() {
        Some(id) => Ok(id.to_string()),
        None => bail!("POST /v1/conversations answered no id: {created}"),
    }
}

fn via_function(
    setup: &Setup,
    agent: &ureq::Agent,
    conversation: &str,
    content: &str,
) -> Result<Streamed> {
    let sent = Instant::now();
    let answer = agent
        .post(&format!(
            "{}/v1/conversations/{conversation}/messages",
            setup.router
        ))
        .set("authorization", &format!("Bearer {}", setup.token))
        .send_json(json!({"content": content, "stream": true}))
        .map_err(failed)?;
    read_answer(Protocol::UiMessages, answer, sent)
}

/// What the function sends the provider for a one-message conversation.
fn direct(setup: &Setup, agent: &ureq::Agent, content: &str) -> Result<Streamed> {
    let sent = Instant::now();
    let answer = agent
        .post(&format!("{}/v1/chat/completions", setup.provider))
        .set("authorization", &format!("Bearer {POOL_KEY}"))
        .send_json(json!({
            "model": MODEL,
            "messages": [{"role": "user", "content": content}],
            "max_completion_tokens": MAX_TOKENS,
            "stream": true,
            "stream_options": {"include_usage": true},
        }))
        .map_err(failed)?;
    read_answer(Protocol::OpenAiChat, answer, sent)
}

fn failed(e: ureq::Error) -> anyhow::Error {
    match e {
        ureq::Error::Status(status, r) => {
            let url = r.get_url().to_string();
            anyhow::anyhow!(
                "{url} answered {status}: {}",
                r.into_string().unwrap_or_default()
            )
        }
        e => anyhow::anyhow!("request failed: {e}"),
    }
}

fn read_answer(protocol: Protocol, answer: ureq::Response, sent: Instant) -> Result<Streamed> {
    let content_type = answer.content_type().to_string();
    if content_type != "text/event-stream" {
        bail!("{} answered {content_type}, not a stream", answer.get_url());
    }
    read_stream(protocol, BufReader::new(answer.into_reader()), sent)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The two stream protocols the bench reads.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    /// The AI SDK's UI message stream, as the function answers.
    UiMessages,
    /// OpenAI's chat completion chunks, as the provider answers.
    OpenAiChat,
}

/// What one SSE line says.
#[derive(Debug, PartialEq)]
enum Event {
    /// Text of the reply (never empty).
    Text(String),
    /// The UI message stream's `finish` part: the reply is stored and charged.
    Finish,
    /// `data: [DONE]`, the last event of both protocols.
    Done,
    /// Anything else: other parts, comments, blank lines between events.
    Other,
}

/// Reads one line of an SSE body; an error part fails the sample.
fn event(protocol: Protocol, line: &str) -> Result<Event> {
    let Some(data) = line.strip_prefix("data:") else {
        return Ok(Event::Other);
    };
    let data = data.trim();
    if data == "[DONE]" {
        return Ok(Event::Done);
    }
    let part: Value = serde_json::from_str(data).with_context(|| format!("an event: {data}"))?;
    let text = match protocol {
        Protocol::UiMessages => match part["type"].as_str() {
            Some("text-delta") => part["delta"].as_str(),
            Some("finish") => return Ok(Event::Finish),
            Some("error") => bail!("the stream failed: {}", part["errorText"]),
            _ => None,
        },
        Protocol::OpenAiChat => {
            if !part["error"].is_null() {
                bail!("the provider failed: {}", part["error"]);
            }
            part["choices"][0]["delta"]["content"].as_str()
        }
    };
    Ok(match text {
        Some(t) if !t.is_empty() => Event::Text(t.to_string()),
        _ => Event::Other,
    })
}

/// A stream as its client saw it: when the first and the last text arrived, counted from the
/// request's sending, and the text.
#[derive(Debug)]
struct Streamed {
    first: Duration,
    last: Duration,
    text: String,
}

/// Reads `body` to its end; a stream that ends before `[DONE]` (or, from the function,
/// without a `finish`), or carries no text, fails the sample.
fn read_stream(protocol: Protocol, mut body: impl BufRead, sent: Instant) -> Result<Streamed> {
    let (mut first, mut last, mut text) = (None, Duration::ZERO, String::new());
    let mut finished = matches!(protocol, Protocol::OpenAiChat);
    let mut line = String::new();
    loop {
        line.clear();
        if body.read_line(&mut line)? == 0 {
            bail!("the stream ended before [DONE] after {:?}", text);
        }
        match event(protocol, line.trim_end())? {
            Event::Text(t) => {
                last = sent.elapsed();
                first.get_or_insert(last);
                text.push_str(&t);
            }
            Event::Finish => finished = true,
            Event::Done => break,
            Event::Other => {}
        }
    }
    // To the end of the body, so the connection goes back to the pool for the next sample.
    std::io::copy(&mut body, &mut std::io::sink())?;
    if !finished {
        bail!("the stream ended without a finish part");
    }
    match first {
        Some(first) => Ok(Streamed { first, last, text }),
        None => bail!("the stream carried no text"),
    }
}

/// Words per second over `ms` from the first word to the last of `words`: the first one
/// starts the clock, so `words - 1` arrive in that time.
fn words_per_second(words: usize, ms: f64) -> f64 {
    words.saturating_sub(1) as f64 * 1000.0 / ms
}

impl ChatMeasured {
    /// The rows; `floor` is the router's own p50, which the overhead is also shown without.
    pub fn rows(&self, floor: f64) -> Vec<Row> {
        let overhead = self.ttft_via.p50() - self.ttft_direct.p50();
        let rate = |m: &Measured, q: f64| words_per_second(LONG_WORDS, m.quantile(q));
        let rates = |m: &Measured| format!("{:.0} / {:.0} words/s", rate(m, 0.50), rate(m, 0.99));
        vec![
            Row::new(
                format!("chat time to first token, {SHORT_WORDS}-word reply (p50 / p99)"),
                format!(
                    "{:.2} / {:.2} ms",
                    self.ttft_via.p50(),
                    self.ttft_via.p99()
                ),
                format!(
                    "fake provider direct: {:.2} / {:.2} ms",
                    self.ttft_direct.p50(),
                    self.ttft_direct.p99()
                ),
                format!("{:.1}x", self.ttft_via.p50() / self.ttft_direct.p50()),
            )
            .cpu(&self.ttft_via.cpu),
            Row::new(
                "  TTFT overhead (function - direct, p50)",
                format!("{overhead:.2} ms ({:.2} ms less the floor)", overhead - floor),
                "target: a few ms".into(),
                "-".into(),
            ),
            Row::new(
                format!(
                    "chat relay throughput, {LONG_WORDS}-word reply at the fake's full speed (at p50 / p99 duration)"
                ),
                rates(&self.stream_via),
                format!("fake provider direct: {}", rates(&self.stream_direct)),
                format!(
                    "{:.2}x",
                    self.stream_direct.p50() / self.stream_via.p50()
                ),
            )
            .cpu(&self.stream_via.cpu),
        ]
    }

    pub fn json(&self) -> Value {
        json!({
            "model": MODEL,
            "ttft_function": self.ttft_via.json(),
            "ttft_direct": self.ttft_direct.json(),
            "ttft_overhead_p50_ms": self.ttft_via.p50() - self.ttft_direct.p50(),
            "relay_words": LONG_WORDS,
            "relay_function": self.stream_via.json(),
            "relay_direct": self.stream_direct.json(),
            "relay_function_words_per_s_p50": words_per_second(LONG_WORDS, self.stream_via.p50()),
            "relay_direct_words_per_s_p50": words_per_second(LONG_WORDS, self.stream_direct.p50()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(protocol: Protocol, body: &str) -> Result<Streamed> {
        read_stream(protocol, body.as_bytes(), Instant::now())
    }

    #[test]
    fn reads_the_ui_message_stream_to_its_end() {
        let body = "data: {\"type\":\"start\",\"messageId\":\"m1\"}\n\n\
                    data: {\"type\":\"start-step\"}\n\n\
                    data: {\"type\":\"text-start\",\"id\":\"t\"}\n\n\
                    data: {\"type\":\"text-delta\",\"id\":\"t\",\"delta\":\"\"}\n\n\
                    data: {\"type\":\"text-delta\",\"id\":\"t\",\"delta\":\"echo:\"}\n\n\
                    data: {\"type\":\"text-delta\",\"id\":\"t\",\"delta\":\" bench lorem\"}\n\n\
                    data: {\"type\":\"text-end\",\"id\":\"t\"}\n\n\
                    data: {\"type\":\"finish-step\"}\n\n\
                    data: {\"type\":\"finish\",\"messageMetadata\":{\"credits\":1}}\n\n\
                    data: [DONE]\n\n";
        let s = read(Protocol::UiMessages, body).unwrap();
        assert_eq!(s.text, "echo: bench lorem");
        assert!(s.first <= s.last);
    }

    #[test]
    fn a_ui_stream_without_finish_or_done_or_text_fails() {
        let delta = "data: {\"type\":\"text-delta\",\"id\":\"t\",\"delta\":\"hi\"}\n\n";
        let finish = "data: {\"type\":\"finish\"}\n\n";
        let err = |body: &str| read(Protocol::UiMessages, body).unwrap_err().to_string();
        assert!(err(&format!("{delta}data: [DONE]\n\n")).contains("finish"));
        assert!(err(&format!("{delta}{finish}")).contains("[DONE]"));
        assert!(err(&format!("{finish}data: [DONE]\n\n")).contains("no text"));
        let error = "data: {\"type\":\"error\",\"errorText\":\"provider down\"}\n\n";
        assert!(err(&format!("{delta}{error}")).contains("provider down"));
    }

    #[test]
    fn reads_openai_chunks_skipping_the_empty_role_chunk_and_usage() {
        let chunk = |delta: &str| {
            format!(
                "data: {{\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":null}}],\"usage\":null}}\n\n"
            )
        };
        let body = [
            chunk(r#"{"role":"assistant","content":"","refusal":null}"#),
            chunk(r#"{"content":"echo:"}"#),
            chunk(r#"{"content":" bench"}"#),
            chunk("{}"),
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3}}\n\n".into(),
            "data: [DONE]\n\n".into(),
        ]
        .concat();
        assert_eq!(
            event(
                Protocol::OpenAiChat,
                chunk(r#"{"role":"assistant","content":""}"#).trim_end()
            )
            .unwrap(),
            Event::Other
        );
        assert_eq!(
            read(Protocol::OpenAiChat, &body).unwrap().text,
            "echo: bench"
        );
        let failed = format!(
            "{}data: {{\"error\":{{\"message\":\"boom\"}}}}\n\n",
            chunk(r#"{"content":"x"}"#)
        );
        assert!(read(Protocol::OpenAiChat, &failed)
            .unwrap_err()
            .to_string()
            .contains("boom"));
    }

    #[test]
    fn lines_that_are_not_data_are_ignored() {
        for line in ["", ": keep-alive", "event: message", "id: 7"] {
            assert_eq!(event(Protocol::UiMessages, line).unwrap(), Event::Other);
        }
        assert_eq!(
            event(Protocol::UiMessages, "data:[DONE]").unwrap(),
            Event::Done
        );
        assert!(event(Protocol::UiMessages, "data: {not json").is_err());
    }

    #[test]
    fn words_per_second_counts_the_words_after_the_first() {
        assert_eq!(words_per_second(2001, 1000.0), 2000.0);
        assert_eq!(words_per_second(11, 5.0), 2000.0);
    }
}
