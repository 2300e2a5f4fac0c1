//! Sending a message and getting the reply (`POST /v1/conversations/:id/messages`), and
//! asking a running reply to stop. SQL decides everything that costs: `api.begin_reply`
//! stores the user's message, builds the provider's request and holds the credits;
//! `api.finish_reply` stores the reply and settles the hold. This module carries the request
//! to the provider and the reply back ([`relay`]), streamed as the AI SDK's UI message stream
//! (the default) or whole (`"stream": false`), and makes sure every begun reply is finished.

use crate::documents;
use crate::providers::ChatRequest;
use crate::relay::{relay, OnLeave, Relayed};
use crate::send_body::SendBody;
use crate::titles;
use crate::ui_stream::{self, Ending, UiStream, Unread};
use genbase_shared::deps::{Caller, Deps, EventSink};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::{Rpc, RpcArgs, RpcAuth};
use genbase_shared::validate::Id;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `api.finish_reply`, as the service role.
#[derive(Serialize)]
struct FinishReply<'a> {
    message_id: &'a str,
    content: &'a str,
    status: &'static str,
    tokens_in: Option<i64>,
    tokens_out: Option<i64>,
    error: Option<&'static str>,
}

impl RpcArgs for FinishReply<'_> {
    const FUNCTION: &'static str = "finish_reply";
}

impl<'a> FinishReply<'a> {
    /// What came, with the provider's counts where it gave them (SQL estimates the rest).
    fn of(message_id: &'a str, relayed: &'a Relayed) -> FinishReply<'a> {
        let (status, error) = match relayed.ending {
            Ending::Complete => ("complete", None),
            Ending::Stopped => ("stopped", None),
            Ending::Failed(message) => ("failed", Some(message)),
        };
        FinishReply {
            message_id,
            content: &relayed.content,
            status,
            tokens_in: relayed.usage.tokens_in,
            tokens_out: relayed.usage.tokens_out,
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

/// What the stream writer needs from the request (see [`write_stream`]).
#[derive(Serialize, Deserialize)]
struct Work {
    reply_id: String,
    request: Value,
    on_leave: OnLeave,
    /// Given to the client in the stream's `start` part.
    metadata: Value,
    /// The document excerpts in the request (document chat), sent as source parts.
    #[serde(default)]
    sources: Value,
}

/// Streamed (the default): 200 and the UI message stream, whose `start` part is written at
/// once and whose `finish` part carries the usage and credits charged. `"stream": false`:
/// 201 `{user_message, assistant_message, credits_charged}`, or 502 when the provider failed
/// (the reply is stored failed, charged only for what came). SQL's errors (402 credits
/// short, 404, 409 a reply still running) come as they are, before any stream, with nothing
/// written and no provider called.
pub async fn send(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    conversation_id: Id,
) -> Result<ApiResponse, ApiError> {
    let body: SendBody = req.json_body()?;
    let (args, options) = body.validate(conversation_id)?;
    let begun = deps.rpc().invoke(&args, &caller.auth).await?;
    let reply_id = begun["assistant_message"]["id"]
        .as_str()
        .ok_or_else(|| ApiError::internal("begin_reply returned no assistant message id"))?
        .to_string();
    let mut request = begun["request"].clone();
    let mut sources = Value::Null;
    // Document chat: the excerpts come before the model starts, whether streamed or not.
    if let Some(question) = begun["document_query"].as_str() {
        if let Some((with_excerpts, found)) =
            documents::add_sources(deps, caller, &reply_id, question).await
        {
            (request, sources) = (with_excerpts, found);
        }
    }
    let work = Work {
        reply_id,
        request,
        sources,
        on_leave: options.on_leave,
        metadata: json!({
            "conversation_id": conversation_id,
            "user_message_id": begun["user_message"]["id"],
            "credits_reserved": begun["credits_reserved"],
        }),
    };
    if options.stream {
        let work = serde_json::to_value(work)
            .map_err(|e| ApiError::internal(format!("stream work: {e}")))?;
        let ui = ui_stream::HEADER;
        return Ok(ApiResponse::event_stream(work).with_header(ui.0, ui.1));
    }
    let (relayed, finished) = reply(deps, &work, &mut UiStream::new(Unread)).await?;
    if let Ending::Failed(_) = relayed.ending {
        return Err(ApiError::bad_gateway(relayed.cause.unwrap_or_default()));
    }
    let mut conversation = finished["conversation"].clone();
    if let Some(title) = title_due(&relayed, &finished) {
        conversation["title"] = titles::name(deps, title).await.into();
    }
    Ok(ApiResponse::created(json!({
        "user_message": begun["user_message"],
        "assistant_message": finished["message"],
        "credits_charged": finished["credits_charged"],
        "conversation": conversation,
    })))
}

/// The conversation to title: after a complete reply in one that has no title yet (SQL
/// decides the rest, see `api.begin_title`).
fn title_due<'a>(relayed: &Relayed, finished: &'a Value) -> Option<&'a str> {
    let conversation = &finished["conversation"];
    (relayed.ending == Ending::Complete && conversation["title"].is_null())
        .then(|| conversation["id"].as_str())
        .flatten()
}

