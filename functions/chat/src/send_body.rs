//! The body of `POST /v1/conversations/:id/messages`, in either of two shapes:
//! - ours: `{content, parent_id | edit_of | regenerate_of, attachments, stream, on_disconnect}`;
//! - the AI SDK's `useChat` (its `DefaultChatTransport`): `{id, messages, trigger, messageId}`.
//!   The server keeps the conversation, so only the last message is read: its text parts are
//!   the content; `trigger: "regenerate-message"` regenerates `messageId`; a
//!   `"submit-message"` with a `messageId` edits that message (a new branch).
//!
//! Either becomes `api.begin_reply`'s arguments; SQL checks the content's length, the
//! attachments and that the messages are the caller's.

use crate::relay::OnLeave;
use genbase_shared::error::ApiError;
use genbase_shared::rpc::RpcArgs;
use genbase_shared::validate::Id;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    content: Option<String>,
    parent_id: Option<String>,
    edit_of: Option<String>,
    regenerate_of: Option<String>,
    /// Upload ids.
    attachments: Option<Value>,
    /// `false` answers with the whole reply as JSON; streamed otherwise.
    stream: Option<bool>,
    /// What a client that leaves mid-stream means: `"finish"` (the default: the reply is
    /// written to the end and stored) or `"stop"` (it is cut there, as a stop would).
    on_disconnect: Option<OnLeave>,
    /// `useChat`'s chat id: the conversation is the path's.
    #[serde(rename = "id")]
    _chat_id: Option<Value>,
    messages: Option<Vec<UiMessage>>,
    trigger: Option<String>,
    #[serde(rename = "messageId")]
    message_id: Option<String>,
}

/// A `useChat` message; only the last one's role and parts are read.
#[derive(Deserialize)]
struct UiMessage {
    role: String,
    #[serde(default)]
    parts: Vec<Value>,
}

/// `api.begin_reply`. Absent fields are left out, not sent as null, so that SQL tells "no
/// attachments" from a JSON `null` it would refuse.
#[derive(Serialize)]
pub struct BeginReply {
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

/// How the reply is delivered.
pub struct Options {
    pub stream: bool,
    pub on_leave: OnLeave,
}

impl SendBody {
    pub fn validate(mut self, conversation_id: Id) -> Result<(BeginReply, Options), ApiError> {
        self.translate_use_chat()?;
        let id =
            |field: &str, value: Option<String>| value.map(|v| Id::parse(field, &v)).transpose();
        let options = Options {
            stream: self.stream.unwrap_or(true),
            on_leave: self.on_disconnect.unwrap_or(OnLeave::Finish),
        };
        let args = BeginReply {
            conversation_id,
            content: self.content,
            parent_id: id("parent_id", self.parent_id)?,
            regenerate_of: id("regenerate_of", self.regenerate_of)?,
            attachments: self.attachments,
            edit_of: id("edit_of", self.edit_of)?,
        };
        Ok((args, options))
    }

