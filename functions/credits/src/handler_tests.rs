//! The credits handler with the upstream scripted: the ledger page is read as the user, and
//! its cursor is the one opaque cursor type, in the one page shape.

use crate::handle;
use genbase_shared::http::parse_query;
use genbase_shared::rpc::RpcAuth;
use genbase_shared::testing::{block_on, ScriptedDeps};
use serde_json::{json, Value};

fn get(query: &str, deps: &ScriptedDeps) -> Result<Value, genbase_shared::error::ApiError> {
    let mut req = ScriptedDeps::request("GET", "/v1/credits", "", &[]);
    req.query = parse_query(query);
    block_on(handle(&req, deps)).map(|r| r.body.unwrap())
}

fn ledger(next_before_id: Value) -> Value {
    json!({"balance": 10, "held": 2, "available": 8,
           "entries": [{"id": 41, "kind": "grant", "amount": 10}],
           "next_before_id": next_before_id})
}

#[test]
fn the_first_page_is_read_as_the_user_and_its_cursor_leads_to_the_next() {
    let deps = ScriptedDeps::default()
        .answer("get_my_credits", Ok(ledger(json!(41))))
        .answer("get_my_credits", Ok(ledger(Value::Null)));
    let first = get("limit=1", &deps).unwrap();
    assert_eq!(
        (&first["balance"], &first["held"], &first["available"]),
        (&json!(10), &json!(2), &json!(8))
    );
    assert_eq!(first["items"][0]["id"], 41);
    assert!(first.get("entries").is_none() && first.get("next_before_id").is_none());
    let cursor = first["next_cursor"].as_str().expect("an opaque cursor");
    let last = get(&format!("cursor={cursor}"), &deps).unwrap();
    assert_eq!(last["next_cursor"], Value::Null);
    let calls = deps.upstream.calls.borrow();
    assert_eq!(calls[0].1, json!({"p_limit": 1, "p_before_id": null}));
    assert_eq!(calls[1].1, json!({"p_limit": 20, "p_before_id": 41}));
    assert_eq!(calls[0].2, RpcAuth::User(ScriptedDeps::user_token()));
}

#[test]
fn bad_limits_and_cursors_are_400_without_any_rpc() {
    // A cursor of the generations list is not one of the ledger's.
    let foreign = "eyJjcmVhdGVkX2F0IjoieCIsImlkIjoieSJ9";
    for query in [
        "limit=0",
        "limit=101",
        "limit=ten",
        "cursor=",
        "cursor=%%%",
        "cursor=e30",
        &format!("cursor={foreign}"),
    ] {
        let deps = ScriptedDeps::default();
        let err = get(query, &deps).unwrap_err();
        assert_eq!(err.status, 400, "{query}");
        assert!(deps.called().is_empty(), "{query}");
    }
}

#[test]
fn other_methods_paths_and_missing_tokens_reach_no_rpc() {
    let deps = ScriptedDeps::default();
    let req = ScriptedDeps::request("POST", "/v1/credits", "{}", &[]);
    let err = block_on(handle(&req, &deps)).unwrap_err();
    assert_eq!((err.status, err.headers[0].1.as_str()), (405, "GET"));
    let req = ScriptedDeps::request("GET", "/v1/credits/x", "", &[]);
    assert_eq!(block_on(handle(&req, &deps)).unwrap_err().status, 404);
    let mut req = ScriptedDeps::request("GET", "/v1/credits", "", &[]);
    req.headers.retain(|(k, _)| k != "authorization");
    assert_eq!(block_on(handle(&req, &deps)).unwrap_err().status, 401);
    assert!(deps.called().is_empty());
}
