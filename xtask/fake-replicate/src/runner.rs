//! The simulated model run. Tests choose each prediction's fate through markers in its input
//! (so one fake serves every test, and a test's outcome never depends on another's):
//!
//! - `[fail]`: ends `failed` with error "fake failure";
//! - `[slow]`: succeeds after `--slow-ms` (2 s) instead of `--delay-ms` (150 ms);
//! - `[never]`: stays `processing` until canceled;
//! - `[throttle]`, `[reject]`, `[outage]`: the create request itself is answered 429, 422 or
//!   503 and nothing is created (see api.rs);
//! - `[overrun]`: succeeds with MORE than was asked (`num_outputs` + 2 files; for a text model
//!   `max_tokens` + 100 tokens), as a provider ignoring a limit would;
//! - `[big:N]`: succeeds with one output string of N bytes (a long text);
//! - `[nowebhook]`: the `completed` webhook is never sent (the result is only visible by GET);
//! - `[flakyfiles]`: the first [`FLAKY_FILE_FETCHES`] downloads of its output files are
//!   answered 503, as a CDN having a bad moment (see files.rs);
//! - otherwise succeeds with `input.num_outputs` (default 1) file URLs, or for a text model
//!   (see `is_text_model`) an array of token strings with token counts in `metrics`; a
//!   training (trainings.rs) with its trained version and weights.
//!
//! Markers are looked for in every top-level string of `input` (`prompt` for image and video
//! models, `text` for speech ones), so any model's input can carry them.

use crate::store::{Event, Status, Store};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The default `metrics.predict_time` when the input has no `fake_predict_time`.
pub const DEFAULT_PREDICT_TIME: f64 = 1.5;
/// How many output downloads of a `[flakyfiles]` prediction fail before they work.
pub const FLAKY_FILE_FETCHES: u32 = 2;
/// Bounds the output array a test can ask for.
const MAX_OUTPUTS: u64 = 16;
/// Tokens a text model produces at most (the real ones stop at an end-of-sequence token long
/// before `max_tokens`; a fixed small answer keeps tests fast).
pub const TEXT_OUTPUT_TOKENS: u64 = 40;
/// `max_tokens` when the input has none (Replicate's language models default to about 128-512).
pub const DEFAULT_MAX_TOKENS: u64 = 128;
/// How much an `[overrun]` prediction exceeds what was asked.
const OVERRUN_OUTPUTS: u64 = 2;
const OVERRUN_TOKENS: u64 = 100;
/// Bounds `[big:N]` so a typo cannot make the fake allocate gigabytes.
const MAX_BIG_BYTES: usize = 64 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeed,
    Fail,
    Never,
}

pub fn has_marker(input: &Value, marker: &str) -> bool {
    input.as_object().is_some_and(|o| {
        o.values()
            .any(|v| v.as_str().is_some_and(|s| s.contains(marker)))
    })
}

pub fn outcome(input: &Value) -> Outcome {
    if has_marker(input, "[never]") {
        Outcome::Never
    } else if has_marker(input, "[fail]") {
        Outcome::Fail
    } else {
        Outcome::Succeed
    }
}

/// Output file type by model family, so consumers storing outputs see plausible extensions.
pub fn extension(model: &str) -> &'static str {
    let m = model.to_ascii_lowercase();
    if ["video", "wan"].iter().any(|k| m.contains(k)) {
        "mp4"
    } else if ["tts", "music", "audio", "speech"]
        .iter()
        .any(|k| m.contains(k))
    {
        "wav"
    } else {
        "png"
    }
}

/// Language models on Replicate (`meta/meta-llama-3-8b-instruct`, ...) take `max_tokens` and
/// stream their answer as an array of token strings.
pub fn is_text_model(model: &str, input: &Value) -> bool {
    model.to_ascii_lowercase().contains("llama") || input.get("max_tokens").is_some()
}

/// `[big:N]`: the N asked for, if the marker is there and N is a number.
pub fn big_marker(input: &Value) -> Option<usize> {
    input.as_object()?.values().find_map(|v| {
        let s = v.as_str()?;
        let rest = &s[s.find("[big:")? + 5..];
        rest[..rest.find(']')?].trim().parse::<usize>().ok()
    })
}

/// What a finished prediction carries: `output` and the model-specific `metrics` entries.
pub struct Produced {
    pub output: Value,
    pub metrics: serde_json::Map<String, Value>,
}

