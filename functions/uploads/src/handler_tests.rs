//! The uploads handler with the upstream scripted: SQL decides first, as the user; only then is
//! a URL signed, also as the user; a refusal signs nothing.

use crate::handle;
use genbase_shared::deps::Inbound;
use genbase_shared::error::ApiError;
use genbase_shared::rpc::RpcAuth;
use genbase_shared::testing::{block_on, ScriptedDeps, NOW, USER_ID};
use serde_json::{json, Value};

const UPLOAD_ID: &str = "5b0e2f6e-0c3a-4f1e-9d8e-3f1a2b4c5d6e";

fn path() -> String {
    format!("{USER_ID}/{UPLOAD_ID}.png")
}

fn deps() -> ScriptedDeps {
    ScriptedDeps::default()
        .var("SUPABASE_URL", "http://sb.test")
        .var("SUPABASE_ANON_KEY", "anon")
}

fn recorded() -> Result<Value, ApiError> {
    Ok(
        json!({"upload_id": UPLOAD_ID, "purpose": "reference_image", "bucket": "media",
              "path": path(), "content_type": "image/png", "max_bytes": 104857600}),
    )
}

fn post(body: &str) -> genbase_shared::http::ApiRequest {
    ScriptedDeps::request("POST", "/v1/uploads", body, &[])
}

#[test]
fn an_upload_is_recorded_as_the_user_then_signed_as_the_user_for_the_path_sql_chose() {
    let deps = deps().answer("create_upload", recorded()).http(Ok(Inbound {
        status: 200,
        body: json!({"url": format!("/object/upload/sign/media/{}?token=tok", path())}).to_string(),
    }));
    let body = r#"{"purpose":"reference_image","content_type":"image/png","bytes":2048,"filename":"../cat.png"}"#;
    let resp = block_on(handle(&post(body), &deps)).unwrap();
    assert_eq!(resp.status, 201);
    let out = resp.body.unwrap();
    assert_eq!(
        (
            &out["upload_id"],
            &out["bucket"],
            &out["path"],
            &out["max_bytes"]
        ),
        (
            &json!(UPLOAD_ID),
            &json!("media"),
            &json!(path()),
            &json!(104857600)
        )
    );
    assert_eq!(
        out["url"],
        format!(
            "http://sb.test/storage/v1/object/upload/sign/media/{}?token=tok",
            path()
        )
    );
    assert_eq!(out["token"], "tok");
    assert_eq!(out["expires_at"], NOW + 7200);

    let calls = deps.upstream.calls.borrow();
    assert_eq!(
        calls[0].1,
        json!({"p_purpose": "reference_image", "p_content_type": "image/png", "p_bytes": 2048,
               "p_filename": "../cat.png", "p_project_id": null}),
        "SQL gets the body as sent: it owns the rules"
    );
    let user = RpcAuth::User(ScriptedDeps::user_token());
    assert_eq!(calls[0].2, user);
    let sent = deps.sent.borrow();
    assert_eq!(
        sent[0].url,
        format!(
            "http://sb.test/storage/v1/object/upload/sign/media/{}",
            path()
        )
    );
    let bearer = format!("Bearer {}", ScriptedDeps::user_token());
    assert!(sent[0].headers.contains(&("authorization".into(), bearer)));
    assert!(sent[0]
        .headers
        .contains(&("x-upsert".into(), "false".into())));
}

#[test]
fn a_refusal_by_sql_is_its_4xx_and_nothing_is_signed() {
    for (code, status) in [("PT413", 413), ("PT415", 415), ("PT400", 400)] {
        let refusal = ApiError::from_postgrest(
            status,
            &json!({"code": code, "message": "bytes must be at most 20971520 for training_image"})
                .to_string(),
        );
        let deps = deps().answer("create_upload", Err(refusal));
        let body = r#"{"purpose":"training_image","content_type":"image/png","bytes":99999999}"#;
        let err = block_on(handle(&post(body), &deps)).unwrap_err();
        assert_eq!(err.status, status, "{code}");
        assert!(deps.sent.borrow().is_empty(), "{code}: nothing signed");
    }
}

#[test]
fn malformed_bodies_are_refused_before_any_rpc() {
    for body in [
        "",
        "{",
        r#"{"purpose":"document","content_type":"text/plain"}"#,
        r#"{"purpose":"document","content_type":"text/plain","bytes":"10"}"#,
        r#"{"purpose":"document","content_type":"text/plain","bytes":1.5}"#,
        r#"{"purpose":"document","content_type":"text/plain","bytes":10,"path":"x/y.txt"}"#,
        r#"{"purpose":"document","content_type":"text/plain","bytes":10,"bucket":"generations"}"#,
    ] {
        let deps = deps();
        let err = block_on(handle(&post(body), &deps)).unwrap_err();
        assert_eq!(err.status, 400, "{body}");
        assert!(deps.called().is_empty(), "{body}");
    }
}

#[test]
fn an_upload_is_read_as_the_user() {
    let deps = deps().answer(
        "get_upload",
        Ok(json!({"upload_id": UPLOAD_ID, "uploaded": true})),
    );
    let req = ScriptedDeps::request("GET", &format!("/v1/uploads/{UPLOAD_ID}"), "", &[]);
    let resp = block_on(handle(&req, &deps)).unwrap();
    assert_eq!(resp.status, 200);
    let calls = deps.upstream.calls.borrow();
    assert_eq!(calls[0].1, json!({"p_id": UPLOAD_ID}));
    assert_eq!(calls[0].2, RpcAuth::User(ScriptedDeps::user_token()));
}

#[test]
fn no_user_wrong_methods_and_bad_ids_are_refused_without_any_rpc() {
    let anonymous = genbase_shared::http::ApiRequest::new(
        "POST",
        "/v1/uploads",
        Vec::new(),
        Vec::new(),
        br#"{"purpose":"document","content_type":"text/plain","bytes":1}"#.to_vec(),
    );
    let scripted = deps();
    assert_eq!(
        block_on(handle(&anonymous, &scripted)).unwrap_err().status,
        401
    );
    assert!(scripted.called().is_empty());
    for (method, path, status) in [
        ("GET", "/v1/uploads", 405),
        ("DELETE", &format!("/v1/uploads/{UPLOAD_ID}") as &str, 405),
        ("GET", "/v1/uploads/not-an-id", 400),
    ] {
        let deps = deps();
        let req = ScriptedDeps::request(method, path, "", &[]);
        let err = block_on(handle(&req, &deps)).unwrap_err();
        assert_eq!(err.status, status, "{method} {path}");
        assert!(deps.called().is_empty());
    }
}
