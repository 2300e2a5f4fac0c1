//! Submitting a training run to Replicate's trainings API
//! (`POST /v1/models/{owner}/{name}/versions/{version_id}/trainings`) with a token from the
//! pool, as the generations function submits predictions: the same webhook endpoint, the
//! same rules for what an answer says about the token, the provider's own words kept for the
//! logs and never shown to the client.

use genbase_shared::deps::{Deps, Outbound};
use genbase_shared::error::ApiError;
use genbase_shared::storage_inputs::sign_inputs;
use genbase_shared::token_pool::{self, Outcome};
use serde_json::{json, Value};

/// The var naming the Replicate model (`owner/name`) each training pushes its trained
/// version to: the trainings API's `destination`, a model the token's account owns.
pub const DESTINATION_VAR: &str = "REPLICATE_TRAINING_DESTINATION";

fn api_url(deps: &impl Deps) -> String {
    deps.var("REPLICATE_API_URL")
        .unwrap_or_else(|| "https://api.replicate.com".into())
        .trim_end_matches('/')
        .to_string()
}

/// The trainings endpoint of a trainer pinned as `owner/name:version` (the API trains a
/// version, never "the latest"); `None` for any other shape.
pub fn trainings_url(base: &str, provider_ref: &str) -> Option<String> {
    let (model, version) = provider_ref.split_once(':')?;
    let (owner, name) = model.split_once('/')?;
    let safe = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    (safe(owner) && safe(name) && safe(version))
        .then(|| format!("{base}/v1/models/{owner}/{name}/versions/{version}/trainings"))
}

/// Signs the input's training images (storage markers) and creates the training; returns
/// its id. `input` is what SQL priced (`provider_input` of `start_lora_training`).
pub async fn submit(
    deps: &impl Deps,
    destination: &str,
    provider_ref: &str,
    generation_id: &str,
    input: &Value,
) -> Result<String, ApiError> {
    let url = trainings_url(&api_url(deps), provider_ref).ok_or_else(|| {
        ApiError::internal(format!(
            "training model {provider_ref:?} is not pinned as owner/name:version"
        ))
    })?;
    let mut input = input.clone();
    sign_inputs(deps, &mut input).await?;
    let token = token_pool::take(deps, "replicate").await?;
    // The generation id in the webhook URL lets the reconciler find a run whose id we never
    // got to record. Only `completed`: Replicate retries no other event.
    let webhook = format!(
        "{}/v1/webhooks/replicate?generation_id={generation_id}",
        deps.var("PUBLIC_URL")
            .unwrap_or_default()
            .trim_end_matches('/')
    );
    let body = json!({
        "destination": destination,
        "input": input,
        "webhook": webhook,
        "webhook_events_filter": ["completed"],
    });
    let sent = deps
        .send(Outbound {
            method: "POST",
            url,
            headers: vec![
                ("authorization".into(), format!("Bearer {}", token.secret)),
                ("content-type".into(), "application/json".into()),
            ],
            body: Some(body.to_string()),
        })
        .await;
    let outcome = Outcome::of(&sent);
    let result = match sent {
        Ok(r) if (200..300).contains(&r.status) => {
            serde_json::from_slice::<Value>(r.body.as_bytes())
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_owned))
                .ok_or_else(|| refused(502, "replicate answered without a training id".into()))
        }
        Ok(r) => Err(refused(
            r.status,
            format!(
                "replicate answered {}: {}",
                r.status,
                r.body.chars().take(2000).collect::<String>()
            ),
        )),
        Err(e) => Err(refused(502, format!("replicate unreachable: {e}"))),
    };
    // A 2xx we cannot use is the provider misbehaving, not a success of the token.
    let outcome = match (&result, outcome) {
        (Err(_), Outcome::Ok) => Outcome::ServerError,
        (_, outcome) => outcome,
    };
    token_pool::report(deps, &token, outcome).await;
    result
}

/// 422 when the provider refused the input (its answer to input the trainer rejects), an
/// opaque 502 otherwise; the provider's words are the cause, for the logs and
/// `generation_errors`.
fn refused(provider_status: u16, detail: String) -> ApiError {
    match provider_status {
        422 => ApiError::new(
            422,
            "provider_rejected_input",
            "the provider refused this input; no credits were charged",
        )
        .with_cause(detail),
        _ => ApiError::bad_gateway(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_pinned_trainer_has_a_trainings_url() {
        assert_eq!(
            trainings_url("https://r.test", "ostris/flux-dev-lora-trainer:e4409").as_deref(),
            Some("https://r.test/v1/models/ostris/flux-dev-lora-trainer/versions/e4409/trainings")
        );
        for bad in [
            "ostris/flux-dev-lora-trainer",
            "flux:e4409",
            "a/b/c:v",
            "a/b:v/../x",
            "a/b:",
            "/b:v",
        ] {
            assert_eq!(trainings_url("https://r.test", bad), None, "{bad}");
        }
    }
}
