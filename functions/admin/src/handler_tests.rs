//! The admin handler with the upstream scripted: which RPC each endpoint calls, as whom (the
//! admin's own token: SQL checks the role), with which arguments, and that bad input is
//! refused before any RPC.

use crate::handle;
use genbase_shared::error::ApiError;
use genbase_shared::rpc::RpcAuth;
use genbase_shared::testing::{block_on, ScriptedDeps};
use serde_json::{json, Value};

const USER: &str = "5e0b1a2c-0000-4000-8000-000000000002";

/// One recorded RPC: function, arguments, as whom.
type Call = (String, Value, RpcAuth);

/// Runs one request against a deps scripted with one answer for `function`; returns the
/// response (or error) and the calls made.
fn call(
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
    function: Option<&str>,
) -> (Result<Value, ApiError>, Vec<Call>) {
    let mut deps = ScriptedDeps::default();
    if let Some(f) = function {
        deps = deps.answer(f, Ok(json!({"ok": f})));
    }
    let req = ScriptedDeps::request(method, path, body, headers);
    let out = block_on(handle(&req, &deps)).map(|r| {
        assert_eq!(r.status, 200);
        r.body.unwrap()
    });
    let calls = deps.upstream.calls.borrow().clone();
    (out, calls)
}

fn as_admin() -> RpcAuth {
    RpcAuth::User(ScriptedDeps::user_token())
}

#[test]
fn a_credit_adjustment_goes_to_sql_validated_as_the_admin() {
    let body = json!({"user_id": USER, "kind": "grant", "amount": 50, "reason": "  welcome  "});
    let (out, calls) = call(
        "POST",
        "/v1/admin/credits",
        &body.to_string(),
        &[("idempotency-key", "grant-1")],
        Some("admin_adjust_credits"),
    );
    assert_eq!(out.unwrap(), json!({"ok": "admin_adjust_credits"}));
    assert_eq!(
        calls,
        [(
            "admin_adjust_credits".to_string(),
            json!({"p_user_id": USER, "p_kind": "grant", "p_amount": 50,
                   "p_reason": "welcome", "p_idempotency_key": "grant-1"}),
            as_admin()
        )]
    );
    let body = json!({"user_id": USER, "kind": "adjustment", "amount": -7, "reason": "refund"});
    let (_, calls) = call(
        "POST",
        "/v1/admin/credits",
        &body.to_string(),
        &[("idempotency-key", "adj-1")],
        Some("admin_adjust_credits"),
    );
    assert_eq!(calls[0].1["p_kind"], "adjustment");
    assert_eq!(calls[0].1["p_amount"], -7);
}

#[test]
fn bad_credit_adjustments_are_400_without_any_rpc() {
    let ok = json!({"user_id": USER, "kind": "grant", "amount": 5, "reason": "x"});
    let with = |key: &str, value: Value| {
        let mut b = ok.clone();
        b[key] = value;
        b.to_string()
    };
    let cases = [
        (
            with("kind", json!("purchase")),
            "kind must be grant or adjustment",
        ),
        (with("amount", json!(0)), "amount must be"),
        (with("amount", json!(-5)), "amount must be"),
        (with("amount", json!(1_000_000_001i64)), "amount must be"),
        (with("user_id", json!("nobody")), "user_id must be a UUID"),
        (with("reason", json!("  ")), "reason must be"),
        (with("extra", json!(1)), "unknown field"),
        ("{".to_string(), "invalid JSON"),
    ];
    for (body, message) in cases {
        let (out, calls) = call(
            "POST",
            "/v1/admin/credits",
            &body,
            &[("idempotency-key", "k")],
            None,
        );
        let err = out.unwrap_err();
        assert_eq!(err.status, 400, "{body}");
        assert!(err.message.contains(message), "{body}: {}", err.message);
        assert!(calls.is_empty(), "{body}");
    }
    let (out, calls) = call("POST", "/v1/admin/credits", &ok.to_string(), &[], None);
    assert_eq!(
        out.unwrap_err().message,
        "Idempotency-Key header is required"
    );
    assert!(calls.is_empty());
}

#[test]
fn each_read_and_action_calls_its_rpc_with_the_path_id() {
    let id = "8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f10";
    let cases = [
        (
            "GET",
            "/v1/admin/queue".to_string(),
            "",
            "admin_queue_stats",
            json!({}),
        ),
        (
            "GET",
            "/v1/admin/provider-tokens".to_string(),
            "",
            "admin_list_provider_tokens",
            json!({}),
        ),
        (
            "POST",
            format!("/v1/admin/provider-tokens/{id}/enable"),
            r#"{"reason": "secret rotated"}"#,
            "admin_enable_provider_token",
            json!({"p_token_id": id, "p_reason": "secret rotated"}),
        ),
        (
            "GET",
            "/v1/admin/stats".to_string(),
            "",
            "admin_stats",
            json!({}),
        ),
        (
            "PATCH",
            format!("/v1/admin/users/{id}"),
            r#"{"role": "moderator", "reason": "helps out"}"#,
            "admin_update_user",
            json!({"p_user_id": id, "p_reason": "helps out", "p_role": "moderator",
                   "p_is_active": null, "p_plan": null}),
        ),
        (
            "PATCH",
            format!("/v1/admin/users/{id}"),
            r#"{"is_active": false, "plan": "pro"}"#,
            "admin_update_user",
            json!({"p_user_id": id, "p_reason": null, "p_role": null,
                   "p_is_active": false, "p_plan": "pro"}),
        ),
        (
            "GET",
            format!("/v1/admin/generations/{id}"),
            "",
            "admin_get_generation",
            json!({"p_id": id}),
        ),
        (
            "POST",
            "/v1/admin/workers".to_string(),
            r#"{"name": " gpu-1 ", "capabilities": ["video_gen"]}"#,
            "admin_register_worker",
            json!({"p_name": "gpu-1", "p_capabilities": ["video_gen"]}),
        ),
    ];
    for (method, path, body, function, args) in cases {
        let (out, calls) = call(method, &path, body, &[], Some(function));
        assert_eq!(out.unwrap(), json!({"ok": function}), "{path}");
        assert_eq!(calls, [(function.to_string(), args, as_admin())], "{path}");
    }
}

