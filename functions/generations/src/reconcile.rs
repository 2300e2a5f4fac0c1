//! Reconciliation with the provider: how a result comes back when its webhook did not (the
//! provider gave up retrying while we answered 5xx, or never sent it), and how a generation
//! whose submission was cut short gets resolved.
//!
//! SQL (`api.reconcile_candidates`) picks the generations that need a look and stamps them,
//! so two runs never work on the same rows and a generation still running at the provider
//! is looked at again only a minute later. Each is then resolved through the calls the
//! normal paths use, so whichever of the webhook and the look-up lands first wins and the
//! other is a no-op:
//! - processing: `GET /v1/predictions/{id}`; final there -> `handle_provider_webhook` under
//!   the webhook id `poll:<prediction id>`; unknown there (404) -> failed and released
//!   the same way; still running -> left for the next run (the `Cancel-After` deadline
//!   set at submission ends it at the provider at the latest);
//! - queued without a prediction id: looked for in `GET /v1/predictions` by the
//!   `generation_id` our webhook URL carries; found -> `mark_generation_submitted`, then
//!   as above; not found -> `fail_generation_submission` (the hold is released).
//!
//! Runs on the Cron Trigger (as the service role), from `POST /v1/admin/reconcile` (as the
//! calling admin for the pick, which SQL checks; the finishing calls are service-role only),
//! and from the local stack's sweeper through that route.

use crate::args::{FailSubmission, MarkSubmitted, ReconcileCandidates};
use crate::provider;
use genbase_shared::deps::Deps;
use genbase_shared::error::ApiError;
use genbase_shared::rpc::{ProviderWebhook, Rpc, RpcAuth};
use serde_json::{json, Value};

/// Generations per run: each costs a few subrequests (token pick, provider GET, token
/// report, the finishing RPC), and a Worker invocation has a subrequest budget. What is left
/// over is picked by the next run.
const BATCH: u32 = 25;
/// Pages of `GET /v1/predictions` searched for cut-short submissions (newest first; a
/// candidate is at most minutes old, so it sits on the first pages).
const MAX_LIST_PAGES: usize = 5;
const PROVIDER: &str = "replicate";

#[derive(Default)]
struct Tally {
    looked_at: u32,
    finished: u32,
    submitted: u32,
    failed: u32,
    pending: u32,
    errors: u32,
}

/// The Cron Trigger's job: no user, so the service role picks the work.
// Only the wasm32 build has a scheduled entry point to call it.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub async fn scheduled(deps: &impl Deps) -> Result<Value, ApiError> {
    run(deps, &RpcAuth::ServiceRole).await
}

/// One reconciliation run; `auth` is who asks SQL for the work (an admin's own token, or the
/// service role). Returns a summary of what it did.
pub async fn run(deps: &impl Deps, auth: &RpcAuth) -> Result<Value, ApiError> {
    let picked = deps
        .rpc()
        .invoke(&ReconcileCandidates { limit: BATCH }, auth)
        .await?;
    let items = picked["items"].as_array().cloned().unwrap_or_default();
    let mut tally = Tally::default();
    // Listed once per run, and only if some submission needs finding.
    let mut listing: Option<Result<Found, ApiError>> = None;

    for item in &items {
        tally.looked_at += 1;
        let Some(generation_id) = item["generation_id"].as_str() else {
            continue;
        };
        // Only Replicate is wired up; another provider's generation is not ours to judge.
        if item["provider"].as_str().is_some_and(|p| p != PROVIDER) {
            continue;
        }
        let outcome = match item["prediction_id"].as_str() {
            Some(prediction_id) => settle(deps, prediction_id, &mut tally).await,
            None => {
                if listing.is_none() {
                    listing = Some(list_by_generation(deps).await);
                }
                match listing.as_ref() {
                    Some(Ok(found)) => {
                        let prediction = found
                            .iter()
                            .find(|(id, _)| id == generation_id)
                            .map(|(_, prediction)| prediction);
                        resolve_submission(deps, generation_id, prediction, &mut tally).await
                    }
                    // Without a complete listing we cannot tell "never created" from "not
                    // seen": leave it for the next run rather than fail it wrongly.
                    Some(Err(e)) => Err(e.clone()),
                    None => Ok(()),
                }
            }
        };
        if let Err(e) = outcome {
            tally.errors += 1;
            log(&format!(
                "reconcile {generation_id}: {}",
                e.cause.as_deref().unwrap_or(&e.message)
            ));
        }
    }
    Ok(json!({
        "looked_at": tally.looked_at,
        "finished": tally.finished,
        "submitted": tally.submitted,
        "failed": tally.failed,
        "pending": tally.pending,
        "errors": tally.errors,
    }))
}