/// The `stream` writer of the chat function (see `genbase_edge::entry!`): relays the reply
/// into the response, finishes it, and ends the stream with what was charged. It runs to
/// the end even when the client has gone (the reply is still stored and settled). A title
/// due is asked for after the stream has ended, so the client never waits for it.
pub async fn write_stream(deps: &impl Deps, work: Value, sink: impl EventSink) {
    let mut ui = UiStream::new(sink);
    let work: Work = match serde_json::from_value(work) {
        Ok(work) => work,
        // Only this module writes it; a reply it cannot name is left to the stuck sweep.
        Err(e) => {
            deps.log_error(&format!("chat stream: unreadable work: {e}"));
            return ui.end(Ending::Failed(BROKEN), json!({})).await;
        }
    };
    ui.start(&work.reply_id, work.metadata.clone()).await;
    if let Some(sources) = work.sources.as_array().filter(|s| !s.is_empty()) {
        sources.iter().for_each(|source| ui.source(source));
        ui.flush().await;
    }
    match reply(deps, &work, &mut ui).await {
        Ok((relayed, finished)) => {
            if let Some(cause) = &relayed.cause {
                deps.log_error(&format!("chat reply {} failed: {cause}", work.reply_id));
            }
            let message = &finished["message"];
            let metadata = json!({
                "status": message["status"],
                "usage": {"input_tokens": message["tokens_in"], "output_tokens": message["tokens_out"]},
                "credits_charged": finished["credits_charged"],
            });
            ui.end(relayed.ending, metadata).await;
            if let Some(conversation_id) = title_due(&relayed, &finished) {
                titles::name(deps, conversation_id).await;
            }
        }
        Err(e) => {
            deps.log_error(&format!("chat reply {} not finished: {e}", work.reply_id));
            ui.end(Ending::Failed(BROKEN), json!({})).await
        }
    }
}

/// What the user reads when the reply could not be stored (the stuck sweep ends it later).
const BROKEN: &str = "the reply could not be saved; it is released within 15 minutes";

/// Relays the reply and finishes it: the relayed reply and `finish_reply`'s answer.
async fn reply<S: EventSink>(
    deps: &impl Deps,
    work: &Work,
    ui: &mut UiStream<S>,
) -> Result<(Relayed, Value), ApiError> {
    let relayed = match serde_json::from_value::<ChatRequest>(work.request.clone()) {
        Ok(request) => relay(deps, Some(&work.reply_id), &request, ui, work.on_leave).await,
        Err(e) => Relayed::failed(
            "the reply could not be started",
            format!("begin_reply's request: {e}"),
        ),
    };
    let finished = finish_reply(deps, &FinishReply::of(&work.reply_id, &relayed)).await?;
    Ok((relayed, finished))
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
/// the caller's reply, 409 when it has already ended. The streaming function sees the
/// request within a second (at its next piece of text) and ends the reply as stopped.
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
