//! OpenAI's embeddings protocol, `POST /v1/embeddings`, with vectors that mean something:
//!
//! - `Authorization: Bearer <key>`, the chat endpoints' key rule; errors in OpenAI's shape
//!   (openai.rs's [`ApiError`]);
//! - body `{input: string | [string] (1..=2048, none empty), model, dimensions?, encoding_format?:
//!   "float" | "base64", user?}`; answer `{object: "list", data: [{object: "embedding", index,
//!   embedding}], model, usage: {prompt_tokens, total_tokens}}`, where a base64 embedding is its
//!   little-endian f32 bytes (what the official clients decode);
//! - **vectors** ([`vector`]): the text lowercased and split on non-alphanumerics into words,
//!   each word and each pair of neighbouring words hashed (FNV-1a: the same on every run and
//!   machine) to a dimension and a sign, summed, L2-normalized. Texts sharing words share
//!   dimensions, so their cosine similarity is high, and unrelated texts are near orthogonal:
//!   a test can tell which chunk a question is about;
//! - **tokens**: words, counted as the chat side counts them ([`chat::words`]);
//! - **markers** in any input: `[embedfail]` answers the whole request 500; `[flakyembed]`
//!   answers the first [`FLAKY_FAILURES`] requests carrying that input 500, later ones normally;
//! - every request is logged for `GET /_fake/embeddings/requests` ([`EmbeddingState`]).

use crate::openai::{self, ApiError};
use crate::{chat, App};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

pub const PATH: &str = "/v1/embeddings";
/// text-embedding-3-small's size, and what genbase stores (`vector(1536)`).
pub const DEFAULT_DIMENSIONS: usize = 1536;
/// text-embedding-3-large's size, the largest `dimensions` OpenAI accepts.
pub const MAX_DIMENSIONS: u64 = 3072;
/// OpenAI's limit on the inputs of one request.
pub const MAX_INPUTS: usize = 2048;
/// OpenAI's limits on the tokens of one input and of a whole request.
pub const MAX_INPUT_TOKENS: u64 = 8192;
pub const MAX_REQUEST_TOKENS: u64 = 300_000;
/// Requests carrying a `[flakyembed]` input that fail before it succeeds.
pub const FLAKY_FAILURES: u32 = 2;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(hash, |h, b| (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME))
}

