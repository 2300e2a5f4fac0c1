//! The activity handler with the upstream scripted: what it calls, as whom, with which typed
//! arguments, and what it refuses before any RPC.

use crate::handle;
use genbase_shared::error::ApiError;
use genbase_shared::http::ApiResponse;
use genbase_shared::rpc::RpcAuth;
use genbase_shared::testing::{block_on, ScriptedDeps};
use serde_json::json;

const USER: &str = "a11ce000-0000-4000-8000-000000000001";

fn run(deps: &ScriptedDeps, method: &str, path: &str) -> Result<ApiResponse, ApiError> {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut req = ScriptedDeps::request(method, path, "", &[]);
    req.query = genbase_shared::http::parse_query(query);
    block_on(handle(&req, deps))
}

fn page() -> serde_json::Value {
    json!({"items": [], "next_cursor": null})
}

#[test]
fn activity_is_listed_as_the_user() {
    let deps = ScriptedDeps::default().answer("list_my_activity", Ok(page()));
    let r = run(&deps, "GET", "/v1/activity?limit=5").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, Some(json!({"items": [], "next_cursor": null})));
    let calls = deps.upstream.calls.borrow();
    assert_eq!(
        calls[0].1,
        json!({"p_limit": 5, "p_cursor_created_at": null, "p_cursor_id": null})
    );
    assert_eq!(calls[0].2, RpcAuth::User(ScriptedDeps::user_token()));
}

#[test]
fn errors_are_listed_with_their_filters() {
    let deps = ScriptedDeps::default().answer("list_error_logs", Ok(page()));
    let path = format!("/v1/admin/errors?function=projects&user_id={USER}");
    run(&deps, "GET", &path).unwrap();
    let calls = deps.upstream.calls.borrow();
    assert_eq!(
        calls[0].1,
        json!({"p_function": "projects", "p_user_id": USER, "p_limit": 20,
               "p_cursor_created_at": null, "p_cursor_id": null})
    );
    assert_eq!(calls[0].2, RpcAuth::User(ScriptedDeps::user_token()));
}

#[test]
fn performance_passes_the_hours_and_leaves_the_default_to_sql() {
    let answer = || Ok(json!({"from": "t", "items": []}));
    let deps = ScriptedDeps::default()
        .answer("get_performance_metrics", answer())
        .answer("get_performance_metrics", answer());
    run(&deps, "GET", "/v1/admin/performance?hours=48&function=chat").unwrap();
    run(&deps, "GET", "/v1/admin/performance").unwrap();
    let calls = deps.upstream.calls.borrow();
    assert_eq!(calls[0].1, json!({"p_function": "chat", "p_hours": 48}));
    assert_eq!(calls[1].1, json!({"p_function": null}));
}

#[test]
fn malformed_queries_and_other_routes_reach_no_rpc() {
    for (method, path, status) in [
        ("POST", "/v1/activity", 405),
        ("GET", "/v1/activity/x", 404),
        ("GET", "/v1/activity?since=yesterday", 400),
        ("GET", "/v1/activity?limit=lots", 400),
        ("GET", "/v1/activity?cursor=nonsense", 400),
        ("GET", "/v1/admin/errors?user_id=bob", 400),
        ("GET", "/v1/admin/performance?hours=a%20day", 400),
        ("GET", "/v1/admin/performance?hours=99999999999", 400),
        ("DELETE", "/v1/admin/errors", 405),
    ] {
        let deps = ScriptedDeps::default();
        let err = run(&deps, method, path).unwrap_err();
        assert_eq!(err.status, status, "{method} {path}");
        assert!(deps.called().is_empty(), "{method} {path}");
    }
}
