//! One owner per input rule: SQL defines every limit (`api.input_limits()`); the copies a
//! function checks before calling SQL must agree with it, at the boundary and past it, and
//! no error a client reads names a SQL parameter (`p_*`).

use genbase_shared::limits;
use genbase_tests::{Reply, Stack};
use serde_json::{json, Value};

#[test]
fn the_rust_copies_of_limits_are_the_sql_ones() {
    let stack = Stack::from_env();
    let user = stack.new_user("limits");
    let r = stack
        .rpc_client()
        .call("input_limits", &json!({}), Some(&user.token));
    assert_eq!(r.status, 200, "{r:?}");
    for (key, rust) in limits::CHECKED_IN_RUST {
        assert_eq!(
            r.body[key].as_i64(),
            Some(*rust),
            "limit {key}: Rust has {rust}, SQL has {}",
            r.body[key]
        );
    }
}

#[test]
fn both_sides_accept_the_limit_and_refuse_one_more() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("limits-edge", 100);
    let rpc = stack.rpc_client();
    let image = |prompt: String| json!({"kind": "image", "model": "flux-schnell", "prompt": format!("[never] {prompt}")});
    let at_limit = "p".repeat(limits::PROMPT_CHARS - "[never] ".len());
    let r = stack.json(
        "POST",
        "/v1/generations",
        Some(&user.token),
        &image(at_limit),
    );
    assert_eq!(r.status, 202, "a prompt at the limit: {r:?}");
    let over = "p".repeat(limits::PROMPT_CHARS + 1 - "[never] ".len());
    let r = stack.json(
        "POST",
        "/v1/generations",
        Some(&user.token),
        &image(over.clone()),
    );
    assert_eq!(r.status, 400, "the function refuses one more: {r:?}");
    // And SQL refuses it too when a client skips the function.
    let r = rpc.call(
        "create_generation",
        &json!({"p_kind": "image", "p_model": "flux-schnell", "p_prompt": format!("[never] {over}")}),
        Some(&user.token),
    );
    assert_eq!(r.status, 400, "SQL refuses one more: {r:?}");
    assert!(
        r.body["message"].as_str().unwrap().starts_with("prompt "),
        "{r:?}"
    );

    let key_at_limit = "k".repeat(limits::IDEMPOTENCY_KEY_CHARS);
    let r = stack.send(
        "POST",
        "/v1/generations",
        Some(&user.token),
        Some(&image("kite".into()).to_string()),
        &[
            ("content-type", "application/json"),
            ("idempotency-key", &key_at_limit),
        ],
    );
    assert_eq!(r.status, 202, "an Idempotency-Key at the limit: {r:?}");
    let r = rpc.call(
        "create_generation",
        &json!({"p_kind": "image", "p_model": "flux-schnell", "p_prompt": "kite",
                "p_idempotency_key": "k".repeat(limits::IDEMPOTENCY_KEY_CHARS + 1)}),
        Some(&user.token),
    );
    assert_eq!(r.status, 400, "{r:?}");
    let r = stack.get(
        &format!("/v1/generations?limit={}", limits::PAGE_LIMIT_MAX),
        Some(&user.token),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = rpc.call(
        "list_generations",
        &json!({"p_limit": limits::PAGE_LIMIT_MAX + 1}),
        Some(&user.token),
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(stack.audit(), json!([]));
}

fn message(r: &Reply) -> String {
    r.body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn no_error_message_names_a_sql_parameter() {
    let stack = Stack::from_env();
    let (admin, user) = stack.funded_user("limits-names", 10);
    let key = stack.register_worker(&admin, "names", &["names_only"]);
    let task = uuid::Uuid::new_v4().to_string();
    let cases: Vec<(&str, String, Option<&str>, Value)> = vec![
        (
            "POST",
            "/v1/generations".into(),
            Some(&user.token),
            json!({"kind": "x", "model": "flux-schnell", "prompt": "p"}),
        ),
        (
            "POST",
            "/v1/generations".into(),
            Some(&user.token),
            json!({"kind": "image", "model": "nope", "prompt": "p"}),
        ),
        (
            "POST",
            "/v1/generations".into(),
            Some(&user.token),
            json!({"kind": "image", "model": "flux-schnell", "prompt": "p", "params": {"num_outputs": 9}}),
        ),
        (
            "POST",
            "/v1/generations".into(),
            Some(&user.token),
            json!({"kind": "image", "model": "flux-schnell", "prompt": "p", "params": {"x": 1}}),
        ),
        (
            "POST",
            "/v1/generations".into(),
            Some(&user.token),
            json!({"kind": "video", "model": "wan-2.1-gpu", "prompt": "p", "params": {"duration": 10}}),
        ),
        (
            "PATCH",
            "/v1/me".into(),
            Some(&user.token),
            json!({"display_name": ""}),
        ),
        (
            "PATCH",
            "/v1/me".into(),
            Some(&user.token),
            json!({"nope": 1}),
        ),
        (
            "POST",
            "/v1/admin/credits".into(),
            Some(&admin.token),
            json!({"user_id": user.id, "kind": "purchase", "amount": 5, "reason": "x"}),
        ),
        (
            "POST",
            "/v1/admin/workers".into(),
            Some(&admin.token),
            json!({"name": "n".repeat(101), "capabilities": ["a"]}),
        ),
        (
            "POST",
            "/v1/admin/workers".into(),
            Some(&admin.token),
            json!({"name": "n", "capabilities": ["Bad Type"]}),
        ),
        (
            "POST",
            "/v1/worker/claim".into(),
            Some(&key),
            json!({"lease_seconds": 1}),
        ),
        (
            "POST",
            "/v1/worker/claim".into(),
            Some(&key),
            json!({"limit": 1000}),
        ),
        (
            "POST",
            format!("/v1/worker/tasks/{task}/heartbeat"),
            Some(&key),
            json!({}),
        ),
        (
            "POST",
            format!("/v1/worker/tasks/{task}/complete"),
            Some(&key),
            json!({"output": {}, "duration_seconds": 1e9}),
        ),
        (
            "POST",
            format!("/v1/worker/tasks/{task}/fail"),
            Some(&key),
            json!({"error": "e".repeat(3000)}),
        ),
    ];
    for (method, path, token, body) in cases {
        let r = stack.json(method, &path, token, &body);
        assert!(
            (400..500).contains(&r.status),
            "{method} {path} {body}: {r:?}"
        );
        let m = message(&r);
        assert!(!m.is_empty(), "{method} {path}: {r:?}");
        assert!(
            !m.contains("p_"),
            "{method} {path} names a SQL parameter: {m}"
        );
    }
    let r = stack.get("/v1/usage?month=2026-13", Some(&user.token));
    assert_eq!(r.status, 400, "{r:?}");
    assert!(!message(&r).contains("p_"));
}
