//! The loras handler with the upstream scripted: what it calls, as whom, what reaches the
//! provider, and what it answers when the provider or the client misbehaves.

use crate::handle;
use genbase_shared::deps::Inbound;
use genbase_shared::error::ApiError;
use genbase_shared::http::ApiResponse;
use genbase_shared::rpc::RpcAuth;
use genbase_shared::testing::{block_on, ScriptedDeps};
use serde_json::{json, Value};

const LORA: &str = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11";
const GEN: &str = "5b0e2f6e-0c3a-4f1e-9d8e-3f1a2b4c5d6e";
const UPLOAD: &str = "a0000000-0000-4000-8000-000000000001";
const IMAGE: &str = "a11ce000-0000-4000-8000-000000000001/img.png";

fn run(
    deps: &ScriptedDeps,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Result<ApiResponse, ApiError> {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut req = ScriptedDeps::request(method, path, body, headers);
    req.query = genbase_shared::http::parse_query(query);
    block_on(handle(&req, deps))
}

fn user() -> RpcAuth {
    RpcAuth::User(ScriptedDeps::user_token())
}

#[test]
fn a_lora_is_created_as_the_user_with_typed_arguments() {
    let deps = ScriptedDeps::default().answer("create_lora", Ok(json!({"id": LORA})));
    let body = json!({"name": "Face", "base_model": "flux-dev", "trigger_word": "ohwx",
                      "workspace_id": UPLOAD});
    let r = run(&deps, "POST", "/v1/loras", &body.to_string(), &[]).unwrap();
    assert_eq!(r.status, 201);
    let calls = deps.upstream.calls.borrow();
    assert_eq!(
        calls[0].1,
        json!({"p_name": "Face", "p_base_model": "flux-dev", "p_description": null,
               "p_trigger_word": "ohwx", "p_visibility": "private", "p_workspace_id": UPLOAD})
    );
    assert_eq!(calls[0].2, user());
}

#[test]
fn malformed_input_reaches_no_rpc() {
    for (method, path, body) in [
        ("POST", "/v1/loras", json!({"name": "x"})),
        (
            "POST",
            "/v1/loras",
            json!({"name": "x", "base_model": "m", "status": "ready"}),
        ),
        (
            "POST",
            "/v1/loras",
            json!({"name": "x", "base_model": "m", "workspace_id": "ws"}),
        ),
        ("GET", "/v1/loras?visibilty=public", Value::Null),
        ("GET", "/v1/loras?workspace_id=nope", Value::Null),
        (
            "POST",
            &format!("/v1/loras/{LORA}/images"),
            json!({"upload_id": "u"}),
        ),
        (
            "POST",
            &format!("/v1/loras/{LORA}/train"),
            json!({"model": "m", "units": 1}),
        ),
        (
            "POST",
            &format!("/v1/loras/{LORA}/train"),
            json!({"params": {}}),
        ),
        (
            "POST",
            "/v1/training-data/videos/x/segments",
            json!({"start_time": 0, "end_time": 1}),
        ),
        (
            "POST",
            &format!("/v1/training-data/videos/{LORA}/segments"),
            json!({"start_time": "0", "end_time": 1}),
        ),
        (
            "POST",
            &format!("/v1/training-data/batches/{LORA}/videos"),
            json!({"upload_id": UPLOAD}),
        ),
    ] {
        let deps = ScriptedDeps::default().var("REPLICATE_TRAINING_DESTINATION", "genbase/loras");
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let err = run(&deps, method, path, &body, &[]).unwrap_err();
        assert_eq!(err.status, 400, "{method} {path} {body}: {err:?}");
        assert!(deps.called().is_empty(), "{method} {path}");
    }
}

#[test]
fn unknown_routes_and_methods_are_refused_without_any_rpc() {
    for (method, path, status) in [
        ("PUT", "/v1/loras", 405),
        ("GET", &format!("/v1/loras/{LORA}/train") as &str, 405),
        ("GET", "/v1/loras/x/y/z", 404),
        ("POST", "/v1/training-data", 404),
    ] {
        let deps = ScriptedDeps::default();
        let err = run(&deps, method, path, "", &[]).unwrap_err();
        assert_eq!(err.status, status, "{method} {path}");
        assert!(deps.called().is_empty());
    }
}

#[test]
fn stored_weights_are_signed_as_the_caller_in_one_request() {
    let deps = ScriptedDeps::default()
        .var("SUPABASE_URL", "http://sb.test")
        .answer(
            "list_loras",
            Ok(json!({"items": [
                {"id": "l1", "weights": {"bucket": "lora-models", "path": "u/g1/0.bin"}},
                {"id": "l2", "weights": null},
                {"id": "l3", "weights": {"bucket": "lora-models", "path": "u/g3/0.bin"}},
            ], "next_cursor": null})),
        )
        .http(Ok(Inbound {
            status: 200,
            body: json!([
                {"path": "u/g1/0.bin", "signedURL": "/object/sign/lora-models/u/g1/0.bin?token=a"},
                {"path": "u/g3/0.bin", "signedURL": null, "error": "not found"},
            ])
            .to_string(),
        }));
    let r = run(&deps, "GET", "/v1/loras?visibility=public&limit=3", "", &[]).unwrap();
    let items = &r.body.unwrap()["items"];
    assert_eq!(
        items[0]["weights"]["url"],
        "http://sb.test/storage/v1/object/sign/lora-models/u/g1/0.bin?token=a"
    );
    assert!(items[0]["weights"]["url_expires_at"].is_i64());
    assert_eq!(items[1]["weights"], Value::Null);
    assert_eq!(items[2]["weights"]["url"], Value::Null);
    let sent = deps.sent.borrow();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].url,
        "http://sb.test/storage/v1/object/sign/lora-models"
    );
    let token = ScriptedDeps::user_token();
    assert!(sent[0]
        .headers
        .contains(&("authorization".into(), format!("Bearer {token}"))));
    let calls = deps.upstream.calls.borrow();
    assert_eq!(calls[0].1["p_visibility"], "public");
    assert_eq!(calls[0].1["p_limit"], 3);
}

