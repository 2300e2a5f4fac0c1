//! The handler's own decisions, with the upstream scripted: what it calls, as whom, and what
//! it answers when the provider misbehaves.

use crate::handle;
use genbase_shared::deps::Inbound;
use genbase_shared::error::ApiError;
use genbase_shared::rpc::RpcAuth;
use genbase_shared::testing::{block_on, ScriptedDeps};
use serde_json::{json, Value};

const BODY: &str = r#"{"kind":"image","model":"flux-schnell","prompt":"a fox"}"#;

fn created(fresh: bool) -> Result<Value, ApiError> {
    Ok(json!({
        "generation": {"id": "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11", "prompt": "a fox", "params": {}},
        "created": fresh, "route": "provider", "provider_ref": "black-forest-labs/flux-schnell",
        "provider_input": {"prompt": "a fox", "num_outputs": 1},
    }))
}

fn no_pool_token() -> Result<Value, ApiError> {
    Err(ApiError::unavailable("no active token for replicate"))
}

#[test]
fn a_provider_failure_fails_the_generation_as_service_role_and_answers_502() {
    let deps = ScriptedDeps::default()
        .var("REPLICATE_API_TOKEN", "r8_env")
        .answer("create_generation", created(true))
        .answer("next_provider_token", no_pool_token())
        .http(Ok(Inbound {
            status: 500,
            body: "{}".into(),
        }))
        .answer("fail_generation_submission", Ok(json!({})));
    let req = ScriptedDeps::request("POST", "/v1/generations", BODY, &[]);
    let err = block_on(handle(&req, &deps)).unwrap_err();
    assert_eq!(err.status, 502);
    assert_eq!(
        deps.called(),
        [
            "create_generation",
            "next_provider_token",
            "fail_generation_submission"
        ]
    );
    let calls = deps.upstream.calls.borrow();
    assert!(
        matches!(calls[0].2, RpcAuth::User(_)),
        "the reservation runs as the user"
    );
    assert_eq!(calls[2].2, RpcAuth::ServiceRole);
}