/// The words a text is made of: lowercased runs of alphanumerics.
fn words_of(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The unit vector of `text` in `dimensions` (at least 1) dimensions (see the module doc).
pub fn vector(text: &str, dimensions: usize) -> Vec<f32> {
    let words = words_of(text);
    // Words hold no spaces, so a bigram "a b" never hashes like a unigram.
    let mut hashes: Vec<u64> = words
        .iter()
        .map(|w| fnv1a(FNV_OFFSET, w.as_bytes()))
        .collect();
    hashes.extend(words.windows(2).map(|pair| {
        fnv1a(
            fnv1a(fnv1a(FNV_OFFSET, pair[0].as_bytes()), b" "),
            pair[1].as_bytes(),
        )
    }));
    if hashes.is_empty() {
        // No word at all (`"..."`): still a unit vector, so cosine similarity stays defined.
        hashes.push(fnv1a(FNV_OFFSET, text.as_bytes()));
    }
    let mut v = vec![0f64; dimensions];
    for h in hashes {
        // Low bits pick the dimension, the top bit the sign.
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        v[(h % dimensions as u64) as usize] += sign;
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm == 0.0 {
        // Every feature cancelled out (rare collisions of opposite signs): fall back as above.
        v[(fnv1a(FNV_OFFSET, text.as_bytes()) % dimensions as u64) as usize] = 1.0;
        return v.into_iter().map(|x| x as f32).collect();
    }
    v.into_iter().map(|x| (x / norm) as f32).collect()
}

/// A vector as `encoding_format: "base64"` sends it: its little-endian f32 bytes.
pub fn to_base64(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    STANDARD.encode(bytes)
}

/// A float as JSON in its shortest f32 form (`0.1`, not the f64 widening `0.10000000149011612`),
/// as OpenAI prints them; parsed back to f32 it is the same number.
fn float(x: f32) -> Value {
    x.to_string()
        .parse::<f64>()
        .map_or(Value::Null, Value::from)
}

/// What the fake acts on in a valid request.
#[derive(Debug)]
struct Request {
    model: String,
    inputs: Vec<String>,
    dimensions: usize,
    base64: bool,
    tokens: u64,
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
        Some(_) => return Err(openai::invalid_type("model", "a string")),
    };
    let inputs = inputs(obj)?;
    let dimensions = match obj.get("dimensions") {
        None | Some(Value::Null) => DEFAULT_DIMENSIONS,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=MAX_DIMENSIONS) => n as usize,
            _ => {
                return Err(ApiError::invalid(
                    format!("Invalid 'dimensions': expected an integer from 1 to {MAX_DIMENSIONS}, but got {v} instead."),
                    Some("dimensions"),
                    Some("invalid_value"),
                ))
            }
        },
    };
    let base64 = match obj.get("encoding_format") {
        None | Some(Value::Null) => false,
        Some(Value::String(f)) if f == "float" => false,
        Some(Value::String(f)) if f == "base64" => true,
        Some(v) => {
            return Err(ApiError::invalid(
                format!("Invalid value for 'encoding_format': expected 'float' or 'base64', but got {v} instead."),
                Some("encoding_format"),
                Some("invalid_value"),
            ))
        }
    };
    match obj.get("user") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(_) => return Err(openai::invalid_type("user", "a string")),
    }
    let mut tokens = 0;
    for text in &inputs {
        let n = chat::words(text);
        if n > MAX_INPUT_TOKENS {
            return Err(ApiError::invalid(
                format!("This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however you requested {n} tokens ({n} in your prompt; 0 for the completion). Please reduce your prompt; or completion length."),
                None,
                None,
            ));
        }
        tokens += n;
    }
    if tokens > MAX_REQUEST_TOKENS {
        return Err(ApiError::invalid(
            format!("Requested {tokens} tokens, max {MAX_REQUEST_TOKENS} tokens per request"),
            Some("input"),
            Some("max_tokens_per_request"),
        ));
    }
    Ok(Request {
        model,
        inputs,
        dimensions,
        base64,
        tokens,
    })
}

/// `input`: one non-empty string or 1..=[`MAX_INPUTS`] of them. OpenAI also takes token ids;
/// the fake has no tokenizer to read them with, so it refuses them by name.
fn inputs(obj: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let empty_string = |param: &str| {
        ApiError::invalid(
            format!("Invalid '{param}': empty string. Expected a string with minimum length 1, but got an empty string instead."),
            Some(param),
            Some("empty_string"),
        )
    };
    let items = match obj.get("input") {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                "Missing required parameter: 'input'.",
                Some("input"),
                Some("missing_required_parameter"),
            ))
        }
        Some(Value::String(s)) if s.is_empty() => return Err(empty_string("input")),
        Some(Value::String(s)) => return Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(openai::invalid_type(
                "input",
                "a string or an array of strings",
            ))
        }
    };
    if items.is_empty() {
        return Err(ApiError::invalid(
            "Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            Some("input"),
            Some("empty_array"),
        ));
    }
    if items.len() > MAX_INPUTS {
        return Err(ApiError::invalid(
            format!("Invalid 'input': array too long. Expected an array with maximum length {MAX_INPUTS}, but got an array with length {} instead.", items.len()),
            Some("input"),
            Some("array_above_max_length"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let param = format!("input[{i}]");
            match item {
                Value::String(s) if s.is_empty() => Err(empty_string(&param)),
                Value::String(s) => Ok(s.clone()),
                Value::Number(_) | Value::Array(_) => Err(ApiError::invalid(
                    "This fake embeds text only: send 'input' as strings, not token ids.",
                    Some("input"),
                    Some("invalid_type"),
                )),
                _ => Err(openai::invalid_type(&param, "a string")),
            }
        })
        .collect()
}

/// How a request ended, as the log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Complete,
    /// 400 or 401: nothing embedded.
    Refused,
    /// `[embedfail]`.
    Failed,
    /// `[flakyembed]` before its [`FLAKY_FAILURES`] are spent.
    Flaky,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Complete => "complete",
            Outcome::Refused => "refused",
            Outcome::Failed => "embedfail",
            Outcome::Flaky => "flakyembed",
        }
    }
}

