//! The media handler with the upstream scripted: what it asks of Postgres and Storage, as
//! whom, and what it refuses before asking anything.

use crate::handle;
use genbase_shared::deps::Inbound;
use genbase_shared::http::parse_query;
use genbase_shared::rpc::RpcAuth;
use genbase_shared::testing::{block_on, ScriptedDeps, NOW};
use serde_json::{json, Value};

fn get(path_and_query: &str) -> genbase_shared::http::ApiRequest {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut req = ScriptedDeps::request("GET", path, "", &[]);
    req.query = parse_query(query);
    req
}

fn stored(id: &str, paths: &[&str]) -> Value {
    let files: Vec<Value> = paths.iter().map(|p| json!({"path": p})).collect();
    json!({"id": id, "created_at": "2026-01-02T03:04:05+00:00",
           "outputs": {"storage": "stored", "files": files}})
}

#[test]
fn a_page_is_asked_as_the_user_and_its_files_signed_with_the_users_token_in_one_request() {
    let position = json!({"created_at": "2026-01-01T00:00:00+00:00", "id": "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11"});
    let deps = ScriptedDeps::default()
        .var("SUPABASE_URL", "http://sb.test")
        .answer(
            "list_media",
            Ok(json!({"items": [stored("g2", &["u/g2/0.mp4"]), {"id": "t", "outputs": {"text": "hi"}},
                                 stored("g1", &["u/g1/0.png", "u/g1/1.png"])],
                      "next_cursor": position})),
        )
        .http(Ok(Inbound {
            status: 200,
            body: json!([
                {"path": "u/g2/0.mp4", "signedURL": "/object/sign/generations/u/g2/0.mp4?token=a"},
                {"path": "u/g1/0.png", "signedURL": "/object/sign/generations/u/g1/0.png?token=b"},
                {"path": "u/g1/1.png", "signedURL": "/object/sign/generations/u/g1/1.png?token=c"},
            ])
            .to_string(),
        }));
    let resp = block_on(handle(
        &get("/v1/media?kind=video,image&favorite=true&q=fox&limit=3"),
        &deps,
    ))
    .unwrap();
    assert_eq!(resp.status, 200);
    let body = resp.body.unwrap();
    assert_eq!(
        body["items"][0]["outputs"]["urls"],
        json!(["http://sb.test/storage/v1/object/sign/generations/u/g2/0.mp4?token=a"])
    );
    assert_eq!(
        body["items"][2]["outputs"]["urls"][1],
        "http://sb.test/storage/v1/object/sign/generations/u/g1/1.png?token=c"
    );
    assert_eq!(body["items"][0]["outputs"]["urls_expire_at"], NOW + 3600);
    assert_eq!(body["items"][1]["outputs"], json!({"text": "hi"}));

    let calls = deps.upstream.calls.borrow();
    assert_eq!(
        calls[0].1,
        json!({"p_kinds": ["video", "image"], "p_favorite": true, "p_q": "fox", "p_limit": 3,
               "p_cursor_created_at": null, "p_cursor_id": null})
    );
    assert_eq!(calls[0].2, RpcAuth::User(ScriptedDeps::user_token()));
    let sent = deps.sent.borrow();
    assert_eq!(sent.len(), 1, "one signing request for the whole page");
    assert!(sent[0].headers.contains(&(
        "authorization".into(),
        format!("Bearer {}", ScriptedDeps::user_token())
    )));

    // The cursor handed out leads SQL to the position it reported.
    let cursor = body["next_cursor"].as_str().unwrap();
    let deps =
        ScriptedDeps::default().answer("list_media", Ok(json!({"items": [], "next_cursor": null})));
    let last = block_on(handle(&get(&format!("/v1/media?cursor={cursor}")), &deps)).unwrap();
    assert_eq!(
        last.body.unwrap(),
        json!({"items": [], "next_cursor": null})
    );
    assert!(
        deps.sent.borrow().is_empty(),
        "nothing stored, nothing signed"
    );
    let calls = deps.upstream.calls.borrow();
    assert_eq!(calls[0].1["p_cursor_created_at"], position["created_at"]);
    assert_eq!(calls[0].1["p_cursor_id"], position["id"]);
}

#[test]
fn stats_are_postgres_s_as_the_user() {
    let stats = json!({"total": 2, "months": []});
    let deps = ScriptedDeps::default().answer("media_stats", Ok(stats.clone()));
    let resp = block_on(handle(&get("/v1/media/stats"), &deps)).unwrap();
    assert_eq!((resp.status, resp.body), (200, Some(stats)));
    let calls = deps.upstream.calls.borrow();
    assert_eq!(
        (&calls[0].1, &calls[0].2),
        (&json!({}), &RpcAuth::User(ScriptedDeps::user_token()))
    );
}

#[test]
fn bad_requests_are_refused_without_any_call() {
    for (method, path, status) in [
        ("GET", "/v1/media?kind=picture", 400),
        ("GET", "/v1/media?favorite=1", 400),
        ("GET", "/v1/media?limit=500", 400),
        ("GET", "/v1/media?cursor=nope", 400),
        ("GET", "/v1/media?sort=old", 400),
        ("POST", "/v1/media", 405),
        ("DELETE", "/v1/media/stats", 405),
        ("GET", "/v1/media/x", 404),
    ] {
        let deps = ScriptedDeps::default();
        let mut req = get(path);
        req.method = method.into();
        let err = block_on(handle(&req, &deps)).unwrap_err();
        assert_eq!(err.status, status, "{method} {path}");
        assert!(deps.called().is_empty() && deps.sent.borrow().is_empty());
    }
    let deps = ScriptedDeps::default();
    let mut req = get("/v1/media");
    req.headers.retain(|(k, _)| k != "authorization");
    assert_eq!(block_on(handle(&req, &deps)).unwrap_err().status, 401);
    assert!(deps.called().is_empty());
}

#[test]
fn an_answer_without_items_is_the_database_misbehaving() {
    for answer in [
        json!({"next_cursor": null}),
        json!({"items": {}, "next_cursor": null}),
        json!({"items": [], "next_cursor": {"id": 1}}),
    ] {
        let deps = ScriptedDeps::default().answer("list_media", Ok(answer.clone()));
        let err = block_on(handle(&get("/v1/media"), &deps)).unwrap_err();
        assert_eq!(err.status, 502, "{answer}");
    }
}