#[test]
fn the_prediction_goes_to_replicate_with_our_webhook_and_the_pool_token() {
    let deps = ScriptedDeps::default()
        .var("PUBLIC_URL", "https://api.example.com/")
        .var("REPLICATE_API_URL", "https://replicate.test")
        .answer("create_generation", created(true))
        .answer(
            "next_provider_token",
            Ok(json!({"id": "t1", "token": "r8_pool"})),
        )
        .http(Ok(Inbound {
            status: 201,
            body: r#"{"id":"pred-1"}"#.into(),
        }))
        .answer("report_provider_token", Ok(Value::Null))
        .answer(
            "mark_generation_submitted",
            Ok(json!({"id": "g", "status": "processing"})),
        );
    let req = ScriptedDeps::request(
        "POST",
        "/v1/generations",
        BODY,
        &[("idempotency-key", "k-1")],
    );
    let resp = block_on(handle(&req, &deps)).unwrap();
    assert_eq!(resp.status, 202);
    let sent = deps.sent.borrow();
    assert_eq!(
        sent[0].url,
        "https://replicate.test/v1/models/black-forest-labs/flux-schnell/predictions"
    );
    assert!(sent[0]
        .headers
        .contains(&("authorization".into(), "Bearer r8_pool".into())));
    let body: Value = serde_json::from_str(sent[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body["webhook"],
        "https://api.example.com/v1/webhooks/replicate?generation_id=7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11"
    );
    assert_eq!(
        body["input"],
        json!({"prompt": "a fox", "num_outputs": 1}),
        "exactly what SQL priced"
    );
    assert!(sent[0]
        .headers
        .contains(&("cancel-after".into(), "30m".into())));
    assert!(
        !resp.body.unwrap().to_string().contains("r8_pool"),
        "the token never reaches a response"
    );
    let calls = deps.upstream.calls.borrow();
    assert_eq!(calls[0].1["p_idempotency_key"], "k-1");
    assert_eq!(calls[2].1, json!({"p_token_id": "t1", "p_outcome": "ok"}));
}

#[test]
fn a_replayed_idempotency_key_submits_nothing_again() {
    let deps = ScriptedDeps::default().answer("create_generation", created(false));
    let req = ScriptedDeps::request(
        "POST",
        "/v1/generations",
        BODY,
        &[("idempotency-key", "k-1")],
    );
    let resp = block_on(handle(&req, &deps)).unwrap();
    assert_eq!(resp.status, 200);
    assert!(deps.sent.borrow().is_empty());
    assert_eq!(deps.called(), ["create_generation"]);
}

#[test]
fn invalid_input_is_refused_before_any_rpc() {
    for (method, path, body) in [
        ("POST", "/v1/generations", "{"),
        ("POST", "/v1/generations", r#"{"kind":"image"}"#),
        ("GET", "/v1/generations/not-a-uuid", ""),
        ("GET", "/v1/generations?cursor=%%%", ""),
    ] {
        let deps = ScriptedDeps::default();
        let mut req = ScriptedDeps::request(method, path, body, &[]);
        if let Some((p, q)) = path.split_once('?') {
            req.path = p.into();
            req.query = genbase_shared::http::parse_query(q);
        }
        let err = block_on(handle(&req, &deps)).unwrap_err();
        assert_eq!(err.status, 400, "{method} {path} {body}");
        assert!(deps.called().is_empty());
    }
}

/// What each provider answer reports about the pool token: only 401/403 blame it; a 429 or a
/// 5xx rests it; an error the request caused (a 422 for the user's input) is not its fault.
#[test]
fn a_failed_submission_reports_what_the_answer_says_about_the_token() {
    let cases: [(Result<Inbound, String>, &str); 7] = [
        (
            Ok(Inbound {
                status: 401,
                body: "{}".into(),
            }),
            "auth_error",
        ),
        (
            Ok(Inbound {
                status: 403,
                body: "{}".into(),
            }),
            "auth_error",
        ),
        (
            Ok(Inbound {
                status: 429,
                body: "{}".into(),
            }),
            "rate_limited",
        ),
        (
            Ok(Inbound {
                status: 422,
                body: "{}".into(),
            }),
            "request_error",
        ),
        (
            Ok(Inbound {
                status: 503,
                body: "{}".into(),
            }),
            "server_error",
        ),
        (
            Ok(Inbound {
                status: 201,
                body: "{}".into(),
            }),
            "server_error",
        ),
        (Err("connection refused".into()), "server_error"),
    ];
    for (answer, outcome) in cases {
        // A provider 422 is the user's input: they read why; anything else is opaque.
        let expected = match &answer {
            Ok(Inbound { status: 422, .. }) => 422,
            _ => 502,
        };
        let deps = ScriptedDeps::default()
            .answer("create_generation", created(true))
            .answer(
                "next_provider_token",
                Ok(json!({"id": "t1", "token": "r8_pool"})),
            )
            .http(answer)
            .answer("report_provider_token", Ok(Value::Null))
            .answer("fail_generation_submission", Ok(json!({})));
        let req = ScriptedDeps::request("POST", "/v1/generations", BODY, &[]);
        let err = block_on(handle(&req, &deps)).unwrap_err();
        assert_eq!(err.status, expected, "{outcome}");
        let calls = deps.upstream.calls.borrow();
        assert_eq!(
            (calls[2].0.as_str(), &calls[2].1, &calls[2].2),
            (
                "report_provider_token",
                &json!({"p_token_id": "t1", "p_outcome": outcome}),
                &RpcAuth::ServiceRole
            ),
            "{outcome}"
        );
    }
}

/// SQL's position after the page becomes the opaque cursor the next request sends back, and
/// an answer without items is the database misbehaving, not an empty page.
#[test]
fn a_listed_page_carries_sql_s_position_as_the_next_cursor() {
    let list = |answer: Value| {
        let deps = ScriptedDeps::default().answer("list_generations", Ok(answer));
        let req = ScriptedDeps::request("GET", "/v1/generations", "", &[]);
        block_on(handle(&req, &deps))
    };
    let position =
        json!({"created_at": "2026-01-02T03:04:05Z", "id": "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11"});
    let page = list(json!({"items": [{"id": "g"}], "next_cursor": position}))
        .unwrap()
        .body
        .unwrap();
    assert_eq!(page["items"], json!([{"id": "g"}]));
    let cursor = page["next_cursor"].as_str().unwrap().to_string();

    let deps = ScriptedDeps::default().answer("list_generations", Ok(json!({"items": []})));
    let mut req = ScriptedDeps::request("GET", "/v1/generations", "", &[]);
    req.query = genbase_shared::http::parse_query(&format!("cursor={cursor}"));
    let last = block_on(handle(&req, &deps)).unwrap().body.unwrap();
    assert_eq!(last, json!({"items": [], "next_cursor": null}));
    let calls = deps.upstream.calls.borrow();
    assert_eq!(calls[0].1["p_cursor_created_at"], position["created_at"]);
    assert_eq!(calls[0].1["p_cursor_id"], position["id"]);

    assert_eq!(list(json!({"next_cursor": null})).unwrap_err().status, 502);
    assert_eq!(
        list(json!({"items": [], "next_cursor": {"id": 1}}))
            .unwrap_err()
            .status,
        502
    );
}

#[test]
fn a_workspace_s_list_names_the_workspace_and_a_bad_id_is_refused_before_any_rpc() {
    let ws = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11";
    let deps = ScriptedDeps::default().answer("list_generations", Ok(json!({"items": []})));
    let mut req = ScriptedDeps::request("GET", "/v1/generations", "", &[]);
    req.query = genbase_shared::http::parse_query(&format!("workspace_id={ws}"));
    block_on(handle(&req, &deps)).unwrap();
    assert_eq!(deps.upstream.calls.borrow()[0].1["p_workspace_id"], ws);

    let deps = ScriptedDeps::default();
    req.query = genbase_shared::http::parse_query("workspace_id=mine");
    let err = block_on(handle(&req, &deps)).unwrap_err();
    assert_eq!(
        (err.status, err.message.as_str()),
        (400, "workspace_id must be a UUID")
    );
    assert!(deps.called().is_empty());
}

/// The media library's side: reads sign stored outputs with the user's own token, in one
/// Storage request per response; edits and deletes go to SQL as the user, validated first.
mod library {
    use super::*;

    const ID: &str = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11";

    fn stored(id: &str, path: &str) -> Value {
        json!({"id": id, "created_at": "2026-01-02T03:04:05+00:00",
               "outputs": {"storage": "stored", "files": [{"path": path}], "provider_urls": ["http://p/x"]}})
    }

    fn signed(paths: &[&str]) -> Result<Inbound, String> {
        let items: Vec<Value> = paths
            .iter()
            .map(|p| json!({"path": p, "signedURL": format!("/object/sign/generations/{p}?token=t")}))
            .collect();
        Ok(Inbound {
            status: 200,
            body: Value::Array(items).to_string(),
        })
    }

    fn user() -> RpcAuth {
        RpcAuth::User(ScriptedDeps::user_token())
    }

    fn bearer() -> (String, String) {
        (
            "authorization".into(),
            format!("Bearer {}", ScriptedDeps::user_token()),
        )
    }

    #[test]
    fn a_read_returns_signed_urls_for_the_stored_files() {
        let deps = ScriptedDeps::default()
            .var("SUPABASE_URL", "http://sb.test")
            .answer("get_generation", Ok(stored("g", "u/g/0.png")))
            .http(signed(&["u/g/0.png"]));
        let req = ScriptedDeps::request("GET", &format!("/v1/generations/{ID}"), "", &[]);
        let g = block_on(handle(&req, &deps)).unwrap().body.unwrap();
        assert_eq!(
            g["outputs"]["urls"],
            json!(["http://sb.test/storage/v1/object/sign/generations/u/g/0.png?token=t"])
        );
        assert_eq!(g["outputs"]["provider_urls"], json!(["http://p/x"]));
        let sent = deps.sent.borrow();
        assert_eq!(
            sent[0].url,
            "http://sb.test/storage/v1/object/sign/generations"
        );
        assert!(sent[0].headers.contains(&bearer()), "signed as the user");
    }

    #[test]
    fn a_listed_page_is_signed_in_one_request() {
        let deps = ScriptedDeps::default()
            .var("SUPABASE_URL", "http://sb.test")
            .answer(
                "list_generations",
                Ok(json!({"items": [stored("a", "u/a/0.png"), {"id": "t", "outputs": {"text": "hi"}},
                                     stored("b", "u/b/0.mp4")], "next_cursor": null})),
            )
            .http(signed(&["u/a/0.png", "u/b/0.mp4"]));
        let req = ScriptedDeps::request("GET", "/v1/generations", "", &[]);
        let page = block_on(handle(&req, &deps)).unwrap().body.unwrap();
        assert_eq!(
            page["items"][2]["outputs"]["urls"][0],
            "http://sb.test/storage/v1/object/sign/generations/u/b/0.mp4?token=t"
        );
        assert_eq!(page["items"][1]["outputs"], json!({"text": "hi"}));
        assert_eq!(deps.sent.borrow().len(), 1);
    }

    #[test]
    fn a_patch_is_checked_then_sent_as_the_user_and_answered_rendered() {
        let deps = ScriptedDeps::default()
            .var("SUPABASE_URL", "http://sb.test")
            .answer("update_generation", Ok(stored("g", "u/g/0.png")))
            .http(signed(&["u/g/0.png"]));
        let req = ScriptedDeps::request(
            "PATCH",
            &format!("/v1/generations/{ID}"),
            r#"{"is_favorite": true, "title": " Fox "}"#,
            &[],
        );
        let resp = block_on(handle(&req, &deps)).unwrap();
        assert_eq!(resp.status, 200);
        assert!(resp.body.unwrap()["outputs"]["urls"][0].is_string());
        let calls = deps.upstream.calls.borrow();
        assert_eq!(
            (&calls[0].1, &calls[0].2),
            (
                &json!({"p_id": ID, "p_patch": {"is_favorite": true, "title": "Fox"}}),
                &user()
            )
        );
    }

    #[test]
    fn a_delete_is_204_once_deleted_and_404_when_not_the_callers() {
        let delete = |answer: Value| {
            let deps = ScriptedDeps::default().answer("delete_generations", Ok(answer));
            let req = ScriptedDeps::request("DELETE", &format!("/v1/generations/{ID}"), "", &[]);
            let result = block_on(handle(&req, &deps));
            let calls = deps.upstream.calls.borrow();
            assert_eq!(
                (&calls[0].1, &calls[0].2),
                (&json!({"p_ids": [ID]}), &user())
            );
            result
        };
        let gone = delete(json!({"deleted": [ID], "not_found": []})).unwrap();
        assert_eq!((gone.status, gone.body), (204, None));
        let err = delete(json!({"deleted": [], "not_found": [ID]})).unwrap_err();
        assert_eq!(
            (err.status, err.message.as_str()),
            (404, "generation not found")
        );
        assert_eq!(delete(json!({})).unwrap_err().status, 502);
    }

    #[test]
    fn a_bulk_delete_answers_what_sql_deleted() {
        let answer = json!({"deleted": [ID], "not_found": []});
        let deps = ScriptedDeps::default().answer("delete_generations", Ok(answer.clone()));
        let body = json!({"ids": [ID]}).to_string();
        let req = ScriptedDeps::request("POST", "/v1/generations/delete", &body, &[]);
        let resp = block_on(handle(&req, &deps)).unwrap();
        assert_eq!((resp.status, resp.body), (200, Some(answer)));
        assert_eq!(deps.upstream.calls.borrow()[0].2, user());
    }

    #[test]
    fn bad_edits_are_refused_before_any_call() {
        let path = format!("/v1/generations/{ID}");
        let too_many = json!({"ids": vec![ID; 101]}).to_string();
        for (method, path, body, status) in [
            ("PATCH", path.as_str(), r#"{"prompt": "x"}"#, 400),
            ("PATCH", path.as_str(), r#"{"is_favorite": 1}"#, 400),
            ("PATCH", path.as_str(), "{", 400),
            (
                "PATCH",
                "/v1/generations/not-a-uuid",
                r#"{"is_favorite": true}"#,
                400,
            ),
            ("DELETE", "/v1/generations/not-a-uuid", "", 400),
            ("POST", "/v1/generations/delete", r#"{"ids": []}"#, 400),
            ("POST", "/v1/generations/delete", too_many.as_str(), 400),
            ("POST", "/v1/generations/delete", r#"{"ids": ["x"]}"#, 400),
            (
                "POST",
                "/v1/generations/delete",
                r#"{"ids": [], "all": true}"#,
                400,
            ),
            ("PUT", path.as_str(), "{}", 405),
        ] {
            let deps = ScriptedDeps::default();
            let req = ScriptedDeps::request(method, path, body, &[]);
            let err = block_on(handle(&req, &deps)).unwrap_err();
            assert_eq!(err.status, status, "{method} {path} {body}");
            assert!(deps.called().is_empty());
        }
    }
}
