//! The reply passed from the provider to the client as it comes: every piece of text is
//! written the moment it arrives (never buffered whole), while the relay keeps the text and
//! the provider's counts for `finish_reply`, watches for a stop asked through the API, and
//! applies the request's rule for a client that leaves.

use crate::providers::{self, ChatRequest, Failure, Step, Usage};
use crate::ui_stream::{Ending, UiStream};
use genbase_shared::deps::{Deps, EventSink};
use genbase_shared::rpc::{Rpc, RpcArgs, RpcAuth};
use serde::{Deserialize, Serialize};

/// What a client leaving mid-stream means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnLeave {
    /// The reply is written to its end and stored, as if the client were still there.
    Finish,
    /// The reply ends there, stored as stopped: charged for what was produced.
    Stop,
}

/// How often a running reply asks SQL whether the user asked it to stop (and keeps its text
/// so far there). Checked as text arrives, so a stop lands at the first piece of text after
/// this much time.
const STOP_CHECK_MS: i64 = 1000;

/// The reply as it ended.
#[derive(Debug)]
pub struct Relayed {
    pub content: String,
    pub usage: Usage,
    pub ending: Ending,
    /// For a failure: the provider's words, for the logs.
    pub cause: Option<String>,
}

impl Relayed {
    pub fn failed(message: &'static str, cause: String) -> Relayed {
        Relayed {
            content: String::new(),
            usage: Usage::default(),
            ending: Ending::Failed(message),
            cause: Some(cause),
        }
    }
}

/// `api.reply_state`, as the service role, with the text so far: should this function die,
/// the stuck-reply sweep finishes the reply with it (charged for what came).
#[derive(Serialize)]
struct ReplyState<'a> {
    message_id: &'a str,
    content: &'a str,
}

impl RpcArgs for ReplyState<'_> {
    const FUNCTION: &'static str = "reply_state";
}

/// Relays `request`'s reply into `ui`. `reply_id` names the stored reply whose stop the relay
/// watches for (`None`: nothing can stop it).
pub async fn relay<D: Deps, S: EventSink>(
    deps: &D,
    reply_id: Option<&str>,
    request: &ChatRequest,
    ui: &mut UiStream<S>,
    on_leave: OnLeave,
) -> Relayed {
    let mut stream = match providers::open(deps, request).await {
        Ok(stream) => stream,
        Err(Failure { message, cause }) => return Relayed::failed(message, cause),
    };
    let mut content = String::new();
    let mut usage = Usage::default();
    let mut cause = None;
    let mut next_check = deps.now_ms() + STOP_CHECK_MS;
    let ending = loop {
        match stream.next().await {
            Step::Text(text) => {
                content.push_str(&text);
                ui.text(&text);
            }
            Step::Usage(reported) => usage.update(reported),
            Step::End => break Ending::Complete,
            Step::Failed(failure) => {
                cause = Some(failure.cause);
                break Ending::Failed(failure.message);
            }
        }
        // What one chunk of the provider's brought goes out in one write, before the next read.
        if !stream.has_pending() && !ui.flush().await && on_leave == OnLeave::Stop {
            break Ending::Stopped;
        }
        if let Some(reply_id) = reply_id.filter(|_| deps.now_ms() >= next_check) {
            if stop_asked(deps, reply_id, &content).await {
                break Ending::Stopped;
            }
            next_check = deps.now_ms() + STOP_CHECK_MS;
        }
    };
    stream.close(deps).await;
    Relayed {
        content,
        usage,
        ending,
        cause,
    }
}

/// Keeps the text so far, and tells whether the user asked the reply to stop or it was
/// already ended (by the stuck sweep). A state that cannot be read lets the reply go on: a
/// stop is seen at the next check.
async fn stop_asked(deps: &impl Deps, reply_id: &str, content: &str) -> bool {
    let args = ReplyState {
        message_id: reply_id,
        content,
    };
    let state = deps.rpc().invoke(&args, &RpcAuth::ServiceRole).await;
    match state {
        Ok(state) => state["stop_requested"] == true || state["status"] != "streaming",
        Err(_) => false,
    }
}
