//! What every keyset list does around its own filters: the request's `cursor` and `limit` in,
//! and SQL's answer out as the API's page (`{items, next_cursor}`, the cursor opaque). Only
//! the list's position differs: the columns of its order, which the cursor carries.

use crate::deps::Deps;
use crate::error::ApiError;
use crate::http::ApiResponse;
use crate::rpc::{Rpc, RpcArgs, RpcAuth};
use crate::validate::{Cursor, Id, Limit, Page};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a list's next page starts: the columns of its order, ending with the row id that
/// breaks ties.
pub trait Position: Serialize + DeserializeOwned {
    /// The row id as the cursor carries it: text, until [`Keyset::after_id`] checks it.
    fn id(&self) -> &str;
}

/// A list request's page size, and the position its page starts after (none for the first).
pub struct Keyset<P> {
    pub limit: Limit,
    pub after: Option<P>,
}

impl<P: Position> Keyset<P> {
    /// From the `cursor` and `limit` query parameters.
    pub fn parse(cursor: Option<&str>, limit: Option<&str>) -> Result<Keyset<P>, ApiError> {
        let after = Cursor::<P>::parse(cursor)?.map(Cursor::into_position);
        Ok(Keyset {
            limit: Limit::parse(limit)?,
            after,
        })
    }

    /// The position's row id, checked as a UUID: a tampered cursor is a 400 naming the
    /// cursor before any network hop, not an error from SQL's cast.
    pub fn after_id(&self) -> Result<Option<Id>, ApiError> {
        self.after
            .as_ref()
            .map(|p| Id::parse("cursor", p.id()))
            .transpose()
    }
}

/// The position of the lists ordered newest first, id to break ties: generations and media.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewestFirst {
    pub created_at: String,
    pub id: String,
}

impl Position for NewestFirst {
    fn id(&self) -> &str {
        &self.id
    }
}

/// The paging arguments of a newest-first list's SQL function: `limit`, and
/// `cursor_created_at` and `cursor_id` (null for the first page). Flattened into the list's
/// own arguments.
#[derive(Debug, PartialEq, Serialize)]
pub struct NewestFirstArgs {
    limit: Limit,
    cursor_created_at: Option<String>,
    cursor_id: Option<Id>,
}

impl NewestFirstArgs {
    /// From the `cursor` and `limit` query parameters.
    pub fn parse(cursor: Option<&str>, limit: Option<&str>) -> Result<NewestFirstArgs, ApiError> {
        let keyset = Keyset::<NewestFirst>::parse(cursor, limit)?;
        Ok(NewestFirstArgs {
            limit: keyset.limit,
            cursor_id: keyset.after_id()?,
            cursor_created_at: keyset.after.map(|p| p.created_at),
        })
    }
}

/// What a list's SQL function answers, `{items, <next>}`: the items, and the position after
/// the page under the name `next` (absent or null on the last page). Taken apart in place:
/// the answer is already parsed, and a typed copy would cost a second pass over it. No items
/// array, or a position of another shape, is `function` misbehaving: a 502.
pub fn read_answer<N: DeserializeOwned>(
    function: &str,
    next: &str,
    mut answer: Value,
) -> Result<(Value, Option<N>), ApiError> {
    let bad =
        |what: &dyn std::fmt::Display| ApiError::bad_gateway(format!("{function} answered {what}"));
    let items = match answer.get_mut("items").map(Value::take) {
        Some(items @ Value::Array(_)) => items,
        _ => return Err(bad(&"no items")),
    };
    let position = match answer.get_mut(next).map(Value::take) {
        None | Some(Value::Null) => None,
        Some(position) => Some(serde_json::from_value(position).map_err(|e| bad(&e))?),
    };
    Ok((items, position))
}

/// One page of a list: its SQL function (`A::FUNCTION`) called with `args` as `auth`, and the
/// answer read with the position under `next_cursor`, as most lists report it.
pub async fn fetch<A: RpcArgs, P: Position>(
    deps: &impl Deps,
    args: &A,
    auth: &RpcAuth,
) -> Result<Page<P>, ApiError> {
    let answer = deps.rpc().invoke(args, auth).await?;
    page_of(A::FUNCTION, answer)
}

