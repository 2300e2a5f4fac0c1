//! Changing and deleting one row by id, as memories and prompt templates do it: one RPC as
//! the caller, `api.update_<row>(id, patch)` or `api.delete_<row>(id)`. SQL checks each
//! field of the patch and whose row it is (RLS, and the function's own checks).

use crate::patch::Patch;
use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::Id;
use serde::Serialize;
use std::marker::PhantomData;

/// A kind of row with an update and a delete RPC of that shape.
pub trait Editable {
    const UPDATE: &'static str;
    const DELETE: &'static str;
    /// What its owner may change, for the message about an empty or non-object patch.
    const FIELDS: &'static str;
}

/// `api.update_<row>`.
#[derive(Serialize)]
struct Update<R> {
    id: Id,
    patch: Patch,
    #[serde(skip)]
    row: PhantomData<R>,
}

impl<R: Editable> RpcArgs for Update<R> {
    const FUNCTION: &'static str = R::UPDATE;
}

/// `api.delete_<row>`.
#[derive(Serialize)]
struct Delete<R> {
    id: Id,
    #[serde(skip)]
    row: PhantomData<R>,
}

impl<R: Editable> RpcArgs for Delete<R> {
    const FUNCTION: &'static str = R::DELETE;
}

/// 200 with the changed row, as SQL answers it.
pub async fn update<R: Editable>(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let patch = Patch::parse(req.json_body()?, R::FIELDS)?;
    let args = Update::<R> {
        id,
        patch,
        row: PhantomData,
    };
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// 204 once deleted; SQL's error otherwise.
pub async fn delete<R: Editable>(
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let args = Delete::<R> {
        id,
        row: PhantomData,
    };
    deps.rpc().invoke(&args, &caller.auth).await?;
    Ok(ApiResponse::no_content())
}

#[cfg(test)]
mod tests {
    use super::*;
    use genbase_shared::rpc::sql_args;
    use serde_json::json;

    struct Note;

    impl Editable for Note {
        const UPDATE: &'static str = "update_note";
        const DELETE: &'static str = "delete_note";
        const FIELDS: &'static str = "text";
    }

    #[test]
    fn the_row_names_the_functions_and_only_id_and_patch_reach_sql() {
        let id = Id::parse("id", "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11").unwrap();
        let update = Update::<Note> {
            id,
            patch: Patch::parse(json!({"text": "hi"}), Note::FIELDS).unwrap(),
            row: PhantomData,
        };
        assert_eq!(Update::<Note>::FUNCTION, "update_note");
        assert_eq!(
            sql_args(&update).unwrap(),
            json!({"p_id": id.to_string(), "p_patch": {"text": "hi"}})
        );
        let delete = Delete::<Note> {
            id,
            row: PhantomData,
        };
        assert_eq!(Delete::<Note>::FUNCTION, "delete_note");
        assert_eq!(sql_args(&delete).unwrap(), json!({"p_id": id.to_string()}));
    }
}
