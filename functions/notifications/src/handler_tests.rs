//! The notifications handler with the upstream scripted: what it calls, with which arguments,
//! as whom, and what it refuses before any RPC.

use crate::handle;
use genbase_shared::error::ApiError;
use genbase_shared::http::ApiResponse;
use genbase_shared::rpc::RpcAuth;
use genbase_shared::testing::{block_on, ScriptedDeps};
use serde_json::json;

const ID: &str = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11";

fn run(deps: &ScriptedDeps, method: &str, path: &str) -> Result<ApiResponse, ApiError> {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut req = ScriptedDeps::request(method, path, "", &[]);
    req.query = genbase_shared::http::parse_query(query);
    block_on(handle(&req, deps))
}

#[test]
fn the_unread_list_is_asked_of_postgres_as_the_user() {
    let deps = ScriptedDeps::default().answer(
        "list_notifications",
        Ok(json!({"items": [{"id": ID}], "next_cursor": null})),
    );
    let r = run(&deps, "GET", "/v1/notifications?unread=true&limit=5").unwrap();
    assert_eq!(
        (r.status, r.body),
        (
            200,
            Some(json!({"items": [{"id": ID}], "next_cursor": null}))
        )
    );
    let calls = deps.upstream.calls.borrow();
    assert_eq!(
        calls[0].1,
        json!({"p_unread": true, "p_limit": 5, "p_cursor_created_at": null, "p_cursor_id": null})
    );
    assert_eq!(calls[0].2, RpcAuth::User(ScriptedDeps::user_token()));
}

#[test]
fn the_list_shows_read_ones_unless_asked_not_to() {
    let deps = ScriptedDeps::default().answer(
        "list_notifications",
        Ok(json!({"items": [], "next_cursor": null})),
    );
    run(&deps, "GET", "/v1/notifications").unwrap();
    assert_eq!(deps.upstream.calls.borrow()[0].1["p_unread"], json!(false));
}

#[test]
fn count_mark_read_and_mark_all_are_one_rpc_each() {
    for (method, path, function, args) in [
        (
            "GET",
            "/v1/notifications/unread-count",
            "unread_notification_count",
            json!({}),
        ),
        (
            "POST",
            "/v1/notifications/read-all",
            "mark_all_notifications_read",
            json!({}),
        ),
        (
            "POST",
            &format!("/v1/notifications/{ID}/read") as &str,
            "mark_notification_read",
            json!({"p_id": ID}),
        ),
    ] {
        let deps = ScriptedDeps::default().answer(function, Ok(json!({"ok": 1})));
        let r = run(&deps, method, path).unwrap();
        assert_eq!((r.status, r.body), (200, Some(json!({"ok": 1}))), "{path}");
        let calls = deps.upstream.calls.borrow();
        assert_eq!((calls.len(), &calls[0].1), (1, &args), "{path}");
    }
}

#[test]
fn bad_input_and_unknown_routes_reach_no_rpc() {
    for (method, path, status, message) in [
        (
            "GET",
            "/v1/notifications?unread=yes",
            400,
            "unread must be true or false",
        ),
        (
            "GET",
            "/v1/notifications?read=true",
            400,
            "unknown query parameter read (use unread, cursor, limit)",
        ),
        (
            "GET",
            "/v1/notifications?limit=0",
            400,
            "limit must be an integer from 1 to 100",
        ),
        (
            "POST",
            "/v1/notifications/abc/read",
            400,
            "id must be a UUID",
        ),
        ("DELETE", "/v1/notifications", 405, ""),
        ("GET", "/v1/notifications/x/y/z", 404, ""),
    ] {
        let deps = ScriptedDeps::default();
        let err = run(&deps, method, path).unwrap_err();
        assert_eq!(err.status, status, "{method} {path}");
        if !message.is_empty() {
            assert_eq!(err.message, message, "{method} {path}");
        }
        assert!(deps.called().is_empty(), "{method} {path}");
    }
}

#[test]
fn a_request_without_a_user_is_a_401_before_any_rpc() {
    let deps = ScriptedDeps::default();
    let mut req = ScriptedDeps::request("GET", "/v1/notifications/unread-count", "", &[]);
    req.headers
        .retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
    let err = block_on(handle(&req, &deps)).unwrap_err();
    assert_eq!(err.status, 401);
    assert!(deps.called().is_empty());
}
