//! The worker handler with the upstream scripted: every call goes as the service role with
//! the worker's key for SQL to check, and bad keys or bodies never reach an RPC.

use crate::handle;
use genbase_shared::error::ApiError;
use genbase_shared::rpc::RpcAuth;
use genbase_shared::testing::{block_on, ScriptedDeps};
use serde_json::{json, Value};

const KEY: &str = "gw_00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff";
const TASK: &str = "8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f10";

/// One recorded RPC: function, arguments, as whom.
type Call = (String, Value, RpcAuth);

fn send(
    path: &str,
    body: &str,
    key: Option<&str>,
    function: Option<&str>,
) -> (Result<Value, ApiError>, Vec<Call>) {
    let mut deps = ScriptedDeps::default();
    if let Some(f) = function {
        deps = deps.answer(f, Ok(json!({"ok": f})));
    }
    let mut req = ScriptedDeps::request("POST", path, body, &[]);
    req.headers.retain(|(k, _)| k != "authorization");
    if let Some(key) = key {
        req.headers
            .push(("authorization".into(), format!("Bearer {key}")));
    }
    let out = block_on(handle(&req, &deps)).map(|r| r.body.unwrap());
    let calls = deps.upstream.calls.borrow().clone();
    (out, calls)
}

#[test]
fn each_endpoint_calls_its_rpc_as_the_service_role_with_the_key() {
    let task = |action: &str| format!("/v1/worker/tasks/{TASK}/{action}");
    let cases = [
        (
            "/v1/worker/claim".to_string(),
            "",
            "worker_claim",
            json!({"p_worker_key": KEY, "p_task_types": null, "p_limit": 1, "p_lease_seconds": 60}),
        ),
        (
            "/v1/worker/claim".to_string(),
            r#"{"task_types": [" video_gen "], "limit": 5, "lease_seconds": 120}"#,
            "worker_claim",
            json!({"p_worker_key": KEY, "p_task_types": ["video_gen"], "p_limit": 5, "p_lease_seconds": 120}),
        ),
        (
            task("heartbeat"),
            " ",
            "worker_heartbeat",
            json!({"p_worker_key": KEY, "p_task_id": TASK, "p_lease_seconds": 60}),
        ),
        (
            task("complete"),
            r#"{"output": {"url": "u"}, "duration_seconds": 12.5}"#,
            "worker_complete",
            json!({"p_worker_key": KEY, "p_task_id": TASK, "p_output": {"url": "u"}, "p_duration_seconds": 12.5}),
        ),
        (
            task("fail"),
            r#"{"error": " out of memory "}"#,
            "worker_fail",
            json!({"p_worker_key": KEY, "p_task_id": TASK, "p_error": "out of memory", "p_retryable": true}),
        ),
        (
            task("fail"),
            r#"{"error": "bad input", "retryable": false}"#,
            "worker_fail",
            json!({"p_worker_key": KEY, "p_task_id": TASK, "p_error": "bad input", "p_retryable": false}),
        ),
    ];
    for (path, body, function, args) in cases {
        let (out, calls) = send(&path, body, Some(KEY), Some(function));
        assert_eq!(out.unwrap(), json!({"ok": function}), "{path} {body}");
        assert_eq!(
            calls,
            [(function.to_string(), args, RpcAuth::ServiceRole)],
            "{path} {body}"
        );
    }
}

#[test]
fn a_batch_of_results_is_one_rpc_with_every_result() {
    let other = "0e6b6c3a-2f44-4f1e-8d2a-6a1f8c0d9b21";
    let body = json!({"results": [
        {"task_id": TASK.to_uppercase(), "output": {"url": "a"}, "duration_seconds": 12.5},
        {"task_id": other, "output": {}, "duration_seconds": 0},
    ]});
    let (out, calls) = send(
        "/v1/worker/tasks/complete",
        &body.to_string(),
        Some(KEY),
        Some("worker_complete_batch"),
    );
    assert_eq!(out.unwrap(), json!({"ok": "worker_complete_batch"}));
    assert_eq!(
        calls,
        [(
            "worker_complete_batch".to_string(),
            json!({"p_worker_key": KEY, "p_results": [
                {"task_id": TASK, "output": {"url": "a"}, "duration_seconds": 12.5},
                {"task_id": other, "output": {}, "duration_seconds": 0.0},
            ]}),
            RpcAuth::ServiceRole
        )]
    );
}

#[test]
fn a_bad_batch_is_refused_whole_without_any_rpc() {
    let item = |task: &str, seconds: f64| json!({"task_id": task, "output": {}, "duration_seconds": seconds});
    let other = "0e6b6c3a-2f44-4f1e-8d2a-6a1f8c0d9b21";
    let cases = [
        (
            json!({"results": []}),
            "results must be an array of 1 to 100 items",
        ),
        (
            json!({"results": vec![item(TASK, 1.0); 101]}),
            "results must be an array of 1 to 100 items",
        ),
        (
            json!({"results": [item(TASK, 1.0), item("nope", 1.0)]}),
            "results[1].task_id must be a UUID",
        ),
        (
            json!({"results": [item(other, 1.0), item(TASK, -1.0)]}),
            "results[1]: duration_seconds must be between 0 and 86400",
        ),
        (
            json!({"results": [{"task_id": TASK, "output": [], "duration_seconds": 1}]}),
            "results[0]: output must be a JSON object of at most 16384 bytes",
        ),
        (
            json!({"results": [item(TASK, 1.0), item(other, 1.0), item(TASK, 2.0)]}),
            "each task may be listed once",
        ),
    ];
    for (body, message) in cases {
        let (out, calls) = send(
            "/v1/worker/tasks/complete",
            &body.to_string(),
            Some(KEY),
            None,
        );
        let err = out.unwrap_err();
        assert_eq!((err.status, err.message.as_str()), (400, message), "{body}");
        assert!(calls.is_empty(), "{body}");
    }
    for body in [
        json!({"results": [{"task_id": TASK, "output": {}, "duration_seconds": 1, "status": "ok"}]}),
        json!([item(TASK, 1.0)]),
        json!({}),
    ] {
        let (out, calls) = send(
            "/v1/worker/tasks/complete",
            &body.to_string(),
            Some(KEY),
            None,
        );
        assert_eq!(out.unwrap_err().status, 400, "{body}");
        assert!(calls.is_empty(), "{body}");
    }
}