/// Looks a recorded prediction up and, if it has ended (or the provider does not know it),
/// applies that through the webhook path.
async fn settle(deps: &impl Deps, prediction_id: &str, tally: &mut Tally) -> Result<(), ApiError> {
    match provider::get_prediction(deps, prediction_id).await? {
        Some(prediction) => apply_if_final(deps, prediction_id, &prediction, tally).await,
        None => {
            apply(
                deps,
                prediction_id,
                "failed",
                &Value::Null,
                &json!("the prediction was not found at the provider"),
                &Value::Null,
            )
            .await?;
            tally.failed += 1;
            Ok(())
        }
    }
}

async fn apply_if_final(
    deps: &impl Deps,
    prediction_id: &str,
    prediction: &Value,
    tally: &mut Tally,
) -> Result<(), ApiError> {
    let status = match prediction["status"].as_str() {
        Some(s @ ("succeeded" | "failed" | "canceled")) => s,
        // Replicate's status for a prediction whose deadline passed before it started.
        Some("aborted") => "canceled",
        _ => {
            tally.pending += 1;
            return Ok(());
        }
    };
    let error = match &prediction["error"] {
        Value::Null => Value::Null,
        Value::String(s) => json!(s),
        other => json!(other.to_string()),
    };
    apply(
        deps,
        prediction_id,
        status,
        &prediction["output"],
        &error,
        &prediction["metrics"],
    )
    .await?;
    if status == "succeeded" {
        tally.finished += 1;
    } else {
        tally.failed += 1;
    }
    Ok(())
}

/// `handle_provider_webhook` under one synthetic webhook id per prediction: applied once,
/// and a later real webhook (or a second run) finds the generation already final.
async fn apply(
    deps: &impl Deps,
    prediction_id: &str,
    status: &str,
    output: &Value,
    error: &Value,
    metrics: &Value,
) -> Result<(), ApiError> {
    let args = ProviderWebhook {
        provider: PROVIDER,
        webhook_id: format!("poll:{prediction_id}"),
        prediction_id: prediction_id.to_string(),
        status: status.to_string(),
        output: output.clone(),
        error: error.clone(),
        metrics: if metrics.is_object() {
            metrics.clone()
        } else {
            Value::Null
        },
    };
    deps.rpc()
        .invoke(&args, &RpcAuth::ServiceRole)
        .await
        .map(|_| ())
}