#[test]
fn deletes_answer_204() {
    for (path, function) in [
        (format!("/v1/loras/{LORA}"), "delete_lora"),
        (
            format!("/v1/loras/{LORA}/images/{UPLOAD}"),
            "remove_lora_image",
        ),
        (
            format!("/v1/training-data/batches/{LORA}"),
            "delete_training_batch",
        ),
        (
            format!("/v1/training-data/segments/{LORA}"),
            "delete_training_segment",
        ),
    ] {
        let deps = ScriptedDeps::default().answer(function, Ok(json!({"id": LORA})));
        let r = run(&deps, "DELETE", &path, "", &[]).unwrap();
        assert_eq!(r.status, 204, "{path}");
        assert_eq!(deps.upstream.calls.borrow()[0].2, user());
    }
}

fn started(fresh: bool) -> Result<Value, ApiError> {
    Ok(json!({
        "lora": {"id": LORA, "status": "training"},
        "generation": {"id": GEN, "status": "queued"},
        "created": fresh, "route": "provider",
        "provider_ref": "ostris/flux-dev-lora-trainer:e4409",
        "provider_input": {"steps": 100, "trigger_word": "ohwx",
            "input_images": [{"$storage": {"bucket": "lora-training-images", "path": IMAGE}}]},
    }))
}

fn training_deps() -> ScriptedDeps {
    ScriptedDeps::default()
        .var("SUPABASE_URL", "http://sb.test")
        .var("SUPABASE_SERVICE_ROLE_KEY", "svc")
        .var("REPLICATE_API_URL", "https://replicate.test")
        .var("PUBLIC_URL", "https://api.example.com/")
        .var("REPLICATE_TRAINING_DESTINATION", "genbase/loras")
}

fn signed_image() -> Result<Inbound, String> {
    Ok(Inbound {
        status: 200,
        body: json!([{"path": IMAGE,
            "signedURL": format!("/object/sign/lora-training-images/{IMAGE}?token=t")}])
        .to_string(),
    })
}

const TRAIN_BODY: &str = r#"{"model":"flux-lora-trainer","params":{"steps":100}}"#;

