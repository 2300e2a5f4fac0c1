//! The projects handler with the upstream scripted: which RPC each endpoint calls, with what
//! and as whom, what it answers, and which requests it refuses before any RPC.

use crate::handle;
use genbase_shared::error::ApiError;
use genbase_shared::http::ApiResponse;
use genbase_shared::rpc::RpcAuth;
use genbase_shared::testing::{block_on, ScriptedDeps, USER_ID};
use serde_json::{json, Value};

const PROJECT: &str = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11";
const SHOT: &str = "a0000000-0000-4000-8000-000000000002";
const GENERATION: &str = "b0000000-0000-4000-8000-000000000003";
const COMPONENT: &str = "c0000000-0000-4000-8000-000000000004";
const UPLOAD: &str = "d0000000-0000-4000-8000-000000000005";

fn run(deps: &ScriptedDeps, method: &str, path: &str, body: &str) -> Result<ApiResponse, ApiError> {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut req = ScriptedDeps::request(method, path, body, &[]);
    req.query = genbase_shared::http::parse_query(query);
    block_on(handle(&req, deps))
}

/// The one RPC the request made: its function and arguments, asserting it went as the user.
fn only_call(deps: &ScriptedDeps) -> (String, Value) {
    let calls = deps.upstream.calls.borrow();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].2, RpcAuth::User(ScriptedDeps::user_token()));
    (calls[0].0.clone(), calls[0].1.clone())
}

/// Answers `function` with `answer`, runs the request, and gives the status, body and call.
fn exchange(
    function: &str,
    answer: Value,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Option<Value>, Value) {
    let deps = ScriptedDeps::default().answer(function, Ok(answer));
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let r = run(&deps, method, path, &body).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let (called, args) = only_call(&deps);
    assert_eq!(called, function, "{method} {path}");
    (r.status, r.body, args)
}

