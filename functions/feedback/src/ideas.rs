//! Ideas: propose, list (newest or most voted first), read, edit (authors while open, staff
//! always), move the status (staff), vote and unvote. SQL checks every field and who may.

use crate::{created, ok};
use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse, Params};
use genbase_shared::keyset::{self, Keyset, Position};
use genbase_shared::rpc::RpcArgs;
use genbase_shared::validate::{Id, Limit};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /v1/ideas`, passed to `api.create_idea` as it came.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct CreateIdea {
    title: String,
    #[serde(default)]
    description: Option<String>,
}

impl RpcArgs for CreateIdea {
    const FUNCTION: &'static str = "create_idea";
}

/// Where a page of ideas ends: its order's columns, with the vote count in the `top` order.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdeaPosition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vote_count: Option<i64>,
    created_at: String,
    id: String,
}

impl Position for IdeaPosition {
    fn id(&self) -> &str {
        &self.id
    }
}

/// `api.list_ideas`: the status and sort as the client named them (SQL knows the values; its
/// default sort is `new`), and the page.
#[derive(Debug, PartialEq, Serialize)]
struct ListIdeas<'q> {
    status: Option<&'q str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sort: Option<&'q str>,
    limit: Limit,
    cursor_created_at: Option<String>,
    cursor_id: Option<Id>,
    cursor_vote_count: Option<i64>,
}

impl RpcArgs for ListIdeas<'_> {
    const FUNCTION: &'static str = "list_ideas";
}

impl<'q> ListIdeas<'q> {
    fn parse(params: &Params<'q>) -> Result<ListIdeas<'q>, ApiError> {
        let keyset = Keyset::<IdeaPosition>::parse(params.get("cursor"), params.get("limit"))?;
        let cursor_id = keyset.after_id()?;
        let (cursor_created_at, cursor_vote_count) = match keyset.after {
            Some(p) => (Some(p.created_at), p.vote_count),
            None => (None, None),
        };
        Ok(ListIdeas {
            status: params.get("status"),
            sort: params.get("sort"),
            limit: keyset.limit,
            cursor_created_at,
            cursor_id,
            cursor_vote_count,
        })
    }
}

#[derive(Serialize)]
struct GetIdea {
    id: Id,
}

impl RpcArgs for GetIdea {
    const FUNCTION: &'static str = "get_idea";
}

/// `api.update_idea`: the patch as it came; SQL names the fields it takes.
#[derive(Serialize)]
struct UpdateIdea {
    id: Id,
    patch: Value,
}

impl RpcArgs for UpdateIdea {
    const FUNCTION: &'static str = "update_idea";
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: String,
    #[serde(default)]
    note: Option<String>,
}

/// `api.set_idea_status`: staff only (SQL's check).
#[derive(Serialize)]
struct SetIdeaStatus {
    id: Id,
    status: String,
    note: Option<String>,
}

impl RpcArgs for SetIdeaStatus {
    const FUNCTION: &'static str = "set_idea_status";
}

/// `api.vote_idea`: `vote` true adds the caller's vote, false takes it back.
#[derive(Serialize)]
struct VoteIdea {
    id: Id,
    vote: bool,
}

impl RpcArgs for VoteIdea {
    const FUNCTION: &'static str = "vote_idea";
}

/// `{title, description?}`: 201 with the idea.
pub async fn create(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let body: CreateIdea = req.json_body()?;
    created(deps, caller, &body).await
}

/// `?status=&sort=new|top&cursor=&limit=`: `{items, next_cursor}`, each with `voted`.
pub async fn list(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let params = Params::new(&req.query, &["status", "sort", "cursor", "limit"])?;
    let args = ListIdeas::parse(&params)?;
    let page = keyset::fetch::<_, IdeaPosition>(deps, &args, &caller.auth).await?;
    keyset::page_response(page)
}

pub async fn get(deps: &impl Deps, caller: &Caller, id: Id) -> Result<ApiResponse, ApiError> {
    ok(deps, caller, &GetIdea { id }).await
}

/// `{title?, description?}`: 200 with the idea.
pub async fn update(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let args = UpdateIdea {
        id,
        patch: req.json_body()?,
    };
    ok(deps, caller, &args).await
}

/// `{status, note?}`: 200 with the idea; its author is notified.
pub async fn set_status(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let body: StatusBody = req.json_body()?;
    let args = SetIdeaStatus {
        id,
        status: body.status,
        note: body.note,
    };
    ok(deps, caller, &args).await
}

/// `{idea_id, vote_count, voted}`; voting twice or unvoting twice changes nothing.
pub async fn vote(
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
    vote: bool,
) -> Result<ApiResponse, ApiError> {
    ok(deps, caller, &VoteIdea { id, vote }).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use genbase_shared::http::parse_query;
    use genbase_shared::rpc::sql_args;
    use genbase_shared::validate::Cursor;
    use serde_json::json;

    const ID: &str = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11";

    fn args_of(query: &str) -> Result<Value, ApiError> {
        let query = parse_query(query);
        let params = Params::new(&query, &["status", "sort", "cursor", "limit"])?;
        Ok(sql_args(&ListIdeas::parse(&params)?).unwrap())
    }

    #[test]
    fn a_top_cursor_reaches_sql_with_its_vote_count() {
        let cursor = Cursor::new(IdeaPosition {
            vote_count: Some(7),
            created_at: "2026-01-02T03:04:05+00:00".into(),
            id: ID.into(),
        })
        .encode();
        assert_eq!(
            args_of(&format!("sort=top&status=open&cursor={cursor}")).unwrap(),
            json!({"p_status": "open", "p_sort": "top", "p_limit": 20,
                   "p_cursor_created_at": "2026-01-02T03:04:05+00:00", "p_cursor_id": ID,
                   "p_cursor_vote_count": 7})
        );
    }

    #[test]
    fn the_first_page_leaves_the_sort_to_sql() {
        assert_eq!(
            args_of("").unwrap(),
            json!({"p_status": null, "p_limit": 20, "p_cursor_created_at": null,
                   "p_cursor_id": null, "p_cursor_vote_count": null})
        );
    }

    #[test]
    fn a_tampered_cursor_is_refused_before_sql() {
        let not_a_uuid = Cursor::new(IdeaPosition {
            vote_count: None,
            created_at: "2026-01-02T03:04:05+00:00".into(),
            id: "i1".into(),
        })
        .encode();
        for (query, message) in [
            (format!("cursor={not_a_uuid}"), "cursor must be a UUID"),
            (
                "cursor=zzz".to_string(),
                "cursor is not a cursor this API issued",
            ),
            (
                "order=top".to_string(),
                "unknown query parameter order (use status, sort, cursor, limit)",
            ),
        ] {
            let err = args_of(&query).unwrap_err();
            assert_eq!(
                (err.status, err.message.as_str()),
                (400, message),
                "{query}"
            );
        }
    }
}
