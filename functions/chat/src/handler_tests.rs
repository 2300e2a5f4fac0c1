//! The chat handler with the upstream scripted: which RPC each endpoint calls, with what
//! arguments and as whom, and what it refuses before calling anything.

use crate::handle;
use genbase_shared::error::ApiError;
use genbase_shared::http::{parse_query, ApiRequest};
use genbase_shared::rpc::RpcAuth;
use genbase_shared::testing::{block_on, ScriptedDeps};
use serde_json::{json, Value};

const ID: &str = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11";
const OTHER: &str = "0b8d7c1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e";

fn request(method: &str, path_and_query: &str, body: &str) -> ApiRequest {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut req = ScriptedDeps::request(method, path, body, &[]);
    req.query = parse_query(query);
    req
}

/// Sends the request with `function` answering `answer`; returns the status, the body and
/// the arguments SQL got.
fn call(
    method: &str,
    path: &str,
    body: &str,
    function: &str,
    answer: Value,
) -> (u16, Option<Value>, Value) {
    let deps = ScriptedDeps::default().answer(function, Ok(answer));
    let resp = block_on(handle(&request(method, path, body), &deps)).unwrap();
    let calls = deps.upstream.calls.borrow();
    assert_eq!(calls.len(), 1, "{method} {path}: one RPC");
    assert_eq!(calls[0].0, function);
    assert_eq!(calls[0].2, RpcAuth::User(ScriptedDeps::user_token()));
    (resp.status, resp.body, calls[0].1.clone())
}

#[test]
fn every_endpoint_is_one_rpc_as_the_user_with_its_arguments() {
    let patch = json!({"pinned": true}).to_string();
    for (method, path, body, function, args, status) in [
        (
            "POST",
            "/v1/conversations".to_string(),
            json!({"model": "gpt-x", "title": "Hi"}).to_string(),
            "create_conversation",
            json!({"p_title": "Hi", "p_model": "gpt-x", "p_settings": null,
                   "p_template_id": null, "p_kind": "chat", "p_workspace_id": null}),
            201,
        ),
        (
            "GET",
            format!("/v1/conversations/{ID}"),
            String::new(),
            "get_conversation",
            json!({"p_id": ID}),
            200,
        ),
        (
            "PATCH",
            format!("/v1/conversations/{ID}"),
            patch.clone(),
            "update_conversation",
            json!({"p_id": ID, "p_patch": {"pinned": true}}),
            200,
        ),
        (
            "POST",
            "/v1/conversations/delete".to_string(),
            json!({"ids": [ID, OTHER]}).to_string(),
            "delete_conversations",
            json!({"p_ids": [ID, OTHER]}),
            200,
        ),
        (
            "GET",
            "/v1/memories?active=true".to_string(),
            String::new(),
            "list_memories",
            json!({"p_active": true}),
            200,
        ),
        (
            "POST",
            "/v1/memories".to_string(),
            json!({"content": "likes foxes"}).to_string(),
            "create_memory",
            json!({"p_content": "likes foxes", "p_conversation_id": null}),
            201,
        ),
        (
            "PATCH",
            format!("/v1/memories/{ID}"),
            json!({"active": false}).to_string(),
            "update_memory",
            json!({"p_id": ID, "p_patch": {"active": false}}),
            200,
        ),
        (
            "DELETE",
            format!("/v1/memories/{ID}"),
            String::new(),
            "delete_memory",
            json!({"p_id": ID}),
            204,
        ),
        (
            "POST",
            "/v1/prompt-templates".to_string(),
            json!({"name": "Coder", "content": "You write Rust.", "public": true}).to_string(),
            "create_prompt_template",
            json!({"p_name": "Coder", "p_content": "You write Rust.", "p_description": null,
                   "p_category": null, "p_public": true}),
            201,
        ),
        (
            "PATCH",
            format!("/v1/prompt-templates/{ID}"),
            json!({"category": null}).to_string(),
            "update_prompt_template",
            json!({"p_id": ID, "p_patch": {"category": null}}),
            200,
        ),
        (
            "DELETE",
            format!("/v1/prompt-templates/{ID}"),
            String::new(),
            "delete_prompt_template",
            json!({"p_id": ID}),
            204,
        ),
    ] {
        let (got, _, sent) = call(method, &path, &body, function, json!({"id": ID}));
        assert_eq!((got, sent), (status, args), "{method} {path}");
    }
}

#[test]
fn deleting_one_conversation_is_204_or_404_by_what_sql_deleted() {
    let (status, body, args) = call(
        "DELETE",
        &format!("/v1/conversations/{ID}"),
        "",
        "delete_conversations",
        json!({"deleted": [ID], "not_found": []}),
    );
    assert_eq!((status, body, args), (204, None, json!({"p_ids": [ID]})));

    let deps = ScriptedDeps::default().answer(
        "delete_conversations",
        Ok(json!({"deleted": [], "not_found": [ID]})),
    );
    let err = block_on(handle(
        &request("DELETE", &format!("/v1/conversations/{ID}"), ""),
        &deps,
    ))
    .unwrap_err();
    assert_eq!(
        (err.status, err.message.as_str()),
        (404, "conversation not found")
    );
}

