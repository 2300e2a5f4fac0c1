//! The workspaces handler with the upstream scripted: what each endpoint calls, as whom,
//! what it answers, and what it refuses before any RPC.

use crate::handle;
use genbase_shared::error::ApiError;
use genbase_shared::http::{parse_query, ApiResponse};
use genbase_shared::rpc::RpcAuth;
use genbase_shared::testing::{block_on, ScriptedDeps};
use serde_json::{json, Value};

const ID: &str = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11";
const USER: &str = "5e0b1a2c-0000-4000-8000-000000000002";

fn send(
    deps: &ScriptedDeps,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Result<ApiResponse, ApiError> {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut req = ScriptedDeps::request(method, path, body, headers);
    req.query = parse_query(query);
    block_on(handle(&req, deps))
}

fn ledger(next_before_id: Value) -> Value {
    json!({"balance": 10, "held": 2, "available": 8,
           "entries": [{"id": 41, "kind": "transfer", "amount": 10}],
           "next_before_id": next_before_id})
}

#[test]
fn each_endpoint_is_one_rpc_as_the_caller_with_its_arguments_and_status() {
    let cases: [(&str, String, &str, &str, Value, u16); 7] = [
        (
            "POST",
            "/v1/workspaces".into(),
            r#"{"name": "Studio", "slug": "studio"}"#,
            "create_workspace",
            json!({"p_name": "Studio", "p_slug": "studio"}),
            201,
        ),
        (
            "POST",
            "/v1/workspaces".into(),
            r#"{"name": "Studio"}"#,
            "create_workspace",
            json!({"p_name": "Studio", "p_slug": null}),
            201,
        ),
        (
            "GET",
            format!("/v1/workspaces/{ID}"),
            "",
            "get_workspace",
            json!({"p_id": ID}),
            200,
        ),
        (
            "PATCH",
            format!("/v1/workspaces/{ID}"),
            r#"{"name": "Renamed"}"#,
            "update_workspace",
            json!({"p_id": ID, "p_patch": {"name": "Renamed"}}),
            200,
        ),
        (
            "DELETE",
            format!("/v1/workspaces/{ID}"),
            "",
            "delete_workspace",
            json!({"p_id": ID}),
            204,
        ),
        (
            "GET",
            format!("/v1/workspaces/{ID}/generations/counts"),
            "",
            "get_workspace_generation_counts",
            json!({"p_workspace_id": ID}),
            200,
        ),
        (
            "POST",
            "/v1/invitations/accept".into(),
            r#"{"token": "t0k3n"}"#,
            "accept_invitation",
            json!({"p_token": "t0k3n"}),
            200,
        ),
    ];
    for (method, path, body, function, args, status) in cases {
        let deps = ScriptedDeps::default().answer(function, Ok(json!({"id": ID})));
        let resp = send(&deps, method, &path, body, &[]).unwrap();
        assert_eq!(resp.status, status, "{method} {path}");
        let calls = deps.upstream.calls.borrow();
        assert_eq!(
            (calls[0].0.as_str(), &calls[0].1),
            (function, &args),
            "{method} {path}"
        );
        assert_eq!(calls[0].2, RpcAuth::User(ScriptedDeps::user_token()));
    }
}

#[test]
fn the_list_is_one_page_of_every_workspace_of_the_caller() {
    let deps = ScriptedDeps::default().answer("list_workspaces", Ok(json!([{"id": ID}])));
    let resp = send(&deps, "GET", "/v1/workspaces", "", &[]).unwrap();
    assert_eq!(resp.body, Some(json!({"items": [{"id": ID}]})));
    assert_eq!(deps.upstream.calls.borrow()[0].1, json!({}));
    let deps = ScriptedDeps::default();
    let err = send(&deps, "GET", "/v1/workspaces?limit=5", "", &[]).unwrap_err();
    assert_eq!(err.status, 400);
    assert!(deps.called().is_empty());
}

#[test]
fn the_members_and_invitations_of_a_workspace_are_the_sharing_endpoints() {
    let deps = ScriptedDeps::default().answer("list_members", Ok(json!([{"user_id": USER}])));
    let resp = send(
        &deps,
        "GET",
        &format!("/v1/workspaces/{ID}/members"),
        "",
        &[],
    )
    .unwrap();
    assert_eq!(resp.body, Some(json!({"items": [{"user_id": USER}]})));
    assert_eq!(
        deps.upstream.calls.borrow()[0].1,
        json!({"p_resource_id": ID})
    );
    let deps = ScriptedDeps::default().answer("create_invitation", Ok(json!({"token": "t"})));
    let path = format!("/v1/workspaces/{ID}/invitations");
    let resp = send(&deps, "POST", &path, r#"{"role": "viewer"}"#, &[]).unwrap();
    assert_eq!(resp.status, 201);
    let deps = ScriptedDeps::default().answer("remove_member", Ok(Value::Null));
    let path = format!("/v1/workspaces/{ID}/members/{USER}");
    assert_eq!(send(&deps, "DELETE", &path, "", &[]).unwrap().status, 204);
}

#[test]
fn the_ledger_page_is_read_as_the_caller_and_its_cursor_leads_to_the_next() {
    let deps = ScriptedDeps::default()
        .answer("get_workspace_credits", Ok(ledger(json!(41))))
        .answer("get_workspace_credits", Ok(ledger(Value::Null)));
    let first = send(
        &deps,
        "GET",
        &format!("/v1/workspaces/{ID}/credits?limit=1"),
        "",
        &[],
    )
    .unwrap()
    .body
    .unwrap();
    assert_eq!(
        (&first["balance"], &first["held"], &first["available"]),
        (&json!(10), &json!(2), &json!(8))
    );
    assert_eq!(first["items"][0]["id"], 41);
    assert!(first.get("entries").is_none() && first.get("next_before_id").is_none());
    let cursor = first["next_cursor"].as_str().expect("an opaque cursor");
    let path = format!("/v1/workspaces/{ID}/credits?cursor={cursor}");
    let last = send(&deps, "GET", &path, "", &[]).unwrap().body.unwrap();
    assert_eq!(last["next_cursor"], Value::Null);
    let calls = deps.upstream.calls.borrow();
    assert_eq!(
        calls[0].1,
        json!({"p_workspace_id": ID, "p_limit": 1, "p_before_id": null})
    );
    assert_eq!(
        calls[1].1,
        json!({"p_workspace_id": ID, "p_limit": 20, "p_before_id": 41})
    );
}

#[test]
fn funding_sends_the_amount_and_the_key_and_a_replay_is_a_200() {
    for (created, status) in [(true, 201), (false, 200)] {
        let mut answer = ledger(Value::Null);
        answer["created"] = json!(created);
        let deps = ScriptedDeps::default().answer("fund_workspace", Ok(answer));
        let path = format!("/v1/workspaces/{ID}/credits/fund");
        let resp = send(
            &deps,
            "POST",
            &path,
            r#"{"amount": 10}"#,
            &[("idempotency-key", "f-1")],
        )
        .unwrap();
        let body = resp.body.unwrap();
        assert_eq!((resp.status, &body["created"]), (status, &json!(created)));
        assert_eq!(
            (&body["balance"], &body["items"][0]["id"]),
            (&json!(10), &json!(41))
        );
        assert_eq!(
            deps.upstream.calls.borrow()[0].1,
            json!({"p_workspace_id": ID, "p_amount": 10, "p_idempotency_key": "f-1"})
        );
    }
}

#[test]
fn a_fund_without_a_key_is_left_for_sql_to_refuse() {
    let refusal = ApiError::from_postgrest(
        400,
        &json!({"code": "PT400", "message": "Idempotency-Key is required (at most 200 characters)"})
            .to_string(),
    );
    let deps = ScriptedDeps::default().answer("fund_workspace", Err(refusal));
    let path = format!("/v1/workspaces/{ID}/credits/fund");
    let err = send(&deps, "POST", &path, r#"{"amount": 10}"#, &[]).unwrap_err();
    assert_eq!(err.status, 400);
    assert_eq!(
        deps.upstream.calls.borrow()[0].1["p_idempotency_key"],
        Value::Null
    );
}

#[test]
fn bad_requests_are_400_without_any_rpc() {
    let fund = format!("/v1/workspaces/{ID}/credits/fund");
    let credits = format!("/v1/workspaces/{ID}/credits");
    for (method, path, body, headers) in [
        ("POST", "/v1/workspaces", "", &[][..]),
        ("POST", "/v1/workspaces", "{", &[]),
        ("POST", "/v1/workspaces", r#"{"slug": "s"}"#, &[]),
        (
            "POST",
            "/v1/workspaces",
            r#"{"name": "n", "owner": "x"}"#,
            &[],
        ),
        ("POST", "/v1/workspaces", r#"{"name": 5}"#, &[]),
        ("GET", "/v1/workspaces/nope", "", &[]),
        ("PATCH", &format!("/v1/workspaces/{ID}"), "", &[]),
        (
            "POST",
            &fund,
            r#"{"amount": "10"}"#,
            &[("idempotency-key", "k")],
        ),
        (
            "POST",
            &fund,
            r#"{"amount": 1, "from": "x"}"#,
            &[("idempotency-key", "k")],
        ),
        (
            "POST",
            &fund,
            r#"{"amount": 1}"#,
            &[("idempotency-key", " ")],
        ),
        ("GET", &format!("{credits}?limit=0"), "", &[]),
        ("GET", &format!("{credits}?cursor=garbage"), "", &[]),
        ("GET", &format!("{credits}?before=3"), "", &[]),
        ("POST", "/v1/invitations/accept", r#"{"code": "x"}"#, &[]),
    ] {
        let deps = ScriptedDeps::default();
        let err = send(&deps, method, path, body, headers).unwrap_err();
        assert_eq!(err.status, 400, "{method} {path} {body}");
        assert!(deps.called().is_empty(), "{method} {path} {body}");
    }
}

#[test]
fn other_methods_paths_and_missing_tokens_reach_no_rpc() {
    let deps = ScriptedDeps::default();
    for (method, path, status) in [
        ("PUT", "/v1/workspaces".to_string(), 405),
        ("POST", format!("/v1/workspaces/{ID}"), 405),
        ("GET", format!("/v1/workspaces/{ID}/credits/fund"), 405),
        ("PUT", format!("/v1/workspaces/{ID}/members"), 405),
        ("GET", format!("/v1/workspaces/{ID}/nothing"), 404),
        ("GET", "/v1/invitations".to_string(), 404),
    ] {
        let err = send(&deps, method, &path, "", &[]).unwrap_err();
        assert_eq!(err.status, status, "{method} {path}");
    }
    for (method, path) in [
        ("GET", "/v1/workspaces".to_string()),
        ("GET", format!("/v1/workspaces/{ID}/members")),
        ("POST", "/v1/invitations/accept".to_string()),
    ] {
        let mut req = ScriptedDeps::request(method, &path, "{}", &[]);
        req.headers.retain(|(k, _)| k != "authorization");
        let err = block_on(handle(&req, &deps)).unwrap_err();
        assert_eq!(err.status, 401, "{method} {path}");
    }
    assert!(deps.called().is_empty());
}

#[test]
fn sql_s_gone_reaches_the_client_as_a_410() {
    let refusal = ApiError::from_postgrest(
        410,
        &json!({"code": "PT410", "message": "invitation has expired"}).to_string(),
    );
    let deps = ScriptedDeps::default().answer("accept_invitation", Err(refusal));
    let err = send(
        &deps,
        "POST",
        "/v1/invitations/accept",
        r#"{"token": "t"}"#,
        &[],
    )
    .unwrap_err();
    assert_eq!(
        (err.status, err.code.as_str(), err.message.as_str()),
        (410, "gone", "invitation has expired")
    );
}
