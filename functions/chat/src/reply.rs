//! Sending a message and getting the reply (`POST /v1/conversations/:id/messages`), and
//! asking a running reply to stop. SQL decides everything that costs: `api.begin_reply`
//! stores the user's message, builds the provider's request and holds the credits;
//! `api.finish_reply` stores the reply and settles the hold. This module only carries the
//! request to the provider and the answer back, and makes sure every begun reply is finished.
//!
//! The reply comes whole, as one JSON answer. `"stream": true` is accepted and answered the
//! same way until streaming (the AI SDK's UI message stream) lands, so a client asking for a
//! stream still gets its reply.

use crate::providers::{self, ChatRequest, Completion, Failure};
use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::{Rpc, RpcArgs, RpcAuth};
use genbase_shared::validate::Id;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The request body; SQL checks the content's length and the attachments.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    content: Option<String>,
    parent_id: Option<String>,
    edit_of: Option<String>,
    regenerate_of: Option<String>,
    /// Upload ids.
    attachments: Option<Value>,
    /// Read for its type only: every reply is answered whole for now (see the module doc).
    #[serde(rename = "stream")]
    _stream: Option<bool>,
}

/// `api.begin_reply`. Absent fields are left out, not sent as null, so that SQL tells "no
/// attachments" from a JSON `null` it would refuse.
#[derive(Serialize)]
struct BeginReply {
    conversation_id: Id,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: Option<Id>,
    #[serde(skip_serializing_if = "Option::is_none")]
    regenerate_of: Option<Id>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attachments: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    edit_of: Option<Id>,
}

impl RpcArgs for BeginReply {
    const FUNCTION: &'static str = "begin_reply";
}

/// `api.finish_reply`, as the service role.
#[derive(Serialize)]
struct FinishReply<'a> {
    message_id: &'a str,
    content: Option<&'a str>,
    status: &'static str,
    tokens_in: Option<i64>,
    tokens_out: Option<i64>,
    error: Option<&'static str>,
}

impl RpcArgs for FinishReply<'_> {
    const FUNCTION: &'static str = "finish_reply";
}

impl<'a> FinishReply<'a> {
    /// Complete with the text and the provider's counts, or failed with our words for the
    /// failure and whatever counts the provider still reported (none: SQL estimates, or
    /// charges nothing for a reply that produced nothing).
    fn of(message_id: &'a str, outcome: &'a Result<Completion, Failure>) -> FinishReply<'a> {
        let (content, status, usage, error) = match outcome {
            Ok(c) => (Some(c.content.as_str()), "complete", c.usage, None),
            Err(f) => (None, "failed", f.usage, Some(f.message)),
        };
        FinishReply {
            message_id,
            content,
            status,
            tokens_in: usage.tokens_in,
            tokens_out: usage.tokens_out,
            error,
        }
    }
}

/// `api.stop_reply`, as the user.
#[derive(Serialize)]
struct StopReply {
    message_id: Id,
}

impl RpcArgs for StopReply {
    const FUNCTION: &'static str = "stop_reply";
}

impl SendBody {
    fn validate(self, conversation_id: Id) -> Result<BeginReply, ApiError> {
        let id =
            |field: &str, value: Option<String>| value.map(|v| Id::parse(field, &v)).transpose();
        Ok(BeginReply {
            conversation_id,
            content: self.content,
            parent_id: id("parent_id", self.parent_id)?,
            regenerate_of: id("regenerate_of", self.regenerate_of)?,
            attachments: self.attachments,
            edit_of: id("edit_of", self.edit_of)?,
        })
    }
}

/// 201 `{user_message, assistant_message, credits_charged}`; 502 when the provider failed
/// (the reply is stored as failed, charged only for what the provider reported); SQL's
/// errors (402 credits short, 404, 409 a reply still running) as they are, with nothing
/// written and no provider called.
pub async fn send(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    conversation_id: Id,
) -> Result<ApiResponse, ApiError> {
    let body: SendBody = req.json_body()?;
    let args = body.validate(conversation_id)?;
    let begun = deps.rpc().invoke(&args, &caller.auth).await?;
    let reply_id = begun["assistant_message"]["id"]
        .as_str()
        .ok_or_else(|| ApiError::internal("begin_reply returned no assistant message id"))?;

    // From here every path finishes the reply: the hold must not wait for the sweep.
    let outcome = match serde_json::from_value::<ChatRequest>(begun["request"].clone()) {
        Ok(request) => providers::complete(deps, &request).await,
        Err(e) => Err(Failure::new(
            "the reply could not be started",
            format!("begin_reply's request: {e}"),
        )),
    };
    let finish = FinishReply::of(reply_id, &outcome);
    let finished = finish_reply(deps, &finish).await?;
    match outcome {
        Ok(_) => Ok(ApiResponse::created(json!({
            "user_message": begun["user_message"],
            "assistant_message": finished["message"],
            "credits_charged": finished["credits_charged"],
        }))),
        Err(f) => Err(ApiError::bad_gateway(f.cause)),
    }
}

/// `finish_reply` is exactly-once in SQL (a repeat changes nothing and answers as the first
/// did), so one retry after a server-side failure is safe; it spares the user's held credits
/// the 15 minutes until the stuck-reply sweep would finish the reply.
async fn finish_reply(deps: &impl Deps, args: &FinishReply<'_>) -> Result<Value, ApiError> {
    match deps.rpc().invoke(args, &RpcAuth::ServiceRole).await {
        Err(e) if e.is_server_error() => deps.rpc().invoke(args, &RpcAuth::ServiceRole).await,
        done => done,
    }
}

/// Asks a running reply to stop: the message, with `stop_requested_at`. 404 when it is not
/// the caller's reply, 409 when it has already ended.
pub async fn stop(
    deps: &impl Deps,
    caller: &Caller,
    message_id: Id,
) -> Result<ApiResponse, ApiError> {
    let message = deps
        .rpc()
        .invoke(&StopReply { message_id }, &caller.auth)
        .await?;
    Ok(ApiResponse::ok(message))
}

#[cfg(test)]
#[path = "reply_tests.rs"]
mod tests;
