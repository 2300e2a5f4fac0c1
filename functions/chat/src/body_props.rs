//! The chat Worker's JSON bodies through its handler: any bytes or JSON sent to its
//! conversations, messages (ours or `useChat`'s shape), files, memories and templates are a
//! 4xx with the one error body, refused before SQL unless SQL refuses them (never a panic or
//! a 5xx). And the cursor of a template list, whose position carries a name, comes back for
//! every name SQL stores.

use crate::handle;
use crate::templates::{ListTemplates, TemplatesPosition};
use genbase_shared::props::{body, send, shaped};
use genbase_shared::testing::block_on;
use genbase_shared::validate::Cursor;
use proptest::prelude::*;
use serde_json::{json, Value};

const ID: &str = "c0000000-0000-4000-8000-000000000001";
const WORDS: &[&str] = &[
    "chat",
    "assistant",
    "user",
    "finish",
    "stop",
    "submit-message",
    "regenerate-message",
    "text",
    "file",
    "hello",
    "",
];

/// An endpoint that reads a JSON body, and the SQL function it calls with it.
#[derive(Debug, Clone, Copy)]
struct Endpoint {
    method: &'static str,
    path: &'static str,
    function: &'static str,
    fields: &'static [&'static str],
}

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "POST",
        path: "/v1/conversations",
        function: "create_conversation",
        fields: &[
            "model",
            "title",
            "settings",
            "template_id",
            "kind",
            "workspace_id",
        ],
    },
    Endpoint {
        method: "PATCH",
        path: "/v1/conversations/c0000000-0000-4000-8000-000000000001",
        function: "update_conversation",
        fields: &["title", "settings", "model", "pinned", "archived"],
    },
    Endpoint {
        method: "POST",
        path: "/v1/conversations/delete",
        function: "delete_conversations",
        fields: &["ids"],
    },
    Endpoint {
        method: "POST",
        path: "/v1/conversations/c0000000-0000-4000-8000-000000000001/messages",
        function: "begin_reply",
        fields: &[
            "content",
            "parent_id",
            "edit_of",
            "regenerate_of",
            "attachments",
            "stream",
            "on_disconnect",
            "id",
            "messages",
            "trigger",
            "messageId",
        ],
    },
    Endpoint {
        method: "PUT",
        path: "/v1/conversations/c0000000-0000-4000-8000-000000000001/files",
        function: "set_conversation_files",
        fields: &["file_ids"],
    },
    Endpoint {
        method: "POST",
        path: "/v1/memories",
        function: "create_memory",
        fields: &["content", "conversation_id"],
    },
    Endpoint {
        method: "PATCH",
        path: "/v1/memories/c0000000-0000-4000-8000-000000000001",
        function: "update_memory",
        fields: &["content", "active"],
    },
    Endpoint {
        method: "POST",
        path: "/v1/prompt-templates",
        function: "create_prompt_template",
        fields: &["name", "content", "description", "category", "public"],
    },
    Endpoint {
        method: "PATCH",
        path: "/v1/prompt-templates/c0000000-0000-4000-8000-000000000001",
        function: "update_prompt_template",
        fields: &["name", "content", "description", "category"],
    },
];

fn endpoint_and_body() -> impl Strategy<Value = (Endpoint, Vec<u8>)> {
    prop::sample::select(ENDPOINTS).prop_flat_map(|e| (Just(e), body(e.fields, WORDS)))
}

/// `useChat`'s request: messages whose parts are any JSON or near-valid parts.
fn use_chat_body() -> impl Strategy<Value = Value> {
    let part = shaped(&["type", "text"], WORDS);
    let message = (
        shaped(&["id", "role"], WORDS),
        prop::collection::vec(part, 0..4),
    )
        .prop_map(|(mut message, parts)| {
            message["parts"] = Value::Array(parts);
            message
        });
    (
        shaped(&["id", "trigger", "messageId", "stream"], WORDS),
        prop::collection::vec(message, 0..4),
    )
        .prop_map(|(mut request, messages)| {
            request["messages"] = Value::Array(messages);
            request
        })
}

/// A name as SQL stores it: 1 to 100 characters (`template_name_chars`), any but NUL
/// (Postgres text holds none), trimmed of spaces; often the ones that take the most room in
/// a cursor (controls, escaped as six bytes of JSON, and four-byte characters).
fn template_name() -> impl Strategy<Value = String> {
    let wide = prop::sample::select(&['\u{1}', '\u{1f642}', '\u{10ffff}'][..]);
    let char = prop_oneof![1 => any::<char>(), 4 => wide].prop_filter("not NUL", |c| *c != '\0');
    prop::collection::vec(char, 1..=100)
        .prop_map(|chars| {
            chars
                .into_iter()
                .collect::<String>()
                .trim_matches(' ')
                .to_owned()
        })
        .prop_filter("not blank", |name| !name.is_empty())
}

proptest! {
    #[test]
    fn any_body_is_refused_by_the_worker_or_by_sql((endpoint, bytes) in endpoint_and_body()) {
        send((endpoint.method, endpoint.path), endpoint.function, bytes, |req, deps| {
            block_on(handle(req, deps))
        })?;
    }

    #[test]
    fn any_use_chat_request_is_refused_by_the_worker_or_by_sql(request in use_chat_body()) {
        let path = format!("/v1/conversations/{ID}/messages");
        let args = send(("POST", &path), "begin_reply", request.to_string().into_bytes(), |req, deps| {
            block_on(handle(req, deps))
        })?;
        if let Some(args) = args {
            // What reached SQL is the last message's text, or a regeneration, never both.
            prop_assert!(args.get("p_content").is_some() != args.get("p_regenerate_of").is_some(), "{args}");
        }
    }

    #[test]
    fn the_cursor_of_any_template_name_comes_back(name in template_name()) {
        let position = TemplatesPosition { name: name.clone(), id: ID.into() };
        let cursor = Cursor::new(position).encode();
        let query = [("cursor".to_string(), cursor)];
        let args = ListTemplates::from_query(&query).map_err(|e| TestCaseError::fail(format!(
            "a cursor this API issued for {name:?} is refused: {e}"
        )))?;
        let args = serde_json::to_value(args).expect("serializes");
        prop_assert_eq!(&args["cursor_name"], &json!(name));
        prop_assert_eq!(&args["cursor_id"], &json!(ID));
    }
}

/// The longest position SQL can report: a name of 100 control characters, each six bytes of
/// escaped JSON.
#[test]
fn the_longest_template_position_fits_a_cursor() {
    let name = "\u{1}".repeat(100);
    let cursor = Cursor::new(TemplatesPosition {
        name: name.clone(),
        id: ID.into(),
    })
    .encode();
    let args = ListTemplates::from_query(&[("cursor".to_string(), cursor)]).unwrap();
    assert_eq!(
        serde_json::to_value(args).unwrap()["cursor_name"],
        json!(name)
    );
}
