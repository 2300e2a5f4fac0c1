//! Submitting to Replicate (its predictions API) with a token from the pool, and canceling.

use crate::tokens;
use genbase_shared::deps::{Deps, Outbound};
use genbase_shared::error::ApiError;
use serde_json::{json, Value};

fn api_url(deps: &impl Deps) -> String {
    deps.var("REPLICATE_API_URL")
        .unwrap_or_else(|| "https://api.replicate.com".into())
        .trim_end_matches('/')
        .to_string()
}

/// Creates the prediction; returns its id. `provider_ref` is `owner/name` (an official model)
/// or `owner/name:version`.
pub async fn submit(
    deps: &impl Deps,
    provider_ref: &str,
    generation: &Value,
) -> Result<String, ApiError> {
    let token = tokens::take(deps).await?;
    let mut input = generation["params"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    input.insert("prompt".into(), generation["prompt"].clone());
    let webhook = format!(
        "{}/v1/webhooks/replicate",
        deps.var("PUBLIC_URL")
            .unwrap_or_default()
            .trim_end_matches('/')
    );
    // Only `completed`: Replicate retries no other event, and `start` can arrive before we
    // have recorded the prediction id.
    let mut body =
        json!({ "input": input, "webhook": webhook, "webhook_events_filter": ["completed"] });
    let url = match provider_ref.split_once(':') {
        // Replicate accepts `owner/name:version` as the version, which keeps the model name.
        Some(_) => {
            body["version"] = json!(provider_ref);
            format!("{}/v1/predictions", api_url(deps))
        }
        None => format!("{}/v1/models/{provider_ref}/predictions", api_url(deps)),
    };
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
    let result = match sent {
        Ok(r) if (200..300).contains(&r.status) => serde_json::from_str::<Value>(&r.body)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_owned))
            .ok_or_else(|| ApiError::bad_gateway("provider answered without a prediction id")),
        Ok(r) => Err(ApiError::bad_gateway(format!(
            "provider answered {}",
            r.status
        ))),
        Err(e) => Err(ApiError::bad_gateway(format!("provider unreachable: {e}"))),
    };
    tokens::report(deps, &token, result.is_ok()).await;
    result
}

/// Asks the provider to stop; the credits were already released in SQL, so a failure here
/// only costs the provider's compute, never the user's credits.
pub async fn cancel(deps: &impl Deps, prediction_id: &str) {
    let Ok(token) = tokens::take(deps).await else {
        return;
    };
    let _ = deps
        .send(Outbound {
            method: "POST",
            url: format!("{}/v1/predictions/{prediction_id}/cancel", api_url(deps)),
            headers: vec![("authorization".into(), format!("Bearer {}", token.secret))],
            body: None,
        })
        .await;
}
