//! The sharing endpoints with the upstream scripted: which path under a base is one of
//! them, what each sends to SQL as whom, and what it answers.

use super::*;
use crate::rpc::RpcAuth;
use crate::testing::{block_on, ScriptedDeps};
use serde_json::json;

const BASE: &str = "/v1/things";
const ID: &str = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11";
const OTHER: &str = "5e0b1a2c-0000-4000-8000-000000000002";

fn request(method: &str, path: &str, body: &str) -> ApiRequest {
    ScriptedDeps::request(method, &format!("{BASE}{path}"), body, &[])
}

/// Serves the request, which must be a sharing endpoint.
fn serve_one(req: &ApiRequest, deps: &ScriptedDeps) -> Result<ApiResponse, ApiError> {
    block_on(serve(BASE, req, deps)).expect("a sharing endpoint")
}

#[test]
fn each_endpoint_calls_its_function_as_the_caller_with_the_resource_and_answers_its_status() {
    let cases: [(&str, String, &str, &str, Value, u16); 9] = [
        (
            "GET",
            format!("/{ID}/members"),
            "",
            "list_members",
            json!({"p_resource_id": ID}),
            200,
        ),
        (
            "PATCH",
            format!("/{ID}/members/{OTHER}"),
            r#"{"role": "viewer"}"#,
            "update_member",
            json!({"p_resource_id": ID, "p_user_id": OTHER, "p_role": "viewer"}),
            200,
        ),
        (
            "DELETE",
            format!("/{ID}/members/{OTHER}"),
            "",
            "remove_member",
            json!({"p_resource_id": ID, "p_user_id": OTHER}),
            204,
        ),
        (
            "POST",
            format!("/{ID}/leave"),
            "",
            "leave",
            json!({"p_resource_id": ID}),
            204,
        ),
        (
            "POST",
            format!("/{ID}/transfer"),
            &format!(r#"{{"user_id": "{OTHER}"}}"#),
            "transfer_ownership",
            json!({"p_resource_id": ID, "p_user_id": OTHER}),
            200,
        ),
        (
            "POST",
            format!("/{ID}/invitations"),
            r#"{"role": "admin", "email": "b@example.com", "max_uses": 5, "expires_in_hours": 24}"#,
            "create_invitation",
            json!({"p_resource_id": ID, "p_role": "admin", "p_email": "b@example.com", "p_max_uses": 5, "p_expires_in_hours": 24}),
            201,
        ),
        (
            "GET",
            format!("/{ID}/invitations"),
            "",
            "list_invitations",
            json!({"p_resource_id": ID}),
            200,
        ),
        (
            "DELETE",
            format!("/{ID}/invitations/{OTHER}"),
            "",
            "revoke_invitation",
            json!({"p_resource_id": ID, "p_id": OTHER}),
            200,
        ),
        // A trailing slash names the same endpoint.
        (
            "GET",
            format!("/{ID}/members/"),
            "",
            "list_members",
            json!({"p_resource_id": ID}),
            200,
        ),
    ];
    for (method, path, body, function, args, status) in cases {
        let deps = ScriptedDeps::default().answer(function, Ok(json!({"ok": true})));
        let resp = serve_one(&request(method, &path, body), &deps).unwrap();
        assert_eq!(resp.status, status, "{method} {path}");
        let calls = deps.upstream.calls.borrow();
        assert_eq!(calls.len(), 1, "{method} {path}");
        assert_eq!(
            (calls[0].0.as_str(), &calls[0].1),
            (function, &args),
            "{method} {path}"
        );
        assert_eq!(calls[0].2, RpcAuth::User(ScriptedDeps::user_token()));
    }
}

#[test]
fn an_invitation_s_omitted_fields_are_left_to_sql_s_defaults() {
    for body in ["", "  ", "{}", r#"{"role": null}"#] {
        let deps = ScriptedDeps::default().answer("create_invitation", Ok(json!({"token": "t"})));
        let resp = serve_one(&request("POST", &format!("/{ID}/invitations"), body), &deps).unwrap();
        assert_eq!(resp.status, 201, "{body:?}");
        assert_eq!(
            deps.upstream.calls.borrow()[0].1,
            json!({"p_resource_id": ID}),
            "{body:?}"
        );
    }
}

#[test]
fn lists_answer_in_the_page_shape_and_the_rest_as_sql_answers() {
    let members = json!([{"user_id": OTHER, "role": "owner"}]);
    for (method, path, body, function) in [
        (
            "GET",
            format!("/{ID}/members"),
            String::new(),
            "list_members",
        ),
        (
            "GET",
            format!("/{ID}/invitations"),
            String::new(),
            "list_invitations",
        ),
        (
            "POST",
            format!("/{ID}/transfer"),
            format!(r#"{{"user_id": "{OTHER}"}}"#),
            "transfer_ownership",
        ),
    ] {
        let deps = ScriptedDeps::default().answer(function, Ok(members.clone()));
        let resp = serve_one(&request(method, &path, &body), &deps).unwrap();
        assert_eq!(resp.body, Some(json!({"items": members})), "{path}");
    }
    let revoked = json!({"id": OTHER, "status": "revoked"});
    let deps = ScriptedDeps::default().answer("revoke_invitation", Ok(revoked.clone()));
    let resp = serve_one(
        &request("DELETE", &format!("/{ID}/invitations/{OTHER}"), ""),
        &deps,
    )
    .unwrap();
    assert_eq!(resp.body, Some(revoked));
}

#[test]
fn paths_that_are_not_sharing_endpoints_are_left_to_the_worker() {
    for path in [
        BASE.to_string(),
        format!("{BASE}/{ID}"),
        format!("{BASE}/{ID}/credits"),
        format!("{BASE}/{ID}/members/{OTHER}/extra"),
        format!("{BASE}x/{ID}/members"),
        format!("/v1/others/{ID}/members"),
        "/v1/invitations/accept".to_string(),
    ] {
        let req = ScriptedDeps::request("GET", &path, "", &[]);
        assert_eq!(Sharing::under(BASE, &req), Ok(None), "{path}");
    }
}

#[test]
fn a_sharing_path_under_another_method_is_a_405_and_a_bad_id_a_400_without_any_rpc() {
    let deps = ScriptedDeps::default();
    let err = serve_one(&request("PUT", &format!("/{ID}/members"), ""), &deps).unwrap_err();
    assert_eq!((err.status, err.headers[0].1.as_str()), (405, "GET"));
    let err = serve_one(
        &request("GET", &format!("/{ID}/members/{OTHER}"), ""),
        &deps,
    )
    .unwrap_err();
    assert_eq!(
        (err.status, err.headers[0].1.as_str()),
        (405, "PATCH, DELETE")
    );
    let err = serve_one(&request("GET", "/nope/members", ""), &deps).unwrap_err();
    assert_eq!(
        (err.status, err.message.as_str()),
        (400, "id must be a UUID")
    );
    let err = serve_one(
        &request("DELETE", &format!("/{ID}/invitations/x"), ""),
        &deps,
    )
    .unwrap_err();
    assert_eq!(err.message, "invitation_id must be a UUID");
    assert!(deps.called().is_empty());
}

#[test]
fn bad_bodies_are_400_without_any_rpc() {
    for (method, path, body) in [
        ("PATCH", format!("/{ID}/members/{OTHER}"), ""),
        ("PATCH", format!("/{ID}/members/{OTHER}"), r#"{"role": 3}"#),
        (
            "PATCH",
            format!("/{ID}/members/{OTHER}"),
            r#"{"role": "admin", "user_id": "x"}"#,
        ),
        ("POST", format!("/{ID}/transfer"), "{"),
        (
            "POST",
            format!("/{ID}/transfer"),
            r#"{"user_id": "not-a-uuid"}"#,
        ),
        ("POST", format!("/{ID}/transfer"), "{}"),
        (
            "POST",
            format!("/{ID}/invitations"),
            r#"{"role": "member", "uses": 2}"#,
        ),
        ("POST", format!("/{ID}/invitations"), r#"{"max_uses": 1.5}"#),
        (
            "POST",
            format!("/{ID}/invitations"),
            r#"{"max_uses": 99999999999}"#,
        ),
        ("POST", format!("/{ID}/invitations"), "[]"),
        ("POST", format!("/{ID}/invitations"), "[1]"),
    ] {
        let deps = ScriptedDeps::default();
        let err = serve_one(&request(method, &path, body), &deps).unwrap_err();
        assert_eq!(err.status, 400, "{method} {path} {body}");
        assert!(deps.called().is_empty(), "{method} {path} {body}");
    }
}

#[test]
fn no_token_is_a_401_without_any_rpc() {
    let deps = ScriptedDeps::default();
    let mut req = request("GET", &format!("/{ID}/members"), "");
    req.headers.retain(|(k, _)| k != "authorization");
    assert_eq!(serve_one(&req, &deps).unwrap_err().status, 401);
    assert!(deps.called().is_empty());
}

#[test]
fn accepting_sends_the_token_as_the_caller_and_refuses_other_bodies() {
    let deps = ScriptedDeps::default().answer("accept_invitation", Ok(json!({"joined": true})));
    let req = ScriptedDeps::request("POST", "/v1/invitations/accept", r#"{"token": "abc"}"#, &[]);
    let caller = block_on(require_user(&req, &deps)).unwrap();
    let resp = block_on(accept(&req, &deps, &caller)).unwrap();
    assert_eq!(
        (resp.status, resp.body),
        (200, Some(json!({"joined": true})))
    );
    assert_eq!(deps.upstream.calls.borrow()[0].1, json!({"p_token": "abc"}));
    for body in [
        "",
        "{}",
        r#"{"token": 1}"#,
        r#"{"token": "a", "role": "owner"}"#,
    ] {
        let deps = ScriptedDeps::default();
        let req = ScriptedDeps::request("POST", "/v1/invitations/accept", body, &[]);
        assert_eq!(
            block_on(accept(&req, &deps, &caller)).unwrap_err().status,
            400,
            "{body:?}"
        );
        assert!(deps.called().is_empty());
    }
}

#[test]
fn sql_s_refusals_reach_the_client_as_they_are() {
    for status in [403, 404, 409, 410] {
        let err = ApiError::from_postgrest(
            status,
            &json!({"code": format!("PT{status}"), "message": "from sql"}).to_string(),
        );
        let deps = ScriptedDeps::default().answer("leave", Err(err));
        let err = serve_one(&request("POST", &format!("/{ID}/leave"), ""), &deps).unwrap_err();
        assert_eq!((err.status, err.message.as_str()), (status, "from sql"));
    }
}