pub fn produce(base: &str, id: &str, model: &str, input: &Value) -> Produced {
    let overrun = has_marker(input, "[overrun]");
    let mut metrics = serde_json::Map::new();
    if is_text_model(model, input) {
        let max_tokens = input
            .get("max_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_MAX_TOKENS);
        let n = if overrun {
            max_tokens + OVERRUN_TOKENS
        } else {
            max_tokens.min(TEXT_OUTPUT_TOKENS)
        };
        let words = input
            .get("prompt")
            .and_then(Value::as_str)
            .map_or(0, |p| p.split_whitespace().count());
        metrics.insert("input_token_count".into(), json!(words));
        metrics.insert("output_token_count".into(), json!(n));
        let output = match big_marker(input) {
            Some(len) => json!(["x".repeat(len.min(MAX_BIG_BYTES))]),
            // The first token has no leading space, the others do, as tokenizers split text.
            None => Value::Array(
                (0..n)
                    .map(|i| {
                        json!(if i == 0 {
                            "tok0".to_string()
                        } else {
                            format!(" tok{i}")
                        })
                    })
                    .collect(),
            ),
        };
        return Produced { output, metrics };
    }
    if let Some(len) = big_marker(input) {
        return Produced {
            output: json!(["x".repeat(len.min(MAX_BIG_BYTES))]),
            metrics,
        };
    }
    let asked = input
        .get("num_outputs")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .clamp(1, MAX_OUTPUTS);
    let n = if overrun {
        asked + OVERRUN_OUTPUTS
    } else {
        asked
    };
    let ext = extension(model);
    if ext == "png" {
        // Replicate's image models report how many images they made (and bill by it).
        metrics.insert("image_count".into(), json!(n));
    }
    Produced {
        output: Value::Array(
            (0..n)
                .map(|i| json!(format!("{base}/files/{id}-{i}.{ext}")))
                .collect(),
        ),
        metrics,
    }
}

fn predict_time(input: &Value) -> f64 {
    input
        .get("fake_predict_time")
        .and_then(Value::as_f64)
        .unwrap_or(DEFAULT_PREDICT_TIME)
}

/// Drives one prediction from `starting` to its end. A cancel that lands first wins: every
/// step re-checks the status under the store lock.
pub async fn run(store: Arc<Store>, id: String, delay: Duration, slow_delay: Duration) {
    let plan = store.update(&id, |p, base| {
        if p.status != Status::Starting {
            return None;
        }
        p.status = Status::Processing;
        p.started_at = Some(SystemTime::now());
        p.logs.push_str("fake-replicate: prediction started\n");
        p.emit(Event::Logs, base);
        let slow = has_marker(&p.input, "[slow]");
        Some((outcome(&p.input), if slow { slow_delay } else { delay }))
    });
    let Some(Some((outcome, wait))) = plan else {
        return;
    };
    if outcome == Outcome::Never {
        return;
    }
    tokio::time::sleep(wait).await;
    store.update(&id, |p, base| {
        if p.status.is_terminal() {
            return;
        }
        match outcome {
            Outcome::Succeed => {
                let produced = match &p.destination {
                    Some(destination) => Produced {
                        output: crate::trainings::trained(base, &p.id, destination),
                        metrics: serde_json::Map::new(),
                    },
                    None => produce(base, &p.id, &p.model, &p.input),
                };
                p.output = produced.output;
                p.extra_metrics = produced.metrics;
                p.emit(Event::Output, base);
                p.status = Status::Succeeded;
                p.logs.push_str("fake-replicate: prediction succeeded\n");
            }
            _ => {
                p.status = Status::Failed;
                p.error = Some("fake failure".into());
                p.logs.push_str("fake-replicate: prediction failed\n");
            }
        }
        p.completed_at = Some(SystemTime::now());
        p.predict_time = Some(predict_time(&p.input));
        p.emit(Event::Completed, base);
    });
}

/// `POST /v1/predictions/{id}/cancel`: ends a running prediction as `canceled`; a finished one
/// is returned unchanged. `None` if there is no such prediction.
pub fn cancel(store: &Store, id: &str) -> Option<Value> {
    store.update(id, |p, base| {
        if !p.status.is_terminal() {
            let now = SystemTime::now();
            p.status = Status::Canceled;
            p.completed_at = Some(now);
            // Replicate bills (and reports) the time the model actually ran.
            let ran = p
                .started_at
                .and_then(|s| now.duration_since(s).ok())
                .unwrap_or_default();
            p.predict_time = Some(ran.as_secs_f64());
            p.logs.push_str("fake-replicate: prediction canceled\n");
            p.emit(Event::Completed, base);
        }
        p.to_json(base)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_choose_the_outcome() {
        assert_eq!(outcome(&json!({"prompt": "a cat"})), Outcome::Succeed);
        assert_eq!(outcome(&json!({"prompt": "a cat [fail]"})), Outcome::Fail);
        assert_eq!(outcome(&json!({"text": "[never] say hi"})), Outcome::Never);
        assert_eq!(
            outcome(&json!({"image": "http://x/[fail].png"})),
            Outcome::Fail
        );
        assert_eq!(outcome(&json!({"steps": 4})), Outcome::Succeed);
        assert!(has_marker(&json!({"prompt": "[slow] cat"}), "[slow]"));
    }

    #[test]
    fn extension_follows_the_model_family() {
        assert_eq!(extension("black-forest-labs/flux-schnell"), "png");
        assert_eq!(extension("wan-video/wan-2.2-t2v-fast"), "mp4");
        assert_eq!(extension("minimax/video-01"), "mp4");
        assert_eq!(extension("jaaari/kokoro-82m-tts"), "wav");
        assert_eq!(extension("meta/musicgen"), "wav");
    }

    fn outputs(base: &str, id: &str, model: &str, input: &Value) -> Value {
        produce(base, id, model, input).output
    }

    #[test]
    fn outputs_honour_num_outputs() {
        let o = outputs("http://h", "abc", "acme/img", &json!({"num_outputs": 3}));
        assert_eq!(
            o,
            json!([
                "http://h/files/abc-0.png",
                "http://h/files/abc-1.png",
                "http://h/files/abc-2.png"
            ])
        );
        assert_eq!(
            outputs("http://h", "abc", "acme/img", &json!({}))
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(predict_time(&json!({"fake_predict_time": 7})), 7.0);
        assert_eq!(predict_time(&json!({})), DEFAULT_PREDICT_TIME);
    }

    #[test]
    fn text_models_answer_with_tokens_and_counts() {
        let p = produce(
            "http://h",
            "abc",
            "meta/meta-llama-3-8b-instruct",
            &json!({"prompt": "tell me  a story", "max_tokens": 10}),
        );
        assert_eq!(p.output.as_array().unwrap().len(), 10);
        assert_eq!(p.output[0], "tok0");
        assert_eq!(p.output[1], " tok1");
        assert_eq!(p.metrics["input_token_count"], 4);
        assert_eq!(p.metrics["output_token_count"], 10);
        // No max_tokens: 128 allowed, 40 produced; `max_tokens` alone makes a text model.
        let p = produce("http://h", "abc", "meta/llama-2", &json!({"prompt": "hi"}));
        assert_eq!(p.metrics["output_token_count"], 40);
        let p = produce("http://h", "abc", "acme/chat", &json!({"max_tokens": 500}));
        assert_eq!(p.output.as_array().unwrap().len(), 40);
    }

    #[test]
    fn overrun_produces_more_than_asked() {
        let p = produce(
            "http://h",
            "abc",
            "acme/img",
            &json!({"prompt": "[overrun]", "num_outputs": 2}),
        );
        assert_eq!(p.output.as_array().unwrap().len(), 4);
        assert_eq!(p.metrics["image_count"], 4);
        let p = produce(
            "http://h",
            "abc",
            "meta/llama",
            &json!({"prompt": "[overrun]", "max_tokens": 10}),
        );
        assert_eq!(p.output.as_array().unwrap().len(), 110);
        assert_eq!(p.metrics["output_token_count"], 110);
    }

    #[test]
    fn big_marker_makes_one_long_string() {
        assert_eq!(big_marker(&json!({"prompt": "a [big:12] b"})), Some(12));
        assert_eq!(big_marker(&json!({"prompt": "[big:x]"})), None);
        let p = produce(
            "http://h",
            "abc",
            "meta/llama",
            &json!({"prompt": "[big:1000]"}),
        );
        assert_eq!(p.output.as_array().unwrap().len(), 1);
        assert_eq!(p.output[0].as_str().unwrap().len(), 1000);
    }
}
