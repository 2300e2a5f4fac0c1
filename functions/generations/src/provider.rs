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

/// How long Replicate may run a prediction before canceling it itself (its `Cancel-After`
/// header): well inside the one-hour credit hold, so nothing runs on at the provider after
/// the hold would have been released.
const PROVIDER_DEADLINE: &str = "30m";

/// Creates the prediction; returns its id. `provider_ref` is `owner/name` (an official model)
/// or `owner/name:version`. `input` is what SQL priced (`provider_input` of
/// `create_generation`), sent as it is.
pub async fn submit(
    deps: &impl Deps,
    provider_ref: &str,
    generation_id: &str,
    input: &Value,
) -> Result<String, ApiError> {
    let token = tokens::take(deps).await?;
    // The generation id in the webhook URL lets the reconciler find a prediction whose id
    // we never got to record.
    let webhook = format!(
        "{}/v1/webhooks/replicate?generation_id={generation_id}",
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
                ("cancel-after".into(), PROVIDER_DEADLINE.into()),
            ],
            body: Some(body.to_string()),
        })
        .await;
    let outcome = tokens::Outcome::of(&sent);
    let result = match sent {
        Ok(r) if (200..300).contains(&r.status) => parse(&r.body)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_owned))
            .ok_or_else(|| refused(502, "replicate answered without a prediction id".into())),
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
        (Err(_), tokens::Outcome::Ok) => tokens::Outcome::ServerError,
        (_, outcome) => outcome,
    };
    tokens::report(deps, &token, outcome).await;
    result
}

/// From bytes, like every JSON the Worker reads (request bodies, tokens, PostgREST answers):
/// serde_json's parser is generic over its input, and one input type links one copy of it.
fn parse(body: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_slice(body.as_bytes())
}

/// What the user reads when submission fails: 422 when the provider refused the input
/// (Replicate's answer to input its model rejects), an opaque 502 otherwise. The provider's
/// own words are the cause, which goes to the logs and to `generation_errors`, never to the
/// client.
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

/// Reconciliation's reads at the provider, with a pool token like every call there.
async fn read(deps: &impl Deps, url: String) -> Result<Option<Value>, ApiError> {
    let token = tokens::take(deps).await?;
    let sent = deps
        .send(Outbound {
            method: "GET",
            url,
            headers: vec![("authorization".into(), format!("Bearer {}", token.secret))],
            body: None,
        })
        .await;
    let mut outcome = tokens::Outcome::of(&sent);
    let result = match sent {
        Ok(r) if r.status == 404 => Ok(None),
        Ok(r) if (200..300).contains(&r.status) => match parse(&r.body) {
            Ok(v) if v.is_object() => Ok(Some(v)),
            _ => {
                outcome = tokens::Outcome::ServerError;
                Err(ApiError::bad_gateway(
                    "replicate answered with something that is not JSON",
                ))
            }
        },
        Ok(r) => Err(ApiError::bad_gateway(format!(
            "replicate answered {}: {}",
            r.status,
            r.body.chars().take(500).collect::<String>()
        ))),
        Err(e) => Err(ApiError::bad_gateway(format!("replicate unreachable: {e}"))),
    };
    tokens::report(deps, &token, outcome).await;
    result
}

/// `GET /v1/predictions/{id}`: the prediction object, or `None` when the provider does not
/// know the id (404). Any other failure is an error, so the caller leaves the generation for
/// the next run rather than fail it on a provider hiccup.
pub async fn get_prediction(
    deps: &impl Deps,
    prediction_id: &str,
) -> Result<Option<Value>, ApiError> {
    // Ids come from our own table, but the path must still not be steerable.
    if prediction_id.is_empty() || !prediction_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Ok(None);
    }
    read(
        deps,
        format!("{}/v1/predictions/{prediction_id}", api_url(deps)),
    )
    .await
}

/// One page of `GET /v1/predictions` (newest first): its predictions and the URL of the next
/// page. `page` is a `next` URL from a previous page, followed only when it points at the
/// provider's own API (a token is sent with it).
pub async fn list_predictions(
    deps: &impl Deps,
    page: Option<&str>,
) -> Result<(Vec<Value>, Option<String>), ApiError> {
    let base = api_url(deps);
    let url = match page {
        None => format!("{base}/v1/predictions"),
        Some(next) if next.starts_with(&format!("{base}/v1/predictions")) => next.to_string(),
        Some(_) => return Ok((Vec::new(), None)),
    };
    let body = read(deps, url).await?.unwrap_or_default();
    let results = body["results"].as_array().cloned().unwrap_or_default();
    let next = body["next"].as_str().map(str::to_owned);
    Ok((results, next))
}
