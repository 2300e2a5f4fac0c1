//! The usage handler with the upstream scripted: what it calls, as whom, with which month.

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

#[test]
fn costs_are_asked_of_postgres_as_the_user_for_the_month() {
    let deps = ScriptedDeps::default()
        .answer("get_monthly_api_costs", Ok(json!({"credits": 1})))
        .answer("get_monthly_api_costs", Ok(json!({"credits": 2})));
    let r = run(&deps, "GET", "/v1/usage/costs?month=2026-10").unwrap();
    assert_eq!((r.status, r.body), (200, Some(json!({"credits": 1}))));
    run(
        &deps,
        "GET",
        &format!("/v1/usage/costs?month=2026-10&user_id={USER}"),
    )
    .unwrap();
    let calls = deps.upstream.calls.borrow();
    assert_eq!(
        calls[0].1,
        json!({"p_user_id": null, "p_month": "2026-10-01"})
    );
    assert_eq!(
        calls[1].1,
        json!({"p_user_id": USER, "p_month": "2026-10-01"})
    );
    assert_eq!(calls[0].2, RpcAuth::User(ScriptedDeps::user_token()));
}

#[test]
fn malformed_queries_reach_no_rpc() {
    for (method, path, status) in [
        ("GET", "/v1/usage/costs?month=2026-13", 400),
        ("GET", "/v1/usage/costs?user_id=bob", 400),
        ("GET", "/v1/usage/costs?day=1", 400),
        ("POST", "/v1/usage/costs", 405),
        ("GET", "/v1/usage/other", 404),
    ] {
        let deps = ScriptedDeps::default();
        let err = run(&deps, method, path).unwrap_err();
        assert_eq!(err.status, status, "{method} {path}");
        assert!(deps.called().is_empty(), "{method} {path}");
    }
}