#[test]
fn the_user_and_audit_lists_answer_a_page_with_an_opaque_cursor() {
    let id = "8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f10";
    let answer = json!({"items": [{"id": id}],
                        "next_cursor": {"created_at": "2026-12-01T00:00:00+00:00", "id": id}});
    for (path, function, args) in [
        (
            "/v1/admin/users",
            "admin_list_users",
            json!({"p_q": "ada", "p_role": null, "p_is_active": true, "p_plan": null,
                   "p_limit": 20, "p_cursor_created_at": null, "p_cursor_id": null}),
        ),
        (
            "/v1/admin/audit",
            "admin_list_audit",
            json!({"p_target_user_id": null, "p_actor_id": id, "p_limit": 20,
                   "p_cursor_created_at": null, "p_cursor_id": null}),
        ),
    ] {
        let deps = ScriptedDeps::default().answer(function, Ok(answer.clone()));
        let mut req = ScriptedDeps::request("GET", path, "", &[]);
        req.query = if function == "admin_list_users" {
            vec![
                ("q".into(), "ada".into()),
                ("is_active".into(), "true".into()),
            ]
        } else {
            vec![("actor_id".into(), id.into())]
        };
        let out = block_on(handle(&req, &deps)).unwrap();
        let body = out.body.unwrap();
        assert_eq!(body["items"], json!([{"id": id}]), "{path}");
        assert!(body["next_cursor"].is_string(), "{path}: {body}");
        let calls = deps.upstream.calls.borrow().clone();
        assert_eq!(calls, [(function.to_string(), args, as_admin())], "{path}");
    }
}

#[test]
fn bad_ids_and_worker_registrations_are_400_without_any_rpc() {
    let too_many: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
    let cases = [
        ("POST", "/v1/admin/provider-tokens/1/enable", String::new()),
        (
            "POST",
            "/v1/admin/provider-tokens/8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f10/enable",
            String::new(),
        ),
        (
            "PATCH",
            "/v1/admin/users/8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f10",
            json!({"role": "admin", "reason": "x", "email": "e@x"}).to_string(),
        ),
        (
            "PATCH",
            "/v1/admin/users/8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f10",
            json!({"is_active": "no", "reason": "x"}).to_string(),
        ),
        (
            "PATCH",
            "/v1/admin/users/not-a-uuid",
            json!({"role": "admin", "reason": "x"}).to_string(),
        ),
        ("GET", "/v1/admin/generations/not-a-uuid", String::new()),
        (
            "POST",
            "/v1/admin/workers",
            json!({"name": "n", "capabilities": []}).to_string(),
        ),
        (
            "POST",
            "/v1/admin/workers",
            json!({"name": "n", "capabilities": too_many}).to_string(),
        ),
        (
            "POST",
            "/v1/admin/workers",
            json!({"name": "n".repeat(101), "capabilities": ["a"]}).to_string(),
        ),
        (
            "POST",
            "/v1/admin/workers",
            json!({"name": "n", "capabilities": ["a\u{0}"]}).to_string(),
        ),
    ];
    for (method, path, body) in cases {
        let (out, calls) = call(method, path, &body, &[], None);
        assert_eq!(out.unwrap_err().status, 400, "{path} {body}");
        assert!(calls.is_empty(), "{path} {body}");
    }
}

#[test]
fn unknown_paths_wrong_methods_and_missing_tokens_reach_no_rpc() {
    let (out, calls) = call("GET", "/v1/admin/nothing", "", &[], None);
    assert_eq!(out.unwrap_err().status, 404);
    assert!(calls.is_empty());
    let (out, calls) = call("DELETE", "/v1/admin/queue", "", &[], None);
    let err = out.unwrap_err();
    assert_eq!(err.status, 405);
    assert_eq!(err.headers, [("allow".to_string(), "GET".to_string())]);
    assert!(calls.is_empty());

    let deps = ScriptedDeps::default();
    let mut req = ScriptedDeps::request("GET", "/v1/admin/queue", "", &[]);
    req.headers.retain(|(k, _)| k != "authorization");
    assert_eq!(block_on(handle(&req, &deps)).unwrap_err().status, 401);
    assert!(deps.called().is_empty());
}
