//! `POST /v1/loras/:id/train` `{model, params?}` with an `Idempotency-Key`: SQL reserves the
//! run's credits and records it as a generation of kind `training` in one transaction
//! (`api.start_lora_training`: the units come from the trainer's validated params, never from
//! the client); then the run goes to the provider and is marked submitted, or, when it cannot
//! be submitted, fails and releases its hold (the LoRA follows it to `failed`). A replay of
//! the same key answers the first run and submits nothing again.

use crate::provider::{self, DESTINATION_VAR};
use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::{Rpc, RpcArgs, RpcAuth};
use genbase_shared::validate::{Id, IdempotencyKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainBody {
    model: String,
    #[serde(default)]
    params: Option<Map<String, Value>>,
}

/// `api.start_lora_training`: `params` go as sent (SQL checks them against the trainer's
/// declared parameters); the key is required there.
#[derive(Serialize)]
struct StartTraining {
    lora_id: Id,
    model: String,
    params: Map<String, Value>,
    idempotency_key: Option<IdempotencyKey>,
}

impl RpcArgs for StartTraining {
    const FUNCTION: &'static str = "start_lora_training";
}

/// `api.mark_generation_submitted`.
#[derive(Serialize)]
struct MarkSubmitted<'a> {
    generation_id: &'a str,
    provider: &'static str,
    prediction_id: &'a str,
}

impl RpcArgs for MarkSubmitted<'_> {
    const FUNCTION: &'static str = "mark_generation_submitted";
}

/// `api.fail_generation_submission`.
#[derive(Serialize)]
struct FailSubmission<'a> {
    generation_id: &'a str,
    error: &'a str,
}

impl RpcArgs for FailSubmission<'_> {
    const FUNCTION: &'static str = "fail_generation_submission";
}

/// 202 `{lora, generation, replayed: false}` for a new run, 200 with `replayed: true` for a
/// replay of its key.
pub async fn start(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    lora_id: Id,
) -> Result<ApiResponse, ApiError> {
    let body: TrainBody = req.json_body()?;
    let args = StartTraining {
        lora_id,
        model: body.model,
        params: body.params.unwrap_or_default(),
        idempotency_key: req
            .header("idempotency-key")
            .map(IdempotencyKey::parse)
            .transpose()?,
    };
    // Before anything is reserved: without a destination no run could be submitted.
    let destination = deps
        .var(DESTINATION_VAR)
        .ok_or_else(|| ApiError::unavailable(format!("{DESTINATION_VAR} is not configured")))?;
    let started = deps.rpc().invoke(&args, &caller.auth).await?;
    let fresh = started["created"].as_bool().unwrap_or(false);
    let mut generation = started["generation"].clone();
    if fresh && started["route"] == "provider" {
        let id = generation["id"].as_str().unwrap_or_default().to_string();
        let provider_ref = started["provider_ref"].as_str().unwrap_or_default();
        match provider::submit(
            deps,
            &destination,
            provider_ref,
            &id,
            &started["provider_input"],
        )
        .await
        {
            Ok(training_id) => {
                let args = MarkSubmitted {
                    generation_id: &id,
                    provider: "replicate",
                    prediction_id: &training_id,
                };
                generation = deps.rpc().invoke(&args, &RpcAuth::ServiceRole).await?;
            }
            Err(e) => {
                // The hold must not outlive a submission that never happened.
                let detail = e.cause.as_deref().unwrap_or(&e.message);
                let args = FailSubmission {
                    generation_id: &id,
                    error: detail,
                };
                deps.rpc().invoke(&args, &RpcAuth::ServiceRole).await?;
                return Err(e);
            }
        }
    }
    let status = if fresh { 202 } else { 200 };
    Ok(ApiResponse::json(
        status,
        json!({ "lora": started["lora"], "generation": generation, "replayed": !fresh }),
    ))
}