/// A generation that never got its prediction id recorded: attach the prediction the
/// provider has for it, or fail it and release its hold.
async fn resolve_submission(
    deps: &impl Deps,
    generation_id: &str,
    prediction: Option<&Value>,
    tally: &mut Tally,
) -> Result<(), ApiError> {
    let Some(prediction) = prediction else {
        let args = FailSubmission {
            generation_id,
            error: "reconciliation: no prediction for this generation at the provider",
        };
        deps.rpc().invoke(&args, &RpcAuth::ServiceRole).await?;
        tally.failed += 1;
        return Ok(());
    };
    let prediction_id = prediction["id"].as_str().unwrap_or_default();
    let args = MarkSubmitted {
        generation_id,
        provider: PROVIDER,
        prediction_id,
    };
    match deps.rpc().invoke(&args, &RpcAuth::ServiceRole).await {
        Ok(_) => {}
        // Ended meanwhile (the user canceled): nobody pays for the rest of the run, so stop it.
        Err(ApiError { status: 409, .. }) => {
            provider::cancel(deps, prediction_id).await;
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    tally.submitted += 1;
    apply_if_final(deps, prediction_id, prediction, tally).await
}

/// Recent predictions at the provider, each with the `generation_id` its webhook URL names.
/// A few pages of them against a batch of candidates: a scan costs less than a hash map's
/// code in the Worker.
type Found = Vec<(String, Value)>;

/// The provider's recent predictions by the `generation_id` in their webhook URL (put there
/// at submission), newest first, so a lookup finds the newest of two that name one
/// generation. Fails unless every page could be read.
async fn list_by_generation(deps: &impl Deps) -> Result<Found, ApiError> {
    let mut found = Found::new();
    let mut page: Option<String> = None;
    for _ in 0..MAX_LIST_PAGES {
        let (results, next) = provider::list_predictions(deps, page.as_deref()).await?;
        for p in results {
            if let Some(id) = p["webhook"].as_str().and_then(generation_id_of) {
                found.push((id, p));
            }
        }
        match next {
            Some(n) => page = Some(n),
            None => break,
        }
    }
    Ok(found)
}

/// The `generation_id` query parameter of a webhook URL.
fn generation_id_of(webhook: &str) -> Option<String> {
    let query = webhook.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("generation_id="))
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn log(line: &str) {
    #[cfg(target_arch = "wasm32")]
    worker::console_error!("{line}");
    #[cfg(not(target_arch = "wasm32"))]
    let _ = line;
}

#[cfg(test)]
mod tests {
    use super::*;
    use genbase_shared::deps::Inbound;
    use genbase_shared::testing::{block_on, ScriptedDeps};

    #[test]
    fn finds_the_generation_id_in_a_webhook_url() {
        assert_eq!(
            generation_id_of("https://api.example.com/v1/webhooks/replicate?generation_id=abc"),
            Some("abc".into())
        );
        assert_eq!(
            generation_id_of("http://h/w?x=1&generation_id=abc#frag"),
            Some("abc".into())
        );
        assert_eq!(generation_id_of("http://h/w?generation_id="), None);
        assert_eq!(generation_id_of("http://h/w"), None);
    }

    fn pool_token() -> Result<Value, ApiError> {
        Ok(json!({"id": 1, "token": "r8_pool"}))
    }

    #[test]
    fn a_finished_prediction_is_applied_as_a_webhook_under_a_poll_id() {
        let deps = ScriptedDeps::default()
            .answer(
                "reconcile_candidates",
                Ok(json!({"items": [{"generation_id": "g1", "status": "processing", "prediction_id": "p1"}]})),
            )
            .answer("next_provider_token", pool_token())
            .http(Ok(Inbound {
                status: 200,
                body: json!({"id": "p1", "status": "succeeded", "output": ["u"], "metrics": {"predict_time": 1}})
                    .to_string(),
            }))
            .answer("report_provider_token", Ok(json!({})))
            .answer("handle_provider_webhook", Ok(json!({})));
        let summary = block_on(run(&deps, &RpcAuth::ServiceRole)).unwrap();
        assert_eq!(summary["finished"], 1, "{summary}");
        let calls = deps.upstream.calls.borrow();
        let (name, args, auth) = &calls[3];
        assert_eq!(name, "handle_provider_webhook");
        assert_eq!(args["p_webhook_id"], "poll:p1");
        assert_eq!(args["p_status"], "succeeded");
        assert_eq!(args["p_output"], json!(["u"]));
        assert_eq!(*auth, RpcAuth::ServiceRole);
        assert!(args.get("p_units").is_none());
    }

    #[test]
    fn a_running_prediction_is_left_alone_and_a_provider_error_fails_nothing() {
        let deps = ScriptedDeps::default()
            .answer(
                "reconcile_candidates",
                Ok(json!({"items": [
                    {"generation_id": "g1", "prediction_id": "p1"},
                    {"generation_id": "g2", "prediction_id": "p2"},
                ]})),
            )
            .answer("next_provider_token", pool_token())
            .http(Ok(Inbound {
                status: 200,
                body: json!({"id": "p1", "status": "processing"}).to_string(),
            }))
            .answer("report_provider_token", Ok(json!({})))
            .answer("next_provider_token", pool_token())
            .http(Ok(Inbound {
                status: 503,
                body: "{}".into(),
            }))
            .answer("report_provider_token", Ok(json!({})));
        let summary = block_on(run(&deps, &RpcAuth::ServiceRole)).unwrap();
        assert_eq!(
            (&summary["pending"], &summary["errors"]),
            (&json!(1), &json!(1))
        );
        assert!(!deps.called().iter().any(|c| c == "handle_provider_webhook"));
    }
}
