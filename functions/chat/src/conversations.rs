//! The conversations API: create (optionally from a prompt template), list (pinned first,
//! archived filter, full-text search), get, patch, delete (soft, one or many), and the
//! messages of one branch. One RPC each, as the caller: RLS decides whose conversations
//! these are, so another user's is simply not found.

use crate::patch::Patch;
use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::Params;
use genbase_shared::http::{deleted_one, ApiRequest, ApiResponse};
use genbase_shared::keyset::{self, Keyset, Position};
use genbase_shared::limits;
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::{Id, Limit, Page, ShortText};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `public.conversations.kind`.
const KINDS: [&str; 2] = ["chat", "assistant"];
const PATCH_FIELDS: &str = "title, settings, model, pinned or archived";

/// `POST /v1/conversations` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    model: Option<String>,
    title: Option<String>,
    settings: Option<Value>,
    template_id: Option<String>,
    kind: Option<String>,
    /// The workspace it belongs to: its members see it and its replies are billed to it.
    workspace_id: Option<String>,
}

/// `api.create_conversation`. No model takes the caller's preferred one, or the cheapest.
#[derive(Debug, PartialEq, Serialize)]
pub struct CreateConversation {
    title: Option<ShortText>,
    model: Option<ShortText>,
    settings: Option<Value>,
    template_id: Option<Id>,
    kind: &'static str,
    workspace_id: Option<Id>,
}

impl RpcArgs for CreateConversation {
    const FUNCTION: &'static str = "create_conversation";
}

impl CreateBody {
    fn validate(self) -> Result<CreateConversation, ApiError> {
        let settings = match self.settings {
            None | Some(Value::Null) => None,
            Some(s @ Value::Object(_)) => Some(s),
            Some(_) => return Err(ApiError::validation("settings must be a JSON object")),
        };
        Ok(CreateConversation {
            title: self
                .title
                .map(|t| ShortText::parse("title", &t, limits::TITLE_CHARS))
                .transpose()?,
            model: self
                .model
                .map(|m| ShortText::parse("model", &m, limits::MODEL_CHARS))
                .transpose()?,
            settings,
            template_id: self
                .template_id
                .map(|t| Id::parse("template_id", &t))
                .transpose()?,
            kind: self
                .kind
                .as_deref()
                .map(kind)
                .transpose()?
                .unwrap_or("chat"),
            workspace_id: self
                .workspace_id
                .map(|w| Id::parse("workspace_id", &w))
                .transpose()?,
        })
    }
}

fn kind(value: &str) -> Result<&'static str, ApiError> {
    KINDS
        .iter()
        .find(|k| **k == value)
        .copied()
        .ok_or_else(|| ApiError::validation("kind must be chat or assistant"))
}

/// Where the next page of conversations starts, as `api.list_conversations` reports it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationsPosition {
    pub pinned: bool,
    pub last_message_at: String,
    pub id: String,
}

impl Position for ConversationsPosition {
    fn id(&self) -> &str {
        &self.id
    }
}

/// `api.list_conversations`: `archived` null lists both.
#[derive(Debug, PartialEq, Serialize)]
pub struct ListConversations {
    archived: Option<bool>,
    q: Option<ShortText>,
    kind: Option<&'static str>,
    limit: Limit,
    cursor_pinned: Option<bool>,
    cursor_last_message_at: Option<String>,
    cursor_id: Option<Id>,
    workspace_id: Option<Id>,
}

impl RpcArgs for ListConversations {
    const FUNCTION: &'static str = "list_conversations";
}

impl ListConversations {
    /// `?archived=true|false|all&q=&kind=&workspace_id=&cursor=&limit=`; not archived unless
    /// asked; the caller's own conversations unless a workspace is named.
    pub fn from_query(query: &[(String, String)]) -> Result<ListConversations, ApiError> {
        let params = Params::new(
            query,
            &["archived", "q", "kind", "workspace_id", "cursor", "limit"],
        )?;
        let archived = match params.get("archived") {
            None | Some("false") => Some(false),
            Some("true") => Some(true),
            Some("all") => None,
            Some(_) => return Err(ApiError::validation("archived must be true, false or all")),
        };
        let page =
            Keyset::<ConversationsPosition>::parse(params.get("cursor"), params.get("limit"))?;
        Ok(ListConversations {
            archived,
            q: params
                .get("q")
                .map(|q| ShortText::parse("q", q, limits::Q_CHARS))
                .transpose()?,
            kind: params.get("kind").map(kind).transpose()?,
            limit: page.limit,
            cursor_id: page.after_id()?,
            cursor_pinned: page.after.as_ref().map(|c| c.pinned),
            cursor_last_message_at: page.after.map(|c| c.last_message_at),
            workspace_id: params
                .get("workspace_id")
                .map(|w| Id::parse("workspace_id", w))
                .transpose()?,
        })
    }
}