fn page_of<P: Position>(function: &str, answer: Value) -> Result<Page<P>, ApiError> {
    let (items, next) = read_answer(function, "next_cursor", answer)?;
    Ok(Page::new(items, next))
}

/// A page as the 200 answer to a list request.
pub fn page_response<P: Position>(page: Page<P>) -> Result<ApiResponse, ApiError> {
    let body = serde_json::to_value(page).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(ApiResponse::ok(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11";

    fn newest(id: &str) -> NewestFirst {
        NewestFirst {
            created_at: "2026-01-02T03:04:05+00:00".into(),
            id: id.into(),
        }
    }

    #[test]
    fn a_newest_first_request_reaches_sql_as_limit_and_cursor_columns() {
        let cursor = Cursor::new(newest(ID)).encode();
        let args = NewestFirstArgs::parse(Some(&cursor), Some("5")).unwrap();
        assert_eq!(
            serde_json::to_value(args).unwrap(),
            json!({"limit": 5, "cursor_created_at": "2026-01-02T03:04:05+00:00", "cursor_id": ID})
        );
        let first = NewestFirstArgs::parse(None, None).unwrap();
        assert_eq!(
            serde_json::to_value(first).unwrap(),
            json!({"limit": 20, "cursor_created_at": null, "cursor_id": null})
        );
    }

    #[test]
    fn bad_cursors_and_limits_are_refused_naming_the_parameter() {
        let not_a_uuid = Cursor::new(newest("g1")).encode();
        for (cursor, limit, message) in [
            (Some("zzz"), None, "cursor is not a cursor this API issued"),
            (Some(not_a_uuid.as_str()), None, "cursor must be a UUID"),
            (None, Some("0"), "limit must be an integer from 1 to 100"),
        ] {
            let err = NewestFirstArgs::parse(cursor, limit).unwrap_err();
            assert_eq!((err.status, err.message.as_str()), (400, message));
        }
    }

    #[test]
    fn sql_s_position_becomes_the_opaque_next_cursor() {
        let answer = json!({"items": [{"id": "a"}], "next_cursor": newest(ID)});
        let page = page_of::<NewestFirst>("list_things", answer).unwrap();
        let body = page_response(page).unwrap().body.unwrap();
        assert_eq!(body["items"], json!([{"id": "a"}]));
        let cursor = Cursor::<NewestFirst>::parse(body["next_cursor"].as_str())
            .unwrap()
            .unwrap();
        assert_eq!(cursor.into_position().id, ID);
        for last in [
            json!({"items": []}),
            json!({"items": [], "next_cursor": null}),
        ] {
            let page = page_of::<NewestFirst>("list_things", last).unwrap();
            assert_eq!(
                page_response(page).unwrap().body.unwrap(),
                json!({"items": [], "next_cursor": null})
            );
        }
    }

    #[test]
    fn a_position_may_stand_under_another_name() {
        let answer = json!({"items": [], "next_before": ID});
        let (items, before) = read_answer::<String>("list_things", "next_before", answer).unwrap();
        assert_eq!((items, before.as_deref()), (json!([]), Some(ID)));
    }

    #[test]
    fn an_answer_without_items_or_with_a_foreign_position_is_a_bad_gateway() {
        for (answer, message) in [
            (
                json!({"next_cursor": null}),
                "list_things answered no items",
            ),
            (json!({"items": {}}), "list_things answered no items"),
            (json!([]), "list_things answered no items"),
        ] {
            let err = page_of::<NewestFirst>("list_things", answer).unwrap_err();
            assert_eq!((err.status, err.cause.as_deref()), (502, Some(message)));
        }
        let foreign = json!({"items": [], "next_cursor": {"id": 1}});
        let err = page_of::<NewestFirst>("list_things", foreign).unwrap_err();
        assert_eq!(err.status, 502);
    }
}