#[test]
fn a_conversations_page_hands_out_a_cursor_that_leads_sql_back_to_its_position() {
    let position =
        json!({"pinned": false, "last_message_at": "2026-01-02T03:04:05+00:00", "id": ID});
    let (status, body, args) = call(
        "GET",
        "/v1/conversations?q=fox&limit=1",
        "",
        "list_conversations",
        json!({"items": [{"id": ID}], "next_cursor": position}),
    );
    assert_eq!(status, 200);
    assert_eq!(
        args,
        json!({"p_archived": false, "p_q": "fox", "p_kind": null, "p_limit": 1,
               "p_cursor_pinned": null, "p_cursor_last_message_at": null, "p_cursor_id": null,
               "p_workspace_id": null})
    );
    let body = body.unwrap();
    assert_eq!(body["items"], json!([{"id": ID}]));
    let cursor = body["next_cursor"].as_str().unwrap();
    let (_, body, args) = call(
        "GET",
        &format!("/v1/conversations?cursor={cursor}"),
        "",
        "list_conversations",
        json!({"items": [], "next_cursor": null}),
    );
    assert_eq!(
        (
            args["p_cursor_pinned"].clone(),
            args["p_cursor_last_message_at"].clone(),
            args["p_cursor_id"].clone()
        ),
        (json!(false), json!("2026-01-02T03:04:05+00:00"), json!(ID))
    );
    assert_eq!(body.unwrap(), json!({"items": [], "next_cursor": null}));
}

#[test]
fn a_messages_page_turns_sqls_next_before_into_a_cursor_and_back() {
    let (status, body, args) = call(
        "GET",
        &format!("/v1/conversations/{ID}/messages?leaf_id={OTHER}&limit=2"),
        "",
        "list_messages",
        json!({"items": [{"id": OTHER}], "next_before": OTHER}),
    );
    assert_eq!(status, 200);
    assert_eq!(
        args,
        json!({"p_conversation_id": ID, "p_leaf_id": OTHER, "p_limit": 2, "p_before": null})
    );
    let body = body.unwrap();
    assert_eq!(body["items"], json!([{"id": OTHER}]));
    assert!(body.get("next_before").is_none());
    let cursor = body["next_cursor"].as_str().unwrap();
    let (_, body, args) = call(
        "GET",
        &format!("/v1/conversations/{ID}/messages?cursor={cursor}"),
        "",
        "list_messages",
        json!({"items": [], "next_before": null}),
    );
    assert_eq!(args["p_before"], OTHER);
    assert_eq!(body.unwrap(), json!({"items": [], "next_cursor": null}));
}

#[test]
fn a_templates_page_hands_out_a_cursor() {
    let (_, body, args) = call(
        "GET",
        "/v1/prompt-templates?category=dev",
        "",
        "list_prompt_templates",
        json!({"items": [], "next_cursor": {"name": "Coder", "id": ID}}),
    );
    assert_eq!(
        args,
        json!({"p_category": "dev", "p_limit": 20, "p_cursor_name": null, "p_cursor_id": null})
    );
    assert!(body.unwrap()["next_cursor"].is_string());
}

#[test]
fn sqls_errors_come_back_as_they_are() {
    let deps = ScriptedDeps::default().answer(
        "get_conversation",
        Err(ApiError::not_found("conversation not found")),
    );
    let err = block_on(handle(
        &request("GET", &format!("/v1/conversations/{ID}"), ""),
        &deps,
    ))
    .unwrap_err();
    assert_eq!(
        (err.status, err.message.as_str()),
        (404, "conversation not found")
    );
}

#[test]
fn bad_requests_are_refused_without_any_rpc() {
    let cases = [
        ("GET", "/v1/conversations/nope".to_string(), "", 400),
        ("PATCH", "/v1/memories/nope".to_string(), "{}", 400),
        ("GET", "/v1/conversations?limit=500".to_string(), "", 400),
        ("GET", "/v1/conversations?archive=true".to_string(), "", 400),
        (
            "GET",
            format!("/v1/conversations/{ID}/messages?leaf_id=x"),
            "",
            400,
        ),
        ("GET", "/v1/memories?active=yes".to_string(), "", 400),
        (
            "GET",
            "/v1/prompt-templates?cursor=zzz".to_string(),
            "",
            400,
        ),
        ("PATCH", format!("/v1/conversations/{ID}"), "{}", 400),
        ("PATCH", format!("/v1/conversations/{ID}"), "[]", 400),
        (
            "PATCH",
            format!("/v1/prompt-templates/{ID}"),
            "not json",
            400,
        ),
        (
            "POST",
            "/v1/conversations".to_string(),
            r#"{"modle": "x"}"#,
            400,
        ),
        (
            "POST",
            "/v1/conversations/delete".to_string(),
            r#"{"ids": []}"#,
            400,
        ),
        ("POST", "/v1/memories".to_string(), r#"{"content": 5}"#, 400),
        (
            "POST",
            "/v1/prompt-templates".to_string(),
            r#"{"name": "x"}"#,
            400,
        ),
        ("PUT", "/v1/memories".to_string(), "", 405),
        ("GET", "/v1/conversations/x/y".to_string(), "", 404),
    ];
    for (method, path, body, status) in cases {
        let deps = ScriptedDeps::default();
        let err = block_on(handle(&request(method, &path, body), &deps)).unwrap_err();
        assert_eq!(
            err.status, status,
            "{method} {path} {body}: {}",
            err.message
        );
        assert!(deps.called().is_empty(), "{method} {path}");
    }
}

#[test]
fn nothing_is_asked_without_a_token() {
    let deps = ScriptedDeps::default();
    let req = ApiRequest::new(
        "GET",
        "/v1/conversations",
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let err = block_on(handle(&req, &deps)).unwrap_err();
    assert_eq!(err.status, 401);
    assert!(deps.called().is_empty());
}