/// `api.get_conversation`.
#[derive(Serialize)]
struct GetConversation {
    id: Id,
}

impl RpcArgs for GetConversation {
    const FUNCTION: &'static str = "get_conversation";
}

/// `api.update_conversation`.
#[derive(Serialize)]
struct UpdateConversation {
    id: Id,
    patch: Patch,
}

impl RpcArgs for UpdateConversation {
    const FUNCTION: &'static str = "update_conversation";
}

/// `api.delete_conversations`: answers `{deleted: [ids], not_found: [ids]}`.
#[derive(Serialize)]
struct DeleteConversations {
    ids: Vec<Id>,
}

impl RpcArgs for DeleteConversations {
    const FUNCTION: &'static str = "delete_conversations";
}

/// `POST /v1/conversations/delete` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteBody {
    ids: Vec<String>,
}

impl DeleteBody {
    fn validate(self) -> Result<Vec<Id>, ApiError> {
        if !(1..=limits::DELETE_IDS_MAX).contains(&self.ids.len()) {
            return Err(ApiError::validation(format!(
                "ids must list 1 to {} conversation ids",
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

/// Where the page above starts: SQL's `next_before`, the oldest message of this page.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesPosition {
    pub before: String,
}

impl Position for MessagesPosition {
    fn id(&self) -> &str {
        &self.before
    }
}

/// `api.list_messages`: the branch ending at `leaf_id` (or the newest message), a page at a
/// time, oldest first within the page.
#[derive(Debug, PartialEq, Serialize)]
pub struct ListMessages {
    conversation_id: Id,
    leaf_id: Option<Id>,
    limit: Limit,
    before: Option<Id>,
}

impl RpcArgs for ListMessages {
    const FUNCTION: &'static str = "list_messages";
}

impl ListMessages {
    /// `?leaf_id=&cursor=&limit=`: a cursor already names its branch, so not both.
    pub fn from_query(
        conversation_id: Id,
        query: &[(String, String)],
    ) -> Result<ListMessages, ApiError> {
        let params = Params::new(query, &["leaf_id", "cursor", "limit"])?;
        let page = Keyset::<MessagesPosition>::parse(params.get("cursor"), params.get("limit"))?;
        let leaf_id = params
            .get("leaf_id")
            .map(|id| Id::parse("leaf_id", id))
            .transpose()?;
        if leaf_id.is_some() && page.after.is_some() {
            return Err(ApiError::validation("give leaf_id or cursor, not both"));
        }
        Ok(ListMessages {
            conversation_id,
            leaf_id,
            limit: page.limit,
            before: page.after_id()?,
        })
    }
}

pub async fn create(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let args = req.json_body::<CreateBody>()?.validate()?;
    Ok(ApiResponse::created(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

pub async fn list(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let args = ListConversations::from_query(&req.query)?;
    keyset::page_response(
        keyset::fetch::<_, ConversationsPosition>(deps, &args, &caller.auth).await?,
    )
}

pub async fn get(deps: &impl Deps, caller: &Caller, id: Id) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(
        deps.rpc()
            .invoke(&GetConversation { id }, &caller.auth)
            .await?,
    ))
}

pub async fn update(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let patch = Patch::parse(req.json_body()?, PATCH_FIELDS)?;
    Ok(ApiResponse::ok(
        deps.rpc()
            .invoke(&UpdateConversation { id, patch }, &caller.auth)
            .await?,
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
        .invoke(&DeleteConversations { ids: vec![id] }, &caller.auth)
        .await?;
    deleted_one(&answer, "conversation", "delete_conversations")
}

/// 200 with SQL's `{deleted, not_found}`: a bulk delete is not all or nothing.
pub async fn delete_many(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let ids = req.json_body::<DeleteBody>()?.validate()?;
    Ok(ApiResponse::ok(
        deps.rpc()
            .invoke(&DeleteConversations { ids }, &caller.auth)
            .await?,
    ))
}

pub async fn messages(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    id: Id,
) -> Result<ApiResponse, ApiError> {
    let args = ListMessages::from_query(id, &req.query)?;
    let answer = deps.rpc().invoke(&args, &caller.auth).await?;
    // SQL names the page above by its oldest message's id; the API gives every list a cursor.
    let (items, before) = keyset::read_answer(ListMessages::FUNCTION, "next_before", answer)?;
    keyset::page_response(Page::new(
        items,
        before.map(|before| MessagesPosition { before }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use genbase_shared::http::parse_query;
    use genbase_shared::rpc::sql_args;
    use genbase_shared::validate::Cursor;
    use serde_json::json;

    const ID: &str = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11";

    fn create(body: Value) -> Result<CreateConversation, ApiError> {
        serde_json::from_value::<CreateBody>(body)
            .unwrap()
            .validate()
    }

    #[test]
    fn a_create_body_reaches_sql_trimmed_with_chat_by_default() {
        let args = create(json!({"model": " m ", "title": " Hi ", "template_id": ID})).unwrap();
        assert_eq!(
            sql_args(&args).unwrap(),
            json!({"p_title": "Hi", "p_model": "m", "p_settings": null,
                   "p_template_id": ID, "p_kind": "chat", "p_workspace_id": null})
        );
        let args = create(
            json!({"kind": "assistant", "settings": {"temperature": 0.5},
                                 "workspace_id": ID}),
        )
        .unwrap();
        assert_eq!(
            sql_args(&args).unwrap(),
            json!({"p_title": null, "p_model": null, "p_settings": {"temperature": 0.5},
                   "p_template_id": null, "p_kind": "assistant", "p_workspace_id": ID})
        );
    }

    #[test]
    fn bad_create_bodies_are_refused() {
        for (body, message) in [
            (json!({"kind": "bot"}), "kind must be chat or assistant"),
            (json!({"settings": [1]}), "settings must be a JSON object"),
            (json!({"template_id": "t1"}), "template_id must be a UUID"),
            (json!({"workspace_id": "w"}), "workspace_id must be a UUID"),
            (json!({"title": "  "}), "title must be 1 to 200 characters"),
            (
                json!({"model": "m".repeat(limits::MODEL_CHARS + 1)}),
                "model must be 1 to 128 characters",
            ),
        ] {
            let err = create(body.clone()).unwrap_err();
            assert_eq!((err.status, err.message.as_str()), (400, message), "{body}");
        }
        assert!(serde_json::from_value::<CreateBody>(json!({"modle": "m"})).is_err());
    }

    #[test]
    fn the_list_query_reaches_sql_with_its_cursor_unpacked() {
        let cursor = Cursor::new(ConversationsPosition {
            pinned: true,
            last_message_at: "2026-01-02T03:04:05+00:00".into(),
            id: ID.into(),
        })
        .encode();
        let q = parse_query(&format!(
            "archived=all&q=+fox+&kind=chat&limit=5&cursor={cursor}&workspace_id={ID}"
        ));
        assert_eq!(
            sql_args(&ListConversations::from_query(&q).unwrap()).unwrap(),
            json!({"p_archived": null, "p_q": "fox", "p_kind": "chat", "p_limit": 5,
                   "p_cursor_pinned": true, "p_cursor_last_message_at": "2026-01-02T03:04:05+00:00",
                   "p_cursor_id": ID, "p_workspace_id": ID})
        );
        assert_eq!(
            sql_args(&ListConversations::from_query(&[]).unwrap()).unwrap(),
            json!({"p_archived": false, "p_q": null, "p_kind": null, "p_limit": 20,
                   "p_cursor_pinned": null, "p_cursor_last_message_at": null, "p_cursor_id": null,
                   "p_workspace_id": null})
        );
    }

    #[test]
    fn bad_list_queries_are_refused() {
        for (query, message) in [
            ("archived=yes", "archived must be true, false or all"),
            ("kind=bot", "kind must be chat or assistant"),
            ("q=", "q must be 1 to 200 characters"),
            ("limit=0", "limit must be an integer from 1 to 100"),
            ("cursor=zzz", "cursor is not a cursor this API issued"),
            (
                "pinned=true",
                "unknown query parameter pinned (use archived, q, kind, workspace_id, cursor, limit)",
            ),
        ] {
            let err = ListConversations::from_query(&parse_query(query)).unwrap_err();
            assert_eq!(
                (err.status, err.message.as_str()),
                (400, message),
                "{query}"
            );
        }
    }

    #[test]
    fn messages_take_a_leaf_or_a_cursor_not_both() {
        let conversation = Id::parse("id", ID).unwrap();
        let cursor = Cursor::new(MessagesPosition { before: ID.into() }).encode();
        let args =
            ListMessages::from_query(conversation, &parse_query(&format!("cursor={cursor}")))
                .unwrap();
        assert_eq!(
            sql_args(&args).unwrap(),
            json!({"p_conversation_id": ID, "p_leaf_id": null, "p_limit": 20, "p_before": ID})
        );
        for (query, message) in [
            (
                format!("leaf_id={ID}&cursor={cursor}"),
                "give leaf_id or cursor, not both",
            ),
            ("leaf_id=x".to_string(), "leaf_id must be a UUID"),
        ] {
            let err = ListMessages::from_query(conversation, &parse_query(&query)).unwrap_err();
            assert_eq!(
                (err.status, err.message.as_str()),
                (400, message),
                "{query}"
            );
        }
    }

    #[test]
    fn bulk_ids_are_1_to_the_limit_and_each_a_uuid() {
        let body = |ids: Vec<String>| DeleteBody { ids }.validate();
        assert_eq!(
            body(vec![]).unwrap_err().message,
            "ids must list 1 to 100 conversation ids"
        );
        assert_eq!(
            body(vec![ID.into(), "nope".into()]).unwrap_err().message,
            "ids[1] must be a UUID"
        );
    }
}