/// The embeddings side of the app state: the request log and the `[flakyembed]` counts.
#[derive(Default)]
pub struct EmbeddingState {
    inner: Mutex<StateInner>,
}

#[derive(Default)]
struct StateInner {
    /// Not reset by [`EmbeddingState::clear_log`], so ids stay unique across clears.
    next_id: u64,
    entries: Vec<Value>,
    /// Per `[flakyembed]` input text: the requests that carried it so far.
    flaky_seen: HashMap<String, u32>,
}

impl EmbeddingState {
    fn lock(&self) -> std::sync::MutexGuard<'_, StateInner> {
        // A panic elsewhere must not wedge a test double; the data stays usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts this request against each `[flakyembed]` input it carries; `true` while any of
    /// them has not yet failed [`FLAKY_FAILURES`] times, i.e. this request must fail.
    fn flaky_fails(&self, inputs: &[String]) -> bool {
        let mut inner = self.lock();
        let mut fails = false;
        // A text repeated within one request is one request carrying it.
        let mut counted: Vec<&String> = Vec::new();
        for text in inputs.iter().filter(|t| t.contains("[flakyembed]")) {
            if counted.contains(&text) {
                continue;
            }
            counted.push(text);
            let seen = inner.flaky_seen.entry(text.clone()).or_default();
            *seen += 1;
            fails |= *seen <= FLAKY_FAILURES;
        }
        fails
    }

    fn record(&self, mut entry: Map<String, Value>) {
        let mut inner = self.lock();
        entry.insert("id".into(), json!(inner.next_id));
        inner.next_id += 1;
        inner.entries.push(Value::Object(entry));
    }

    /// Every request, oldest first (`GET /_fake/embeddings/requests`).
    pub fn list(&self) -> Vec<Value> {
        self.lock().entries.clone()
    }

    /// `DELETE /_fake/embeddings/requests`: empties the log; `[flakyembed]` counts stay.
    pub fn clear_log(&self) {
        self.lock().entries.clear();
    }

    /// `POST /_fake/reset`: the log and the `[flakyembed]` counts.
    pub fn reset(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.flaky_seen.clear();
    }
}

pub async fn create(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let key = openai::api_key(&headers);
    let request = openai::authorize(key.as_deref()).and_then(|()| parse(&body));
    let mut entry = Map::new();
    entry.insert("key".into(), json!(key));
    if let Ok(r) = &request {
        entry.insert("model".into(), json!(r.model));
        entry.insert("input_count".into(), json!(r.inputs.len()));
        entry.insert("inputs".into(), json!(r.inputs));
        entry.insert("dimensions".into(), json!(r.dimensions));
        let format = if r.base64 { "base64" } else { "float" };
        entry.insert("encoding_format".into(), json!(format));
        entry.insert("tokens".into(), json!(r.tokens));
    } else {
        // What the body said, for a test checking why it was refused.
        let raw: Option<Value> = serde_json::from_slice(&body).ok();
        entry.insert("request".into(), json!(raw));
    }
    let (outcome, response) = match request {
        Err(e) => (Outcome::Refused, e.into_response()),
        Ok(r) => answer(&app.embeddings, r),
    };
    entry.insert("status".into(), json!(response.status().as_u16()));
    entry.insert("outcome".into(), json!(outcome.as_str()));
    entry.insert("at".into(), json!(crate::ids::rfc3339(SystemTime::now())));
    app.embeddings.record(entry);
    openai::with_request_id(response)
}

/// The answer to a valid request, and how the log names it.
fn answer(state: &EmbeddingState, r: Request) -> (Outcome, Response) {
    // Counted before `[embedfail]` decides, so each request carrying the input counts once.
    let flaky = state.flaky_fails(&r.inputs);
    if r.inputs.iter().any(|t| t.contains("[embedfail]")) {
        return (Outcome::Failed, ApiError::server_error().into_response());
    }
    if flaky {
        return (Outcome::Flaky, ApiError::server_error().into_response());
    }
    (
        Outcome::Complete,
        crate::api::json_response(StatusCode::OK, &body(&r)),
    )
}

