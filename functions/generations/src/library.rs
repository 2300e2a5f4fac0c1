//! The media library's side of generations: `PATCH /v1/generations/:id` (favorite, title),
//! `DELETE /v1/generations/:id` and `POST /v1/generations/delete` (soft delete, one or many;
//! the files go afterwards and the money history stays), and the signed URLs with which every
//! read returns a generation's stored outputs. Postgres decides whose generations these are
//! (RLS, the column grants): ids that are not the caller's are simply not found.

use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{deleted_one, ApiRequest, ApiResponse};
use genbase_shared::limits;
use genbase_shared::rpc::{Rpc, RpcArgs, RpcAuth};
use genbase_shared::storage::render_outputs;
use genbase_shared::validate::{Id, ShortText};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a generation's owner may change: `is_favorite`, and `title` (null clears it). Sent to
/// SQL as the JSON object of the fields to change.
#[derive(Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct GenerationPatch(Map<String, Value>);

impl GenerationPatch {
    pub fn parse(body: Value) -> Result<GenerationPatch, ApiError> {
        let Value::Object(fields) = body else {
            return Err(ApiError::validation(
                "body must be a JSON object with is_favorite or title",
            ));
        };
        if fields.is_empty() {
            return Err(ApiError::validation(
                "nothing to update: send is_favorite or title",
            ));
        }
        let mut patch = Map::new();
        for (key, value) in fields {
            let clean = match (key.as_str(), value) {
                ("is_favorite", v @ Value::Bool(_)) => v,
                ("is_favorite", _) => {
                    return Err(ApiError::validation("is_favorite must be true or false"))
                }
                ("title", Value::Null) => Value::Null,
                ("title", Value::String(s)) => {
                    Value::String(ShortText::parse("title", &s, limits::TITLE_CHARS)?.into_string())
                }
                ("title", _) => {
                    return Err(ApiError::validation(format!(
                        "title must be 1 to {} characters, or null to clear it",
                        limits::TITLE_CHARS
                    )))
                }
                _ => {
                    return Err(ApiError::validation(format!(
                        "unknown field: {key} (is_favorite and title can be changed)"
                    )))
                }
            };
            patch.insert(key, clean);
        }
        Ok(GenerationPatch(patch))
    }
}

/// `api.update_generation`.
#[derive(Serialize)]
struct UpdateGeneration {
    id: Id,
    patch: GenerationPatch,
}

impl RpcArgs for UpdateGeneration {
    const FUNCTION: &'static str = "update_generation";
}

/// `api.delete_generations`: answers `{deleted: [ids], not_found: [ids]}`.
#[derive(Serialize)]
struct DeleteGenerations {
    ids: Vec<Id>,
}

impl RpcArgs for DeleteGenerations {
    const FUNCTION: &'static str = "delete_generations";
}

/// `POST /v1/generations/delete` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteBody {
    ids: Vec<String>,
}

impl DeleteBody {
    fn validate(self) -> Result<Vec<Id>, ApiError> {
        if !(1..=limits::DELETE_IDS_MAX).contains(&self.ids.len()) {
            return Err(ApiError::validation(format!(
                "ids must list 1 to {} generation ids",
                limits::DELETE_IDS_MAX
            )));
        }
        self.ids
            .iter()
            .enumerate()
            .map(|(i, id)| Id::parse(&format!("ids[{i}]"), id))
            .collect()
    }
}

pub async fn update(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let patch = GenerationPatch::parse(req.json_body()?)?;
    let generation = deps
        .rpc()
        .invoke(&UpdateGeneration { id, patch }, &caller.auth)
        .await?;
    Ok(ApiResponse::ok(
        rendered(deps, &caller.auth, generation).await?,
    ))
}

/// 204 once deleted; 404 when it is not the caller's, or already deleted.
pub async fn delete_one(
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let answer = deps
        .rpc()
        .invoke(&DeleteGenerations { ids: vec![id] }, &caller.auth)
        .await?;
    deleted_one(&answer, "generation", "delete_generations")
}

/// 200 with SQL's `{deleted, not_found}`: a bulk delete is not all or nothing.
pub async fn delete_many(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let body: DeleteBody = req.json_body()?;
    let ids = body.validate()?;
    let answer = deps
        .rpc()
        .invoke(&DeleteGenerations { ids }, &caller.auth)
        .await?;
    Ok(ApiResponse::ok(answer))
}

/// One generation with its stored outputs signed for `auth`.
pub async fn rendered(
    deps: &impl Deps,
    auth: &RpcAuth,
    mut generation: Value,
) -> Result<Value, ApiError> {
    render_outputs(deps, auth, &mut [&mut generation]).await?;
    Ok(generation)
}

/// A list of generations (a page's items), signed in one Storage request.
pub async fn render_items(
    deps: &impl Deps,
    auth: &RpcAuth,
    items: &mut Value,
) -> Result<(), ApiError> {
    if let Some(items) = items.as_array_mut() {
        let mut items: Vec<&mut Value> = items.iter_mut().collect();
        render_outputs(deps, auth, &mut items).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_patch_keeps_only_checked_fields() {
        let patch =
            GenerationPatch::parse(json!({"is_favorite": true, "title": "  Fox  "})).unwrap();
        assert_eq!(
            serde_json::to_value(patch).unwrap(),
            json!({"is_favorite": true, "title": "Fox"})
        );
        let clear = GenerationPatch::parse(json!({"title": null})).unwrap();
        assert_eq!(serde_json::to_value(clear).unwrap(), json!({"title": null}));
    }

    #[test]
    fn bad_patches_are_refused() {
        let long = "t".repeat(limits::TITLE_CHARS + 1);
        for (body, message) in [
            (
                json!([]),
                "body must be a JSON object with is_favorite or title",
            ),
            (json!({}), "nothing to update: send is_favorite or title"),
            (
                json!({"is_favorite": "yes"}),
                "is_favorite must be true or false",
            ),
            (
                json!({"title": 5}),
                "title must be 1 to 200 characters, or null to clear it",
            ),
            (json!({"title": "  "}), "title must be 1 to 200 characters"),
            (json!({"title": long}), "title must be 1 to 200 characters"),
            (
                json!({"title": "a\u{202e}b"}),
                "title must not contain control characters",
            ),
            (
                json!({"prompt": "x"}),
                "unknown field: prompt (is_favorite and title can be changed)",
            ),
        ] {
            let err = GenerationPatch::parse(body.clone()).unwrap_err();
            assert_eq!((err.status, err.message.as_str()), (400, message), "{body}");
        }
    }

    #[test]
    fn bulk_ids_are_1_to_the_limit_and_each_a_uuid() {
        let id = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11".to_string();
        let body = |ids: Vec<String>| DeleteBody { ids }.validate();
        assert_eq!(
            body(vec![id.clone(); limits::DELETE_IDS_MAX])
                .unwrap()
                .len(),
            100
        );
        for ids in [vec![], vec![id.clone(); limits::DELETE_IDS_MAX + 1]] {
            assert_eq!(
                body(ids).unwrap_err().message,
                "ids must list 1 to 100 generation ids"
            );
        }
        assert_eq!(
            body(vec![id, "nope".into()]).unwrap_err().message,
            "ids[1] must be a UUID"
        );
    }
}