#[test]
fn a_missing_or_malformed_key_is_401_without_any_rpc() {
    let long = format!("gw_{}", "a".repeat(200));
    for key in [
        None,
        Some("gw_"),
        Some("gw_xyz"),
        Some(ScriptedDeps::user_token().as_str()),
        Some(long.as_str()),
    ] {
        let (out, calls) = send("/v1/worker/claim", "", key, None);
        assert_eq!(out.unwrap_err().status, 401, "{key:?}");
        assert!(calls.is_empty());
    }
}

#[test]
fn bad_bodies_and_ids_are_400_without_any_rpc() {
    let task = |action: &str| format!("/v1/worker/tasks/{TASK}/{action}");
    let big = json!({"output": {"x": "y".repeat(16_384)}, "duration_seconds": 1}).to_string();
    let cases = [
        (
            "/v1/worker/claim".to_string(),
            r#"{"limit": 0}"#.to_string(),
        ),
        (
            "/v1/worker/claim".to_string(),
            r#"{"limit": 101}"#.to_string(),
        ),
        (
            "/v1/worker/claim".to_string(),
            r#"{"lease_seconds": 9}"#.to_string(),
        ),
        (
            "/v1/worker/claim".to_string(),
            r#"{"task_types": [""]}"#.to_string(),
        ),
        (
            "/v1/worker/claim".to_string(),
            r#"{"other": 1}"#.to_string(),
        ),
        (task("heartbeat"), r#"{"lease_seconds": 3601}"#.to_string()),
        (
            task("complete"),
            r#"{"output": [], "duration_seconds": 1}"#.to_string(),
        ),
        (
            task("complete"),
            r#"{"output": {}, "duration_seconds": -1}"#.to_string(),
        ),
        (
            task("complete"),
            r#"{"output": {}, "duration_seconds": 1e9}"#.to_string(),
        ),
        (task("complete"), big),
        (task("complete"), String::new()),
        (task("fail"), r#"{"error": ""}"#.to_string()),
        (task("fail"), "{".to_string()),
        (
            "/v1/worker/tasks/nope/fail".to_string(),
            r#"{"error": "x"}"#.to_string(),
        ),
    ];
    for (path, body) in cases {
        let (out, calls) = send(&path, &body, Some(KEY), None);
        let err = out.unwrap_err();
        assert_eq!(err.status, 400, "{path} {body}: {}", err.message);
        assert!(!err.message.contains("p_"), "{}", err.message);
        assert!(calls.is_empty(), "{path} {body}");
    }
}

#[test]
fn unknown_paths_and_wrong_methods_reach_no_rpc() {
    let (out, _) = send("/v1/worker/tasks", "", Some(KEY), None);
    assert_eq!(out.unwrap_err().status, 404);
    let deps = ScriptedDeps::default();
    let req = ScriptedDeps::request("GET", "/v1/worker/claim", "", &[]);
    let err = block_on(handle(&req, &deps)).unwrap_err();
    assert_eq!((err.status, err.headers[0].1.as_str()), (405, "POST"));
    assert!(deps.called().is_empty());
}

#[test]
fn a_batch_of_chunks_is_begun_with_the_key_embedded_and_finished() {
    let begun = json!({"batch_id": "b1", "credits_reserved": 1, "request": {
        "protocol": "openai_embeddings", "provider": "openai", "model": "text-embedding-3-small",
        "dimensions": 2, "inputs": ["alpha beta"]}});
    let deps = ScriptedDeps::default()
        .var("OPENAI_API_URL", "http://fake")
        .answer("begin_embeddings", Ok(begun))
        .answer("next_provider_token", Ok(json!({"id": "k1", "token": "sk-pool"})))
        .http(Ok(genbase_shared::deps::Inbound {
            status: 200,
            body: json!({"data": [{"index": 0, "embedding": [0.6, 0.8]}], "usage": {"prompt_tokens": 2}})
                .to_string(),
        }))
        .answer("report_provider_token", Ok(Value::Null))
        .answer("finish_embeddings", Ok(json!({"embedded": 1, "tokens": 2, "credits_charged": 1})));
    let chunks = json!([{"index": 0, "content": "alpha beta", "page": 1, "heading": null}]);
    let mut req = ScriptedDeps::request(
        "POST",
        &format!("/v1/worker/tasks/{TASK}/embeddings"),
        &json!({"chunks": chunks}).to_string(),
        &[],
    );
    req.headers.retain(|(k, _)| k != "authorization");
    req.headers
        .push(("authorization".into(), format!("Bearer {KEY}")));
    let out = block_on(handle(&req, &deps)).unwrap();
    assert_eq!(
        out.body.unwrap(),
        json!({"embedded": 1, "tokens": 2, "credits_charged": 1})
    );
    let calls = deps.upstream.calls.borrow();
    assert_eq!(
        calls[0],
        (
            "begin_embeddings".to_string(),
            json!({"p_worker_key": KEY, "p_task_id": TASK, "p_chunks": chunks}),
            RpcAuth::ServiceRole
        )
    );
    assert_eq!(calls[3].1["p_embeddings"], json!([[0.6, 0.8]]));
}