fn body(r: &Request) -> Value {
    let data: Vec<Value> = r
        .inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let v = vector(text, r.dimensions);
            let embedding = if r.base64 {
                json!(to_base64(&v))
            } else {
                Value::Array(v.into_iter().map(float).collect())
            };
            json!({ "object": "embedding", "index": index, "embedding": embedding })
        })
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": r.model,
        "usage": { "prompt_tokens": r.tokens, "total_tokens": r.tokens },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum()
    }

    fn norm(v: &[f32]) -> f64 {
        cosine(v, v).sqrt()
    }

    #[test]
    fn a_paraphrase_sharing_words_is_closer_than_an_unrelated_text() {
        let d = DEFAULT_DIMENSIONS;
        let question = vector("How do I reset my router password?", d);
        let passage = vector(
            "To reset the router password, hold the reset button for ten seconds.",
            d,
        );
        let unrelated = vector("Quarterly revenue grew in Europe and Asia.", d);
        let (near, far) = (cosine(&question, &passage), cosine(&question, &unrelated));
        assert!(near > 0.2, "near {near}");
        assert!(far.abs() < 0.15, "far {far}");
        assert!(near > far + 0.2, "near {near}, far {far}");
        // Case and punctuation do not matter; word order does, a little (bigrams).
        let same_words = vector("HOW do i RESET my router... password", d);
        assert!((cosine(&question, &same_words) - 1.0).abs() < 1e-6);
        let reordered = vector("password router my reset I do how", d);
        let c = cosine(&question, &reordered);
        assert!(c > 0.5 && c < 0.99, "{c}");
    }

    #[test]
    fn vectors_are_unit_length_in_the_dimensions_asked() {
        for (text, d) in [
            ("one", 1536),
            ("the the the the", 1536),
            ("a b c d e f g h", 8),
            ("...", 1536),
            ("   ", 256),
            ("Ünïcode wörds ok", 3072),
        ] {
            let v = vector(text, d);
            assert_eq!(v.len(), d);
            assert!((norm(&v) - 1.0).abs() < 1e-5, "{text:?}: {}", norm(&v));
        }
    }

    #[test]
    fn vectors_are_deterministic() {
        let text = "The same text gives the same vector, on every run and machine.";
        assert_eq!(vector(text, 1536), vector(text, 1536));
        // Fixed by FNV-1a, not a per-process RandomState: pinned to today's values.
        assert_eq!(fnv1a(FNV_OFFSET, b""), FNV_OFFSET);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        let one = vector("hello", 1536);
        let hot: Vec<usize> = (0..one.len()).filter(|i| one[*i] != 0.0).collect();
        assert_eq!(hot.len(), 1);
        assert_eq!(one[hot[0]].abs(), 1.0);
    }

    #[test]
    fn base64_is_little_endian_f32_and_round_trips() {
        let v = vector("round trip me", 64);
        let bytes = STANDARD.decode(to_base64(&v)).unwrap();
        assert_eq!(bytes.len(), 64 * 4);
        let back: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(back, v);
        assert_eq!(to_base64(&[1.0]), "AACAPw==");
        // The float form parses back to the same f32 too.
        for x in &v {
            assert_eq!(float(*x).as_f64().unwrap() as f32, *x);
        }
        assert_eq!(float(0.1).to_string(), "0.1");
    }

    fn parse_str(body: &str) -> Result<Request, (u16, Value)> {
        parse(body.as_bytes()).map_err(|e| (e.status.as_u16(), e.body()))
    }

    #[test]
    fn reads_inputs_dimensions_and_format() {
        let r = parse_str(r#"{"input":"two words","model":"text-embedding-3-small"}"#).unwrap();
        assert_eq!(
            (r.inputs, r.dimensions, r.base64, r.tokens),
            (vec!["two words".to_string()], 1536, false, 2)
        );
        let r = parse_str(
            r#"{"input":["a b","c"],"model":"m","dimensions":256,"encoding_format":"base64","user":"u1"}"#,
        )
        .unwrap();
        assert_eq!(
            (r.inputs.len(), r.dimensions, r.base64, r.tokens),
            (2, 256, true, 3)
        );
    }

    #[test]
    fn refuses_bad_bodies_with_openai_errors() {
        let param = |body: &str| match parse_str(body) {
            Err((400, b)) => b["error"]["param"].clone(),
            other => panic!("{body}: {other:?}"),
        };
        assert_eq!(param("{nope"), Value::Null);
        assert_eq!(param(r#"{"input":"x"}"#), Value::Null);
        assert_eq!(param(r#"{"model":"m"}"#), json!("input"));
        assert_eq!(param(r#"{"model":"m","input":""}"#), json!("input"));
        assert_eq!(param(r#"{"model":"m","input":[]}"#), json!("input"));
        assert_eq!(
            param(r#"{"model":"m","input":["a",""]}"#),
            json!("input[1]")
        );
        assert_eq!(
            param(r#"{"model":"m","input":["a",{}]}"#),
            json!("input[1]")
        );
        assert_eq!(param(r#"{"model":"m","input":[1,2,3]}"#), json!("input"));
        assert_eq!(param(r#"{"model":"m","input":7}"#), json!("input"));
        let many = format!(
            r#"{{"model":"m","input":{}}}"#,
            json!(vec!["x"; MAX_INPUTS + 1])
        );
        assert_eq!(param(&many), json!("input"));
        let most = format!(
            r#"{{"model":"m","input":{}}}"#,
            json!(vec!["x"; MAX_INPUTS])
        );
        assert!(parse_str(&most).is_ok());
        for bad in ["0", "3073", "1.5", "\"8\""] {
            let body = format!(r#"{{"model":"m","input":"x","dimensions":{bad}}}"#);
            assert_eq!(param(&body), json!("dimensions"));
        }
        assert_eq!(
            param(r#"{"model":"m","input":"x","encoding_format":"int8"}"#),
            json!("encoding_format")
        );
        assert_eq!(
            param(r#"{"model":"m","input":"x","user":5}"#),
            json!("user")
        );
        let long = "w ".repeat(MAX_INPUT_TOKENS as usize + 1);
        assert_eq!(
            param(&json!({"model": "m", "input": long}).to_string()),
            Value::Null
        );
        let heavy = vec!["w ".repeat(8000); 38];
        assert_eq!(
            param(&json!({"model": "m", "input": heavy}).to_string()),
            json!("input")
        );
    }

    #[test]
    fn answers_in_openai_shape() {
        let r =
            parse_str(r#"{"input":["alpha beta","gamma"],"model":"m","dimensions":4}"#).unwrap();
        let b = body(&r);
        assert_eq!(
            (b["object"].clone(), b["model"].clone()),
            (json!("list"), json!("m"))
        );
        assert_eq!(b["usage"], json!({"prompt_tokens": 3, "total_tokens": 3}));
        let data = b["data"].as_array().unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(
            (data[1]["object"].clone(), data[1]["index"].clone()),
            (json!("embedding"), json!(1))
        );
        let floats: Vec<f32> = data[0]["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(floats, vector("alpha beta", 4));
    }

    #[test]
    fn markers_fail_whole_requests() {
        let state = EmbeddingState::default();
        let req = |inputs: &[&str]| Request {
            model: "m".into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            dimensions: 8,
            base64: false,
            tokens: 1,
        };
        let outcome = |inputs: &[&str]| answer(&state, req(inputs));
        let (o, resp) = outcome(&["fine", "x [embedfail]"]);
        assert_eq!(
            (o, resp.status()),
            (Outcome::Failed, StatusCode::INTERNAL_SERVER_ERROR)
        );
        // Two failures per `[flakyembed]` text (a repeat in one request counts once), then fine.
        let flaky = "chunk one [flakyembed]";
        assert_eq!(outcome(&[flaky, flaky]).0, Outcome::Flaky);
        assert_eq!(outcome(&["other", flaky]).0, Outcome::Flaky);
        let (o, resp) = outcome(&[flaky]);
        assert_eq!((o, resp.status()), (Outcome::Complete, StatusCode::OK));
        // Another text has its own count; a reset forgets them.
        assert_eq!(outcome(&[flaky, "two [flakyembed]"]).0, Outcome::Flaky);
        state.reset();
        assert_eq!(outcome(&[flaky]).0, Outcome::Flaky);
    }
}