    /// Moves `useChat`'s fields into ours.
    fn translate_use_chat(&mut self) -> Result<(), ApiError> {
        let trigger = match (&self.trigger, &self.messages) {
            (None, None) => return Ok(()),
            (Some(t), _) => t.as_str(),
            (None, Some(_)) => "submit-message",
        };
        if self.content.is_some() || self.regenerate_of.is_some() || self.edit_of.is_some() {
            return Err(ApiError::validation(
                "give either content / edit_of / regenerate_of or useChat's messages and trigger, not both",
            ));
        }
        match trigger {
            "regenerate-message" => {
                self.regenerate_of = Some(self.message_id.take().ok_or_else(|| {
                    ApiError::validation("a regenerate-message trigger needs messageId")
                })?);
            }
            "submit-message" => {
                let last = self
                    .messages
                    .as_ref()
                    .and_then(|m| m.last())
                    .filter(|m| m.role == "user")
                    .ok_or_else(|| {
                        ApiError::validation("messages must end with the user's new message")
                    })?;
                self.content = Some(text_of(last)?);
                self.edit_of = self.message_id.take();
            }
            other => {
                return Err(ApiError::validation(format!(
                    "trigger must be submit-message or regenerate-message, not {other}"
                )))
            }
        }
        Ok(())
    }
}

/// The text parts, joined. Files go through uploads and `attachments`, never inline.
fn text_of(message: &UiMessage) -> Result<String, ApiError> {
    let mut text = String::new();
    for part in &message.parts {
        match part["type"].as_str() {
            Some("text") => text.push_str(part["text"].as_str().unwrap_or_default()),
            Some("file") => {
                return Err(ApiError::validation(
                    "file parts are not read: upload the file (POST /v1/uploads) and give its id in attachments",
                ))
            }
            // Step markers and the like carry nothing to send.
            _ => {}
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CONVERSATION: &str = "c0000000-0000-4000-8000-000000000001";
    const MESSAGE: &str = "a0000000-0000-4000-8000-000000000002";

    fn validate(body: Value) -> Result<(Value, bool, OnLeave), ApiError> {
        let body: SendBody =
            serde_json::from_value(body).map_err(|e| ApiError::validation(e.to_string()))?;
        let (args, options) = body.validate(Id::parse("id", CONVERSATION)?)?;
        Ok((
            serde_json::to_value(args).unwrap(),
            options.stream,
            options.on_leave,
        ))
    }

    #[test]
    fn our_shape_streams_by_default_and_finishes_when_the_client_leaves() {
        let (args, stream, leave) = validate(json!({"content": "hi"})).unwrap();
        assert_eq!(
            args,
            json!({"conversation_id": CONVERSATION, "content": "hi"})
        );
        assert!(stream);
        assert_eq!(leave, OnLeave::Finish);
        let (_, stream, leave) =
            validate(json!({"content": "hi", "stream": false, "on_disconnect": "stop"})).unwrap();
        assert!(!stream);
        assert_eq!(leave, OnLeave::Stop);
        assert!(validate(json!({"content": "hi", "on_disconnect": "later"})).is_err());
    }

    #[test]
    fn use_chat_submits_the_last_messages_text_and_edits_by_message_id() {
        let body = json!({"id": "chat-1", "trigger": "submit-message", "messages": [
            {"id": "x", "role": "user", "parts": [{"type": "text", "text": "old"}]},
            {"id": "y", "role": "assistant", "parts": [{"type": "text", "text": "reply"}]},
            {"id": "z", "role": "user", "parts": [{"type": "step-start"}, {"type": "text", "text": "new "},
                                                 {"type": "text", "text": "question"}]}]});
        let (args, stream, _) = validate(body.clone()).unwrap();
        assert_eq!(
            args,
            json!({"conversation_id": CONVERSATION, "content": "new question"})
        );
        assert!(stream);

        let mut edit = body;
        edit["messageId"] = json!(MESSAGE);
        let (args, ..) = validate(edit).unwrap();
        assert_eq!(args["edit_of"], MESSAGE);
    }

    #[test]
    fn use_chat_regenerates_message_id() {
        let body = json!({"id": "chat-1", "trigger": "regenerate-message", "messageId": MESSAGE,
                          "messages": [{"id": "u", "role": "user", "parts": [{"type": "text", "text": "q"}]}]});
        let (args, ..) = validate(body).unwrap();
        assert_eq!(
            args,
            json!({"conversation_id": CONVERSATION, "regenerate_of": MESSAGE})
        );
    }

    #[test]
    fn use_chat_bodies_that_cannot_be_read_are_400() {
        for body in [
            json!({"trigger": "regenerate-message", "messages": []}),
            json!({"trigger": "resume", "messages": []}),
            json!({"trigger": "submit-message", "messages": []}),
            json!({"trigger": "submit-message", "messages": [{"role": "assistant", "parts": []}]}),
            json!({"messages": [{"role": "user", "parts": [{"type": "file", "url": "data:,x", "mediaType": "text/plain"}]}]}),
            json!({"content": "both", "messages": [{"role": "user", "parts": []}]}),
            json!({"trigger": "submit-message", "messageId": "not-a-uuid",
                   "messages": [{"role": "user", "parts": [{"type": "text", "text": "q"}]}]}),
        ] {
            let e = validate(body.clone())
                .err()
                .unwrap_or_else(|| panic!("accepted {body}"));
            assert_eq!(e.status, 400, "{body}");
        }
    }
}