#[test]
fn a_run_is_reserved_as_the_user_then_sent_to_the_trainings_api_with_signed_images() {
    let deps = training_deps()
        .answer("start_lora_training", started(true))
        .http(signed_image())
        .answer(
            "next_provider_token",
            Ok(json!({"id": "t1", "token": "r8_pool"})),
        )
        .http(Ok(Inbound {
            status: 201,
            body: r#"{"id":"tr-1","status":"starting"}"#.into(),
        }))
        .answer("report_provider_token", Ok(Value::Null))
        .answer(
            "mark_generation_submitted",
            Ok(json!({"id": GEN, "status": "processing"})),
        );
    let path = format!("/v1/loras/{LORA}/train");
    let r = run(
        &deps,
        "POST",
        &path,
        TRAIN_BODY,
        &[("idempotency-key", "k-1")],
    )
    .unwrap();
    assert_eq!(r.status, 202);
    assert_eq!(
        r.body.unwrap(),
        json!({"lora": {"id": LORA, "status": "training"},
               "generation": {"id": GEN, "status": "processing"}, "replayed": false})
    );

    let calls = deps.upstream.calls.borrow();
    assert_eq!(
        calls[0].1,
        json!({"p_lora_id": LORA, "p_model": "flux-lora-trainer", "p_params": {"steps": 100},
               "p_idempotency_key": "k-1"})
    );
    assert_eq!(calls[0].2, user(), "the reservation runs as the user");
    assert_eq!(
        calls[3].1,
        json!({"p_generation_id": GEN, "p_provider": "replicate", "p_prediction_id": "tr-1"})
    );
    assert_eq!(calls[3].2, RpcAuth::ServiceRole);

    let sent = deps.sent.borrow();
    assert_eq!(
        sent[0].url,
        "http://sb.test/storage/v1/object/sign/lora-training-images"
    );
    assert!(sent[0]
        .headers
        .contains(&("authorization".into(), "Bearer svc".into())));
    assert_eq!(
        sent[1].url,
        "https://replicate.test/v1/models/ostris/flux-dev-lora-trainer/versions/e4409/trainings"
    );
    assert!(sent[1]
        .headers
        .contains(&("authorization".into(), "Bearer r8_pool".into())));
    let training: Value = serde_json::from_str(sent[1].body.as_deref().unwrap()).unwrap();
    assert_eq!(
        training,
        json!({
            "destination": "genbase/loras",
            "input": {"steps": 100, "trigger_word": "ohwx", "input_images": [
                format!("http://sb.test/storage/v1/object/sign/lora-training-images/{IMAGE}?token=t")]},
            "webhook": format!("https://api.example.com/v1/webhooks/replicate?generation_id={GEN}"),
            "webhook_events_filter": ["completed"],
        })
    );
}

#[test]
fn a_run_the_provider_refuses_is_failed_and_released_as_the_service_role() {
    let deps = training_deps()
        .answer("start_lora_training", started(true))
        .http(signed_image())
        .answer(
            "next_provider_token",
            Ok(json!({"id": "t1", "token": "r8_pool"})),
        )
        .http(Ok(Inbound {
            status: 422,
            body: r#"{"title":"Input validation failed","status":422}"#.into(),
        }))
        .answer("report_provider_token", Ok(Value::Null))
        .answer("fail_generation_submission", Ok(json!({})));
    let path = format!("/v1/loras/{LORA}/train");
    let err = run(
        &deps,
        "POST",
        &path,
        TRAIN_BODY,
        &[("idempotency-key", "k-1")],
    )
    .unwrap_err();
    assert_eq!(
        (err.status, err.code.as_str()),
        (422, "provider_rejected_input")
    );
    let calls = deps.upstream.calls.borrow();
    assert_eq!(calls[3].0, "fail_generation_submission");
    assert_eq!(calls[3].1["p_generation_id"], GEN);
    assert!(calls[3].1["p_error"]
        .as_str()
        .unwrap()
        .contains("Input validation failed"));
    assert_eq!(calls[3].2, RpcAuth::ServiceRole);
}

#[test]
fn a_replayed_key_answers_the_first_run_and_submits_nothing() {
    let deps = training_deps().answer("start_lora_training", started(false));
    let path = format!("/v1/loras/{LORA}/train");
    let r = run(
        &deps,
        "POST",
        &path,
        TRAIN_BODY,
        &[("idempotency-key", "k-1")],
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.unwrap()["replayed"], true);
    assert_eq!(deps.called(), ["start_lora_training"]);
    assert!(deps.sent.borrow().is_empty());
}

#[test]
fn without_a_destination_nothing_is_reserved() {
    let deps = ScriptedDeps::default();
    let path = format!("/v1/loras/{LORA}/train");
    let err = run(
        &deps,
        "POST",
        &path,
        TRAIN_BODY,
        &[("idempotency-key", "k-1")],
    )
    .unwrap_err();
    assert_eq!(err.status, 503);
    assert!(deps.called().is_empty());
}

#[test]
fn segments_and_videos_go_to_sql_as_numbers() {
    let deps = ScriptedDeps::default()
        .answer("create_training_segment", Ok(json!({"id": "s"})))
        .answer("add_training_video", Ok(json!({"id": "v"})));
    let r = run(
        &deps,
        "POST",
        &format!("/v1/training-data/videos/{LORA}/segments"),
        r#"{"start_time": 1.25, "end_time": 3}"#,
        &[],
    )
    .unwrap();
    assert_eq!(r.status, 201);
    let r = run(
        &deps,
        "POST",
        &format!("/v1/training-data/batches/{LORA}/videos"),
        &json!({"upload_id": UPLOAD, "duration_seconds": 12.5}).to_string(),
        &[],
    )
    .unwrap();
    assert_eq!(r.status, 201);
    let calls = deps.upstream.calls.borrow();
    assert_eq!(
        calls[0].1,
        json!({"p_video_id": LORA, "p_start_time": 1.25, "p_end_time": 3})
    );
    assert_eq!(
        calls[1].1,
        json!({"p_batch_id": LORA, "p_upload_id": UPLOAD, "p_duration_seconds": 12.5})
    );
}
