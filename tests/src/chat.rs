//! What the chat end-to-end tests share: pool keys for the fake's chat providers, a
//! conversation, a streamed reply read part by part (the AI SDK's UI message stream), the
//! stored reply, and list price.

use crate::{Stack, User};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

/// The chat models the migrations seed, one per protocol, with their provider.
pub const MODELS: [(&str, &str); 2] =
    [("gpt-4o-mini", "openai"), ("claude-3-5-haiku", "anthropic")];

/// The pool key a test file uses for `provider`.
pub fn secret(label: &str, provider: &str) -> String {
    format!("sk-e2e-{}-{provider}", label.replace(' ', "-"))
}

/// One available key per chat provider under `label`, every earlier failure's cooldown
/// forgotten (a provider failure rests the key it used).
pub fn keys_ready(stack: &Stack, label: &str) {
    let mut db = stack.db();
    for (_, provider) in MODELS {
        db.execute(
            "insert into public.provider_tokens (provider, label, token)
             select $1, $2, $3
             where not exists (select 1 from public.provider_tokens where provider = $1 and label = $2)",
            &[&provider, &label, &secret(label, provider)],
        )
        .expect("insert key");
    }
    db.execute(
        "update public.provider_tokens
         set cooldown_until = null, consecutive_errors = 0, cooldown_level = 0
         where label = $1",
        &[&label],
    )
    .expect("rest no more");
}

/// A new conversation of `user` with `model`, titled so that no automatic title (charged
/// like a reply) blurs what a test counts.
pub fn conversation(stack: &Stack, user: &User, model: &str) -> String {
    untitled_if(stack, user, model, false)
}

/// A new conversation of `user` with `model`, with no title when `untitled`.
pub fn untitled_if(stack: &Stack, user: &User, model: &str, untitled: bool) -> String {
    let title = (!untitled).then_some("a test conversation");
    let r = stack.rpc_client().call(
        "create_conversation",
        &json!({"p_model": model, "p_title": title}),
        Some(&user.token),
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.body["id"].as_str().expect("conversation id").to_string()
}

/// `(balance, held)` of `user`.
pub fn money(stack: &Stack, user: &User) -> (i64, i64) {
    let c = stack.credits(user);
    (c["balance"].as_i64().unwrap(), c["held"].as_i64().unwrap())
}

/// The fake provider's record of the chat request whose last message was `content`.
pub fn provider_request(stack: &Stack, content: &str) -> Option<Value> {
    let r = crate::send(
        &format!("{}/_fake/chat/requests", stack.provider_url),
        "GET",
        None,
        None,
        &[],
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.body
        .as_array()
        .expect("chat request list")
        .iter()
        .find(|q| {
            q["messages"]
                .as_array()
                .and_then(|m| m.last())
                .is_some_and(|m| m["content"] == content)
        })
        .cloned()
}

/// A stored message: `{status, content, tokens_in, tokens_out, credits, parent_id,
/// held (its hold still open)}`.
pub fn stored(stack: &Stack, id: &str) -> Value {
    let row = stack
        .db()
        .query_one(
            "select jsonb_build_object('status', m.status, 'content', m.content,
                'tokens_in', m.tokens_in, 'tokens_out', m.tokens_out, 'credits', m.credits,
                'parent_id', m.parent_id, 'error', m.error,
                'held', exists (select 1 from public.credit_holds h
                                where h.id = m.hold_id and h.status = 'open'))
             from public.messages m where m.id = $1::text::uuid",
            &[&id],
        )
        .expect("the message is stored");
    row.get(0)
}

/// Waits until the reply `id` has ended (the function finishes it after the client left).
pub fn ended(stack: &Stack, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = stored(stack, id);
        if m["status"] != "streaming" {
            return m;
        }
        assert!(Instant::now() < deadline, "reply {id} still streaming: {m}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The credits `tokens_in` and `tokens_out` of `model` cost at list price.
pub fn list_price(stack: &Stack, model: &str, tokens_in: i64, tokens_out: i64) -> i64 {
    stack
        .db()
        .query_one(
            "select ceil(($2::int8 * credits_per_unit
                          + $3::int8 * coalesce(credits_per_output_unit, credits_per_unit)) / 1000)::int8
             from public.pricing
             where model = $1 and active_from <= now() and (active_to is null or active_to > now())",
            &[&model, &tokens_in, &tokens_out],
        )
        .expect("price")
        .get(0)
}

/// A streamed reply being read, part by part, as a client reads it. Dropping it hangs up.
pub struct PartReader {
    reader: BufReader<Box<dyn Read + Send + Sync>>,
}

impl PartReader {
    /// `POST /v1/conversations/{conversation}/messages` with `body`; the answer must be a
    /// UI message stream.
    pub fn open(stack: &Stack, user: &User, conversation: &str, body: &Value) -> PartReader {
        let url = format!("{}/v1/conversations/{conversation}/messages", stack.api_url);
        let resp = ureq::post(&url)
            .timeout(Duration::from_secs(60))
            .set("authorization", &format!("Bearer {}", user.token))
            .send_json(body.clone())
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let headers: Vec<(String, String)> = resp
            .headers_names()
            .into_iter()
            .filter_map(|n| Some((n.to_ascii_lowercase(), resp.header(&n)?.to_string())))
            .collect();
        let answer = crate::openapi::Answer {
            status: resp.status(),
            headers: &headers,
            body: None,
        };
        let path = url.strip_prefix(&stack.api_url).unwrap_or(&url);
        crate::openapi::assert_documented("POST", path, &answer);
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.header("content-type"), Some("text/event-stream"));
        assert_eq!(resp.header("x-vercel-ai-ui-message-stream"), Some("v1"));
        PartReader {
            reader: BufReader::new(resp.into_reader()),
        }
    }

    /// The next part's JSON (`"[DONE]"` for the end marker); `None` when the body ended.
    pub fn next_part(&mut self) -> Option<Value> {
        let mut data = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).expect("read the stream") == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() && !data.is_empty() {
                return Some(serde_json::from_str(&data).unwrap_or(json!(data)));
            }
            if let Some(d) = line.strip_prefix("data: ") {
                data.push_str(d);
            }
        }
    }

    /// Reads until `n` text deltas have come: the parts read.
    pub fn until_deltas(&mut self, n: usize) -> Vec<Value> {
        let mut parts = Vec::new();
        while parts
            .iter()
            .filter(|p: &&Value| p["type"] == "text-delta")
            .count()
            < n
        {
            match self.next_part() {
                Some(part) => parts.push(part),
                None => panic!("the stream ended before {n} text deltas: {parts:?}"),
            }
        }
        parts
    }

    /// Every part to the end.
    pub fn rest(mut self) -> Vec<Value> {
        std::iter::from_fn(|| self.next_part()).collect()
    }
}

/// The text of the `text-delta` parts.
pub fn text_of(parts: &[Value]) -> String {
    parts
        .iter()
        .filter(|p| p["type"] == "text-delta")
        .filter_map(|p| p["delta"].as_str())
        .collect()
}
