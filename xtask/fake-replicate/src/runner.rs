//! The simulated model run. Tests choose each prediction's fate through markers in its input
//! (so one fake serves every test, and a test's outcome never depends on another's):
//!
//! - `[fail]`: ends `failed` with error "fake failure";
//! - `[slow]`: succeeds after `--slow-ms` (2 s) instead of `--delay-ms` (150 ms);
//! - `[never]`: stays `processing` until canceled;
//! - `[throttle]`: the create request itself is answered 429 (see api.rs);
//! - otherwise succeeds with `input.num_outputs` (default 1) file URLs.
//!
//! Markers are looked for in every top-level string of `input` (`prompt` for image and video
//! models, `text` for speech ones), so any model's input can carry them.

use crate::store::{Event, Status, Store};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The default `metrics.predict_time` when the input has no `fake_predict_time`.
pub const DEFAULT_PREDICT_TIME: f64 = 1.5;
/// Bounds the output array a test can ask for.
const MAX_OUTPUTS: u64 = 16;

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

fn outputs(base: &str, id: &str, model: &str, input: &Value) -> Value {
    let n = input
        .get("num_outputs")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .clamp(1, MAX_OUTPUTS);
    let ext = extension(model);
    Value::Array(
        (0..n)
            .map(|i| json!(format!("{base}/files/{id}-{i}.{ext}")))
            .collect(),
    )
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
                p.output = outputs(base, &p.id, &p.model, &p.input);
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
}
