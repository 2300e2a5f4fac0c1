//! The generations linked to a shot (003's `shot_generations`): a link's position is null
//! when the generation is attached but not in the shot editor, otherwise its place among the
//! positioned ones (0..n-1). Attach (only a generation the caller may attach: SQL checks),
//! list (`?unpositioned=true` for the Generations Pane's filter), position or unposition,
//! detach.

use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse, Params};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::Id;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachBody {
    generation_id: String,
    /// Absent or null: attached, unpositioned.
    position: Option<i32>,
}

/// `api.attach_generation`.
#[derive(Serialize)]
struct Attach {
    project_id: Id,
    shot_id: Id,
    generation_id: Id,
    position: Option<i32>,
}

impl RpcArgs for Attach {
    const FUNCTION: &'static str = "attach_generation";
}

/// `api.list_shot_generations`.
#[derive(Debug, PartialEq, Serialize)]
struct ListLinks {
    project_id: Id,
    shot_id: Id,
    unpositioned: Option<bool>,
}

impl RpcArgs for ListLinks {
    const FUNCTION: &'static str = "list_shot_generations";
}

/// `api.position_generation`: a position, or null to unposition.
#[derive(Serialize)]
struct Position {
    project_id: Id,
    shot_id: Id,
    generation_id: Id,
    position: Option<i32>,
}

impl RpcArgs for Position {
    const FUNCTION: &'static str = "position_generation";
}

#[derive(Serialize)]
struct Detach {
    project_id: Id,
    shot_id: Id,
    generation_id: Id,
}

impl RpcArgs for Detach {
    const FUNCTION: &'static str = "detach_generation";
}

/// A PATCH body's `position`: required, an integer or null (unposition). Absent is refused
/// rather than read as null, so a body that forgot it does not take a generation out of the
/// editor.
fn position_of(body: Map<String, Value>) -> Result<Option<i32>, ApiError> {
    let bad = || ApiError::validation("body must be {\"position\": an integer or null}");
    if body.len() != 1 {
        return Err(bad());
    }
    match body.get("position") {
        Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// `{generation_id, position?}`: 201 with the link at its position (null: unpositioned).
pub async fn attach(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    project_id: Id,
    shot_id: Id,
) -> Result<ApiResponse, ApiError> {
    let body: AttachBody = req.json_body()?;
    let args = Attach {
        project_id,
        shot_id,
        generation_id: Id::parse("generation_id", &body.generation_id)?,
        position: body.position,
    };
    Ok(ApiResponse::created(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// `?unpositioned=true|false`: `{items}`, the positioned ones first in order, then the
/// unpositioned ones newest first (a shot holds at most `generations_per_shot`).
pub async fn list(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    project_id: Id,
    shot_id: Id,
) -> Result<ApiResponse, ApiError> {
    let params = Params::new(&req.query, &["unpositioned"])?;
    let args = ListLinks {
        project_id,
        shot_id,
        unpositioned: params.flag("unpositioned")?,
    };
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// `{position: n | null}`: 200 with the link where it now is.
pub async fn position(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    project_id: Id,
    shot_id: Id,
    generation_id: Id,
) -> Result<ApiResponse, ApiError> {
    let args = Position {
        project_id,
        shot_id,
        generation_id,
        position: position_of(req.json_body()?)?,
    };
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// 204: the generation itself stays.
pub async fn detach(
    deps: &impl Deps,
    caller: &Caller,
    project_id: Id,
    shot_id: Id,
    generation_id: Id,
) -> Result<ApiResponse, ApiError> {
    let args = Detach {
        project_id,
        shot_id,
        generation_id,
    };
    deps.rpc().invoke(&args, &caller.auth).await?;
    Ok(ApiResponse::no_content())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn a_position_is_an_integer_or_null_and_must_be_sent() {
        assert_eq!(position_of(body(json!({"position": 2}))).unwrap(), Some(2));
        assert_eq!(position_of(body(json!({"position": null}))).unwrap(), None);
        for bad in [
            json!({}),
            json!({"position": 1.5}),
            json!({"position": "1"}),
            json!({"position": 3_000_000_000_i64}),
            json!({"position": 1, "shot_id": "x"}),
        ] {
            let err = position_of(body(bad.clone())).unwrap_err();
            assert_eq!(
                (err.status, err.message.as_str()),
                (400, "body must be {\"position\": an integer or null}"),
                "{bad}"
            );
        }
    }
}
