//! The automatic title of a conversation, asked of a model after its first complete reply.
//! SQL decides whether one is due, what it costs and what the title becomes
//! (`api.begin_title`, `api.finish_title`); this carries the request to the provider through
//! the same relay as a reply, unread by anyone, and always finishes the job it began.

use crate::providers::ChatRequest;
use crate::relay::{relay, OnLeave, Relayed};
use crate::ui_stream::{Ending, UiStream, Unread};
use genbase_shared::deps::Deps;
use genbase_shared::rpc::{Rpc, RpcArgs, RpcAuth};
use serde::Serialize;
use serde_json::Value;

#[derive(Serialize)]
struct BeginTitle<'a> {
    conversation_id: &'a str,
}

impl RpcArgs for BeginTitle<'_> {
    const FUNCTION: &'static str = "begin_title";
}

#[derive(Serialize)]
struct FinishTitle<'a> {
    title_id: &'a str,
    title: &'a str,
    tokens_in: Option<i64>,
    tokens_out: Option<i64>,
    failed: bool,
}

impl RpcArgs for FinishTitle<'_> {
    const FUNCTION: &'static str = "finish_title";
}

/// Titles the conversation when SQL says one is due: its title afterwards, or `None` when
/// none was due or the attempt failed (a title is a nicety: nothing reaches the client).
pub async fn name(deps: &impl Deps, conversation_id: &str) -> Option<String> {
    let begun = deps
        .rpc()
        .invoke(&BeginTitle { conversation_id }, &RpcAuth::ServiceRole)
        .await
        .ok()?;
    let title_id = begun["title_id"].as_str()?;
    let relayed = match serde_json::from_value::<ChatRequest>(begun["request"].clone()) {
        // Nobody can stop a title, so there is no reply to watch.
        Ok(request) => {
            relay(
                deps,
                None,
                &request,
                &mut UiStream::new(Unread),
                OnLeave::Finish,
            )
            .await
        }
        Err(e) => Relayed::failed("the title could not be started", e.to_string()),
    };
    if let Some(cause) = &relayed.cause {
        deps.log_error(&format!("chat title {title_id} failed: {cause}"));
    }
    let finish = FinishTitle {
        title_id,
        title: &relayed.content,
        tokens_in: relayed.usage.tokens_in,
        tokens_out: relayed.usage.tokens_out,
        failed: matches!(relayed.ending, Ending::Failed(_)),
    };
    let finished: Value = deps
        .rpc()
        .invoke(&finish, &RpcAuth::ServiceRole)
        .await
        .ok()?;
    finished["title"].as_str().map(str::to_string)
}