#[test]
fn every_endpoint_is_one_rpc_as_the_user_with_the_api_s_names() {
    let p = format!("/v1/projects/{PROJECT}");
    let s = format!("{p}/shots/{SHOT}");
    let page = json!({"p_limit": 20, "p_cursor_created_at": null, "p_cursor_id": null});
    let cases: Vec<(&str, String, Value, &str, u16, Value)> = vec![
        (
            "POST",
            "/v1/projects".into(),
            json!({"name": "Film", "layout": {"zoom": 1}}),
            "create_project",
            201,
            json!({"p_name": "Film", "p_description": null, "p_workspace_id": null,
                   "p_settings": null, "p_layout": {"zoom": 1}}),
        ),
        (
            "GET",
            "/v1/projects/stats".into(),
            json!(null),
            "get_user_project_stats",
            200,
            json!({}),
        ),
        (
            "GET",
            p.clone(),
            json!(null),
            "get_project",
            200,
            json!({"p_id": PROJECT}),
        ),
        (
            "PATCH",
            p.clone(),
            json!({"layout": {"zoom": 2}, "version": 3}),
            "update_project",
            200,
            json!({"p_id": PROJECT, "p_patch": {"layout": {"zoom": 2}, "version": 3}}),
        ),
        (
            "DELETE",
            p.clone(),
            json!(null),
            "soft_delete_project",
            204,
            json!({"p_project_id": PROJECT, "p_user_id": USER_ID}),
        ),
        (
            "POST",
            format!("{p}/duplicate"),
            json!(null),
            "duplicate_project",
            201,
            json!({"p_source_id": PROJECT, "p_user_id": USER_ID, "p_name": null}),
        ),
        (
            "POST",
            format!("{p}/shots"),
            json!({"name": "Intro", "position": 0}),
            "create_shot",
            201,
            json!({"p_project_id": PROJECT, "p_name": "Intro", "p_settings": null, "p_position": 0}),
        ),
        (
            "GET",
            format!("{p}/shots"),
            json!(null),
            "list_shots",
            200,
            json!({"p_project_id": PROJECT}),
        ),
        (
            "PATCH",
            s.clone(),
            json!({"name": "Outro"}),
            "update_shot",
            200,
            json!({"p_project_id": PROJECT, "p_id": SHOT, "p_patch": {"name": "Outro"}}),
        ),
        (
            "DELETE",
            s.clone(),
            json!(null),
            "delete_shot",
            204,
            json!({"p_project_id": PROJECT, "p_id": SHOT}),
        ),
        (
            "POST",
            format!("{s}/move"),
            json!({"position": 3}),
            "move_shot",
            200,
            json!({"p_project_id": PROJECT, "p_id": SHOT, "p_position": 3}),
        ),
        (
            "POST",
            format!("{s}/generations"),
            json!({"generation_id": GENERATION}),
            "attach_generation",
            201,
            json!({"p_project_id": PROJECT, "p_shot_id": SHOT, "p_generation_id": GENERATION,
                   "p_position": null}),
        ),
        (
            "GET",
            format!("{s}/generations?unpositioned=true"),
            json!(null),
            "list_shot_generations",
            200,
            json!({"p_project_id": PROJECT, "p_shot_id": SHOT, "p_unpositioned": true}),
        ),
        (
            "PATCH",
            format!("{s}/generations/{GENERATION}"),
            json!({"position": null}),
            "position_generation",
            200,
            json!({"p_project_id": PROJECT, "p_shot_id": SHOT, "p_generation_id": GENERATION,
                   "p_position": null}),
        ),
        (
            "DELETE",
            format!("{s}/generations/{GENERATION}"),
            json!(null),
            "detach_generation",
            204,
            json!({"p_project_id": PROJECT, "p_shot_id": SHOT, "p_generation_id": GENERATION}),
        ),
        (
            "POST",
            format!("{p}/components"),
            json!({"type": "text", "x": 1}),
            "create_component",
            201,
            json!({"p_project_id": PROJECT, "p_component": {"type": "text", "x": 1}}),
        ),
        (
            "GET",
            format!("{p}/components"),
            json!(null),
            "list_components",
            200,
            json!({"p_project_id": PROJECT}),
        ),
        (
            "PATCH",
            format!("{p}/components/{COMPONENT}"),
            json!({"version": 4, "x": 10, "extra": true}),
            "update_component",
            200,
            json!({"p_project_id": PROJECT, "p_id": COMPONENT, "p_version": 4,
                   "p_patch": {"x": 10, "extra": true}}),
        ),
        (
            "DELETE",
            format!("{p}/components/{COMPONENT}"),
            json!(null),
            "delete_component",
            204,
            json!({"p_project_id": PROJECT, "p_id": COMPONENT}),
        ),
        (
            "POST",
            format!("{p}/recordings"),
            json!({"upload_id": UPLOAD, "duration_seconds": 12.5}),
            "create_recording",
            201,
            json!({"p_project_id": PROJECT, "p_upload_id": UPLOAD, "p_name": null,
                   "p_duration_seconds": 12.5}),
        ),
        (
            "DELETE",
            format!("{p}/recordings/{UPLOAD}"),
            json!(null),
            "delete_recording",
            204,
            json!({"p_project_id": PROJECT, "p_id": UPLOAD}),
        ),
        (
            "POST",
            format!("{p}/prompts"),
            json!({"prompt": "a fox", "generation_id": GENERATION}),
            "create_prompt_generation",
            201,
            json!({"p_project_id": PROJECT, "p_prompt": "a fox", "p_model": null,
                   "p_settings": null, "p_generation_id": GENERATION}),
        ),
    ];
    for (method, path, body, function, status, args) in cases {
        let (got_status, _, got_args) = exchange(function, json!({"id": "x"}), method, &path, body);
        assert_eq!((got_status, got_args), (status, args), "{method} {path}");
    }
    for (path, function) in [
        ("/v1/projects".to_string(), "list_projects"),
        (format!("{p}/recordings"), "list_recordings"),
        (format!("{p}/prompts"), "list_prompt_generations"),
    ] {
        let (status, body, args) = exchange(
            function,
            json!({"items": [], "next_cursor": null}),
            "GET",
            &path,
            json!(null),
        );
        assert_eq!(
            (status, body),
            (200, Some(json!({"items": [], "next_cursor": null})))
        );
        let mut want = page.clone();
        if function == "list_projects" {
            want["p_workspace_id"] = json!(null);
        } else {
            want["p_project_id"] = json!(PROJECT);
        }
        assert_eq!(args, want, "{path}");
    }
}

