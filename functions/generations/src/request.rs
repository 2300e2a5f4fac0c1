//! `POST /v1/generations` body, parsed into the RPC's arguments.

use genbase_shared::error::ApiError;
use genbase_shared::validate::{Prompt, ShortText};
use serde::Deserialize;
use serde_json::{json, Map, Value};

const KINDS: [&str; 6] = ["image", "video", "audio", "music", "tts", "text"];
const MAX_PARAMS_BYTES: usize = 16 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    kind: String,
    model: String,
    prompt: String,
    action: Option<String>,
    #[serde(default)]
    params: Option<Map<String, Value>>,
    /// Quoted maximum: images, seconds, or thousands of tokens, per the model's price unit.
    units: Option<f64>,
}

#[derive(Debug, PartialEq)]
pub struct Start {
    pub args: Value,
}

impl StartBody {
    pub fn validate(self, idempotency_key: Option<&str>) -> Result<Start, ApiError> {
        if !KINDS.contains(&self.kind.as_str()) {
            return Err(ApiError::validation(format!(
                "kind must be one of {}",
                KINDS.join(", ")
            )));
        }
        let model = ShortText::parse("model", &self.model, 128)?.into_string();
        let action = match self.action {
            Some(a) => ShortText::parse("action", &a, 64)?.into_string(),
            None => default_action(&self.kind).to_string(),
        };
        let prompt = Prompt::parse(&self.prompt)?.as_str().to_string();
        let params = Value::Object(self.params.unwrap_or_default());
        if params.to_string().len() > MAX_PARAMS_BYTES {
            return Err(ApiError::validation("params must be at most 16 KiB"));
        }
        let units = match self.units {
            Some(u) if u.is_finite() && u > 0.0 && u <= 100_000.0 => u,
            Some(_) => {
                return Err(ApiError::validation(
                    "units must be a number in (0, 100000]",
                ))
            }
            None => default_units(&self.kind, &params, &prompt),
        };
        if let Some(key) = idempotency_key {
            genbase_shared::validate::IdempotencyKey::parse(key)?;
        }
        Ok(Start {
            args: json!({
                "p_kind": self.kind, "p_action": action, "p_model": model, "p_prompt": prompt,
                "p_params": params, "p_units": units, "p_idempotency_key": idempotency_key,
            }),
        })
    }
}

/// The action a kind maps to when the client names none (pricing is per action and model).
fn default_action(kind: &str) -> &'static str {
    match kind {
        "image" => "generate_image",
        "video" => "generate_video",
        "music" | "audio" => "generate_music",
        "tts" => "tts",
        _ => "chat",
    }
}

/// The quoted maximum when the client gives none: what the params ask for, else one unit
/// (one image, one thousand tokens), the prompt's length for speech, or a short clip.
fn default_units(kind: &str, params: &Value, prompt: &str) -> f64 {
    let num = |k: &str| params.get(k).and_then(Value::as_f64).filter(|v| *v > 0.0);
    match kind {
        "image" => num("num_outputs").unwrap_or(1.0),
        // Speech is priced per character of the text spoken.
        "tts" => prompt.chars().count() as f64,
        "video" | "music" | "audio" => num("duration").unwrap_or(5.0),
        _ => num("max_tokens")
            .map(|t| (t / 1000.0).ceil())
            .unwrap_or(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<Start, ApiError> {
        serde_json::from_value::<StartBody>(v)
            .map_err(|e| ApiError::validation(e.to_string()))?
            .validate(None)
    }

    #[test]
    fn units_default_from_params() {
        let s = parse(
            json!({"kind": "image", "model": "m", "prompt": "a cat", "params": {"num_outputs": 3}}),
        )
        .unwrap();
        assert_eq!(s.args["p_units"], json!(3.0));
        assert_eq!(s.args["p_action"], "generate_image");
    }

    #[test]
    fn bad_bodies_are_refused() {
        for v in [
            json!({"kind": "hologram", "model": "m", "prompt": "p"}),
            json!({"kind": "image", "model": "", "prompt": "p"}),
            json!({"kind": "image", "model": "m", "prompt": ""}),
            json!({"kind": "image", "model": "m", "prompt": "p", "units": -1}),
            json!({"kind": "image", "model": "m", "prompt": "p", "units": 1e9}),
            json!({"kind": "image", "model": "m", "prompt": "p", "params": {"x": "y".repeat(17000)}}),
            json!({"kind": "image", "model": "m", "prompt": "p", "credits": 0}),
        ] {
            assert_eq!(parse(v.clone()).map(|_| ()).unwrap_err().status, 400, "{v}");
        }
    }
}
