//! The feedback handler with the upstream scripted: what each endpoint calls, with which
//! arguments, as whom, its status, and what it refuses before any RPC.

use crate::handle;
use genbase_shared::error::ApiError;
use genbase_shared::http::ApiResponse;
use genbase_shared::rpc::RpcAuth;
use genbase_shared::testing::{block_on, ScriptedDeps};
use serde_json::{json, Value};

const ID: &str = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11";

fn run(deps: &ScriptedDeps, method: &str, path: &str, body: &str) -> Result<ApiResponse, ApiError> {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut req = ScriptedDeps::request(method, path, body, &[]);
    req.query = genbase_shared::http::parse_query(query);
    block_on(handle(&req, deps))
}

#[test]
fn each_endpoint_is_one_rpc_as_the_user_with_typed_arguments() {
    let idea = format!("/v1/ideas/{ID}");
    let ticket = format!("/v1/support/{ID}");
    let cases: Vec<(&str, String, Value, &str, Value, u16)> = vec![
        (
            "POST",
            "/v1/ideas".into(),
            json!({"title": "Dark mode"}),
            "create_idea",
            json!({"p_title": "Dark mode", "p_description": null}),
            201,
        ),
        (
            "GET",
            idea.clone(),
            Value::Null,
            "get_idea",
            json!({"p_id": ID}),
            200,
        ),
        (
            "PATCH",
            idea.clone(),
            json!({"title": "T", "description": null}),
            "update_idea",
            json!({"p_id": ID, "p_patch": {"title": "T", "description": null}}),
            200,
        ),
        (
            "POST",
            format!("{idea}/status"),
            json!({"status": "planned", "note": "Q3"}),
            "set_idea_status",
            json!({"p_id": ID, "p_status": "planned", "p_note": "Q3"}),
            200,
        ),
        (
            "POST",
            format!("{idea}/vote"),
            Value::Null,
            "vote_idea",
            json!({"p_id": ID, "p_vote": true}),
            200,
        ),
        (
            "DELETE",
            format!("{idea}/vote"),
            Value::Null,
            "vote_idea",
            json!({"p_id": ID, "p_vote": false}),
            200,
        ),
        (
            "POST",
            "/v1/support".into(),
            json!({"subject": "Help", "message": "Why?"}),
            "create_ticket",
            json!({"p_subject": "Help", "p_message": "Why?"}),
            201,
        ),
        (
            "GET",
            "/v1/support?mine=true&status=open".into(),
            Value::Null,
            "list_tickets",
            json!({"p_status": "open", "p_mine": true, "p_limit": 20, "p_cursor_created_at": null, "p_cursor_id": null}),
            200,
        ),
        (
            "GET",
            ticket.clone(),
            Value::Null,
            "get_ticket",
            json!({"p_id": ID}),
            200,
        ),
        (
            "POST",
            format!("{ticket}/messages"),
            json!({"body": "Thanks"}),
            "add_ticket_message",
            json!({"p_ticket_id": ID, "p_body": "Thanks"}),
            201,
        ),
        (
            "POST",
            format!("{ticket}/close"),
            Value::Null,
            "close_ticket",
            json!({"p_id": ID}),
            200,
        ),
    ];
    for (method, path, body, function, args, status) in cases {
        let answer = json!({"items": [], "next_cursor": null, "id": ID});
        let deps = ScriptedDeps::default().answer(function, Ok(answer.clone()));
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let r = run(&deps, method, &path, &body).unwrap();
        assert_eq!(r.status, status, "{method} {path}");
        let calls = deps.upstream.calls.borrow();
        assert_eq!(calls.len(), 1, "{method} {path}");
        assert_eq!(calls[0].1, args, "{method} {path}");
        assert_eq!(calls[0].2, RpcAuth::User(ScriptedDeps::user_token()));
    }
}

#[test]
fn the_ideas_list_answers_an_opaque_cursor_that_pages_on() {
    let next = json!({"vote_count": 3, "created_at": "2026-01-02T03:04:05+00:00", "id": ID});
    let deps = ScriptedDeps::default().answer(
        "list_ideas",
        Ok(json!({"items": [{"id": ID}], "next_cursor": next})),
    );
    let r = run(&deps, "GET", "/v1/ideas?sort=top&limit=1", "").unwrap();
    let cursor = r.body.unwrap()["next_cursor"].as_str().unwrap().to_string();
    let deps =
        ScriptedDeps::default().answer("list_ideas", Ok(json!({"items": [], "next_cursor": null})));
    run(
        &deps,
        "GET",
        &format!("/v1/ideas?sort=top&cursor={cursor}"),
        "",
    )
    .unwrap();
    let calls = deps.upstream.calls.borrow();
    assert_eq!(calls[0].1["p_cursor_vote_count"], json!(3));
    assert_eq!(calls[0].1["p_cursor_id"], json!(ID));
}

#[test]
fn malformed_input_reaches_no_rpc() {
    for (method, path, body, status) in [
        (
            "POST",
            "/v1/ideas".to_string(),
            json!({"description": "no title"}),
            400,
        ),
        (
            "POST",
            "/v1/ideas".to_string(),
            json!({"title": "x", "status": "done"}),
            400,
        ),
        (
            "POST",
            format!("/v1/ideas/{ID}/status"),
            json!({"note": "no status"}),
            400,
        ),
        (
            "POST",
            "/v1/ideas/not-an-id/vote".to_string(),
            json!(null),
            400,
        ),
        (
            "POST",
            "/v1/support".to_string(),
            json!({"subject": "no message"}),
            400,
        ),
        (
            "POST",
            format!("/v1/support/{ID}/messages"),
            json!({"text": "wrong field"}),
            400,
        ),
        ("GET", "/v1/support?mine=yes".to_string(), json!(null), 400),
        ("GET", "/v1/ideas?order=top".to_string(), json!(null), 400),
        ("PUT", format!("/v1/ideas/{ID}"), json!(null), 405),
        ("GET", "/v1/feedback".to_string(), json!(null), 404),
    ] {
        let deps = ScriptedDeps::default();
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let err = run(&deps, method, &path, &body).unwrap_err();
        assert_eq!(err.status, status, "{method} {path} {body}");
        assert!(deps.called().is_empty(), "{method} {path}");
    }
}
