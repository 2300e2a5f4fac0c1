//! Document chat: which of the user's files a conversation reads (`PUT
//! /v1/conversations/:id/files`), and, for a reply in a conversation with document chat on,
//! the excerpts of them that answer the user's message. SQL picks the excerpts and rewrites
//! the provider's request (`api.add_reply_sources`); this embeds the question first, as a
//! batch charged to the user like any embedding.

use genbase_shared::deps::{Caller, Deps};
use genbase_shared::embeddings;
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::{Rpc, RpcArgs, RpcAuth};
use genbase_shared::validate::Id;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilesBody {
    file_ids: Vec<String>,
}

/// `api.set_conversation_files`, as the user.
#[derive(Serialize)]
struct SetConversationFiles {
    conversation_id: Id,
    file_ids: Vec<Id>,
}

impl RpcArgs for SetConversationFiles {
    const FUNCTION: &'static str = "set_conversation_files";
}

/// Replaces the conversation's files: 200 `{conversation_id, file_ids}`. SQL checks that
/// the conversation and every file are the caller's.
pub async fn set_files(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    conversation_id: Id,
) -> Result<ApiResponse, ApiError> {
    let body: FilesBody = req.json_body()?;
    let file_ids = body
        .file_ids
        .iter()
        .map(|id| Id::parse("file_ids", id))
        .collect::<Result<_, _>>()?;
    let args = SetConversationFiles {
        conversation_id,
        file_ids,
    };
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// `api.begin_query_embedding`, as the user: the question's embedding is theirs to pay.
#[derive(Serialize)]
struct BeginQueryEmbedding<'a> {
    text: &'a str,
}

impl RpcArgs for BeginQueryEmbedding<'_> {
    const FUNCTION: &'static str = "begin_query_embedding";
}

/// `api.add_reply_sources`, as the service role.
#[derive(Serialize)]
struct AddReplySources<'a> {
    message_id: &'a str,
    embedding: Value,
}

impl RpcArgs for AddReplySources<'_> {
    const FUNCTION: &'static str = "add_reply_sources";
}

/// The request with the excerpts that answer `question` and the sources they came from, for
/// the begun reply `reply_id`. `None` when that could not be done (the embedding failed, or
/// credits ran short): the reply goes on without documents rather than not at all, since its
/// hold is already placed.
pub async fn add_sources(
    deps: &impl Deps,
    caller: &Caller,
    reply_id: &str,
    question: &str,
) -> Option<(Value, Value)> {
    let found = async {
        let begun = deps
            .rpc()
            .invoke(&BeginQueryEmbedding { text: question }, &caller.auth)
            .await?;
        let embedding = embeddings::run_batch(deps, &begun)
            .await?
            .vectors
            .pop()
            .ok_or_else(|| ApiError::bad_gateway("no vector for the question"))?;
        let args = AddReplySources {
            message_id: reply_id,
            embedding,
        };
        deps.rpc().invoke(&args, &RpcAuth::ServiceRole).await
    };
    match found.await {
        Ok(mut added) => Some((added["request"].take(), added["sources"].take())),
        Err(e) => {
            deps.log_error(&format!("chat reply {reply_id}: no document context: {e}"));
            None
        }
    }
}
