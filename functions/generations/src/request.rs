//! `POST /v1/generations` body, parsed into the RPC's arguments. What it costs is not the
//! client's to say: SQL validates `params` against the model's declared parameters and
//! derives the units from them, so the body has no `units` and no `action`.

use crate::args::{CreateGeneration, GenerationKind};
use genbase_shared::error::ApiError;
use genbase_shared::limits;
use genbase_shared::validate::{Id, IdempotencyKey, Prompt, ShortText};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    kind: String,
    model: String,
    prompt: String,
    #[serde(default)]
    params: Option<Map<String, Value>>,
    /// Made in (and billed to) this workspace.
    #[serde(default)]
    workspace_id: Option<String>,
    /// Refused with a message that says why: older clients sent them.
    #[serde(default)]
    units: Option<Value>,
    #[serde(default)]
    action: Option<Value>,
}

impl StartBody {
    pub fn validate(self, idempotency_key: Option<&str>) -> Result<CreateGeneration, ApiError> {
        if self.units.is_some() {
            return Err(ApiError::validation(
                "units is decided by the server from params (num_outputs, duration, max_tokens, ...); do not send it",
            ));
        }
        if self.action.is_some() {
            return Err(ApiError::validation(
                "action follows from the model; do not send it",
            ));
        }
        let model = ShortText::parse("model", &self.model, limits::MODEL_CHARS)?;
        let prompt = Prompt::parse(&self.prompt)?;
        let idempotency_key = idempotency_key.map(IdempotencyKey::parse).transpose()?;
        Ok(CreateGeneration {
            kind: GenerationKind::parse(&self.kind)?,
            model,
            prompt,
            params: self.params.unwrap_or_default(),
            idempotency_key,
            workspace_id: self
                .workspace_id
                .map(|id| Id::parse("workspace_id", &id))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use genbase_shared::rpc::sql_args;
    use serde_json::json;

    fn parse(v: Value) -> Result<CreateGeneration, ApiError> {
        serde_json::from_value::<StartBody>(v)
            .map_err(|e| ApiError::validation(e.to_string()))?
            .validate(None)
    }

    #[test]
    fn params_go_to_sql_as_sent() {
        let s = parse(
            json!({"kind": "image", "model": "m", "prompt": " a cat ", "params": {"num_outputs": 3}}),
        )
        .unwrap();
        assert_eq!(
            sql_args(&s).unwrap(),
            json!({"p_kind": "image", "p_model": "m", "p_prompt": "a cat",
                   "p_params": {"num_outputs": 3}, "p_idempotency_key": null,
                   "p_workspace_id": null})
        );
    }

    #[test]
    fn a_workspace_is_passed_as_its_id() {
        let ws = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11";
        let s = parse(json!({"kind": "image", "model": "m", "prompt": "p", "workspace_id": ws}))
            .unwrap();
        assert_eq!(sql_args(&s).unwrap()["p_workspace_id"], ws);
        let err = parse(json!({"kind": "image", "model": "m", "prompt": "p", "workspace_id": "w"}))
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            (err.status, err.message.as_str()),
            (400, "workspace_id must be a UUID")
        );
    }

    #[test]
    fn bad_bodies_are_refused() {
        for v in [
            json!({"kind": "image", "model": "", "prompt": "p"}),
            json!({"kind": "image", "model": "m", "prompt": ""}),
            json!({"kind": "image", "model": "m", "prompt": "p", "units": 1}),
            json!({"kind": "image", "model": "m", "prompt": "p", "action": "generate_image"}),
            json!({"kind": "image", "model": "m", "prompt": "p", "credits": 0}),
            json!({"kind": "image", "model": "m", "prompt": "p", "params": [1]}),
            json!({"kind": "picture", "model": "m", "prompt": "p"}),
            json!({"kind": "image", "model": "m", "prompt": "p", "workspace_id": 7}),
        ] {
            assert_eq!(parse(v.clone()).map(|_| ()).unwrap_err().status, 400, "{v}");
        }
    }
}