#[test]
fn a_stale_component_version_is_sql_s_409_with_its_message() {
    let stale = "the component was changed by someone else: its current version is 5";
    let deps = ScriptedDeps::default().answer("update_component", Err(ApiError::conflict(stale)));
    let path = format!("/v1/projects/{PROJECT}/components/{COMPONENT}");
    let e = run(&deps, "PATCH", &path, r#"{"version": 4, "x": 1}"#).unwrap_err();
    assert_eq!((e.status, e.message.as_str()), (409, stale));
}

#[test]
fn a_duplicate_may_name_its_copy() {
    let (_, _, args) = exchange(
        "duplicate_project",
        json!({"id": "x"}),
        "POST",
        &format!("/v1/projects/{PROJECT}/duplicate"),
        json!({"name": "Take two"}),
    );
    assert_eq!(args["p_name"], "Take two");
}

#[test]
fn a_list_of_projects_passes_its_workspace() {
    let (_, _, args) = exchange(
        "list_projects",
        json!({"items": [], "next_cursor": null}),
        "GET",
        &format!("/v1/projects?workspace_id={GENERATION}&limit=5"),
        json!(null),
    );
    assert_eq!(args["p_workspace_id"], GENERATION);
    assert_eq!(args["p_limit"], 5);
}

#[test]
fn bad_bodies_ids_and_queries_reach_no_rpc() {
    let p = format!("/v1/projects/{PROJECT}");
    let s = format!("{p}/shots/{SHOT}");
    for (method, path, body) in [
        ("POST", "/v1/projects".to_string(), r#"{"title": "x"}"#),
        (
            "POST",
            "/v1/projects".into(),
            r#"{"name": "x", "workspace_id": "w1"}"#,
        ),
        ("GET", "/v1/projects?workspace=1".into(), ""),
        ("GET", "/v1/projects?limit=0".into(), ""),
        ("GET", "/v1/projects/not-an-id".into(), ""),
        ("PATCH", p.clone(), ""),
        (
            "POST",
            format!("{p}/duplicate"),
            r#"{"name": "x", "owner": "y"}"#,
        ),
        (
            "POST",
            format!("{p}/shots"),
            r#"{"name": "x", "position": "first"}"#,
        ),
        ("POST", format!("{s}/move"), r#"{}"#),
        ("POST", format!("{s}/move"), r#"{"position": 1.5}"#),
        (
            "POST",
            format!("{s}/generations"),
            r#"{"generation_id": "g1"}"#,
        ),
        ("GET", format!("{s}/generations?unpositioned=yes"), ""),
        ("PATCH", format!("{s}/generations/{GENERATION}"), r#"{}"#),
        (
            "PATCH",
            format!("{p}/components/{COMPONENT}"),
            r#"{"x": 1}"#,
        ),
        (
            "PATCH",
            format!("{p}/components/{COMPONENT}"),
            r#"{"version": "4"}"#,
        ),
        ("POST", format!("{p}/components"), "not json"),
        ("POST", format!("{p}/recordings"), r#"{"upload_id": "u1"}"#),
        ("GET", format!("{p}/recordings?cursor=zzz"), ""),
        (
            "POST",
            format!("{p}/prompts"),
            r#"{"prompt": "x", "generation_id": "g"}"#,
        ),
        ("GET", format!("{p}/prompts?q=x"), ""),
    ] {
        let deps = ScriptedDeps::default();
        let e = run(&deps, method, &path, body)
            .err()
            .unwrap_or_else(|| panic!("{method} {path} {body}"));
        assert_eq!(e.status, 400, "{method} {path} {body}: {e}");
        assert!(deps.called().is_empty(), "{method} {path}");
    }
}

#[test]
fn no_user_wrong_methods_and_unknown_paths_are_refused_without_any_rpc() {
    let anonymous = genbase_shared::http::ApiRequest::new(
        "GET",
        "/v1/projects",
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let deps = ScriptedDeps::default();
    assert_eq!(block_on(handle(&anonymous, &deps)).unwrap_err().status, 401);
    for (method, path, status) in [
        ("PUT", "/v1/projects".to_string(), 405),
        ("POST", format!("/v1/projects/{PROJECT}"), 405),
        ("GET", format!("/v1/projects/{PROJECT}/shots/{SHOT}"), 405),
        ("GET", format!("/v1/projects/{PROJECT}/timeline"), 404),
    ] {
        let e = run(&deps, method, &path, "").unwrap_err();
        assert_eq!(e.status, status, "{method} {path}");
    }
    assert!(deps.called().is_empty());
}

#[test]
fn members_and_invitations_are_the_shared_endpoints_under_the_project() {
    let (status, body, args) = exchange(
        "list_members",
        json!([{"role": "owner"}]),
        "GET",
        &format!("/v1/projects/{PROJECT}/members"),
        Value::Null,
    );
    assert_eq!(
        (status, body, args),
        (
            200,
            Some(json!({"items": [{"role": "owner"}]})),
            json!({"p_resource_id": PROJECT})
        )
    );
    let (status, _, args) = exchange(
        "transfer_ownership",
        json!([]),
        "POST",
        &format!("/v1/projects/{PROJECT}/transfer"),
        json!({"user_id": GENERATION}),
    );
    assert_eq!(
        (status, args),
        (
            200,
            json!({"p_resource_id": PROJECT, "p_user_id": GENERATION})
        )
    );
}
