//! The flows handler with the upstream scripted: which RPC each endpoint calls, with what
//! and as whom, what it answers, and which requests it refuses before any RPC.

use crate::handle;
use genbase_shared::error::ApiError;
use genbase_shared::http::ApiResponse;
use genbase_shared::rpc::RpcAuth;
use genbase_shared::testing::{block_on, ScriptedDeps};
use serde_json::{json, Value};

const FLOW: &str = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11";
const COMMENT: &str = "a0000000-0000-4000-8000-000000000002";
const WORKSPACE: &str = "b0000000-0000-4000-8000-000000000003";

fn run(deps: &ScriptedDeps, method: &str, path: &str, body: &str) -> Result<ApiResponse, ApiError> {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut req = ScriptedDeps::request(method, path, body, &[]);
    req.query = genbase_shared::http::parse_query(query);
    block_on(handle(&req, deps))
}

/// The one RPC the request made: its arguments, asserting it went as the user.
fn only_call(deps: &ScriptedDeps) -> Value {
    let calls = deps.upstream.calls.borrow();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].2, RpcAuth::User(ScriptedDeps::user_token()));
    calls[0].1.clone()
}

#[test]
fn a_flow_is_created_as_the_user_in_a_workspace() {
    let deps = ScriptedDeps::default().answer("create_flow", Ok(json!({"id": FLOW, "version": 1})));
    let body = json!({"name": "Pipeline", "workspace_id": WORKSPACE}).to_string();
    let r = run(&deps, "POST", "/v1/flows", &body).unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(
        only_call(&deps),
        json!({"p_name": "Pipeline", "p_description": null, "p_workspace_id": WORKSPACE})
    );
}

#[test]
fn a_list_passes_its_workspace_and_page() {
    let deps =
        ScriptedDeps::default().answer("list_flows", Ok(json!({"items": [], "next_cursor": null})));
    let path = format!("/v1/flows?workspace_id={WORKSPACE}&limit=5");
    let r = run(&deps, "GET", &path, "").unwrap();
    assert_eq!(r.body.unwrap(), json!({"items": [], "next_cursor": null}));
    assert_eq!(
        only_call(&deps),
        json!({"p_workspace_id": WORKSPACE, "p_limit": 5, "p_cursor_created_at": null, "p_cursor_id": null})
    );
}

#[test]
fn a_graph_reaches_sql_whole_beside_its_version() {
    let deps = ScriptedDeps::default().answer("save_flow", Ok(json!({"id": FLOW, "version": 4})));
    // Keys SQL does not know travel too: it refuses them by name, in one place.
    let body = json!({"version": 3, "nodes": [{"id": "a", "position": {"x": 0, "y": 0}}],
                      "edges": [], "viewport": {"x": 0, "y": 0, "zoom": 1}, "extra": true});
    let r = run(
        &deps,
        "PUT",
        &format!("/v1/flows/{FLOW}/graph"),
        &body.to_string(),
    )
    .unwrap();
    assert_eq!(
        (r.status, r.body.unwrap()),
        (200, json!({"id": FLOW, "version": 4}))
    );
    assert_eq!(
        only_call(&deps),
        json!({"p_id": FLOW, "p_version": 3, "p_graph": {
            "nodes": [{"id": "a", "position": {"x": 0, "y": 0}}], "edges": [],
            "viewport": {"x": 0, "y": 0, "zoom": 1}, "extra": true}})
    );
}

#[test]
fn a_stale_version_is_sql_s_409_with_its_message() {
    let stale = "the flow has changed since version 3: it is at version 4; load it and save again";
    let deps = ScriptedDeps::default().answer("save_flow", Err(ApiError::conflict(stale)));
    let body = json!({"version": 3, "nodes": [], "edges": []}).to_string();
    let e = run(&deps, "PUT", &format!("/v1/flows/{FLOW}/graph"), &body).unwrap_err();
    assert_eq!((e.status, e.message.as_str()), (409, stale));
}

#[test]
fn a_rename_sends_the_patch_as_it_came_and_a_delete_answers_204() {
    let deps = ScriptedDeps::default().answer("update_flow", Ok(json!({"id": FLOW})));
    let r = run(
        &deps,
        "PATCH",
        &format!("/v1/flows/{FLOW}"),
        r#"{"name": "New"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        only_call(&deps),
        json!({"p_id": FLOW, "p_patch": {"name": "New"}})
    );

    let deps = ScriptedDeps::default().answer("delete_flow", Ok(json!({"id": FLOW})));
    let r = run(&deps, "DELETE", &format!("/v1/flows/{FLOW}"), "").unwrap();
    assert_eq!((r.status, r.body), (204, None));
    assert_eq!(only_call(&deps), json!({"p_id": FLOW}));
}

#[test]
fn a_reply_names_its_flow_and_thread() {
    let deps = ScriptedDeps::default().answer("create_flow_comment", Ok(json!({"id": COMMENT})));
    let body = json!({"content": "agreed", "parent_id": COMMENT}).to_string();
    let r = run(&deps, "POST", &format!("/v1/flows/{FLOW}/comments"), &body).unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(
        only_call(&deps),
        json!({"p_flow_id": FLOW, "p_content": "agreed", "p_position": null, "p_node_id": null,
               "p_parent_id": COMMENT})
    );
}

#[test]
fn comments_are_listed_by_resolution() {
    let deps = ScriptedDeps::default().answer(
        "list_flow_comments",
        Ok(json!({"items": [], "next_cursor": null})),
    );
    let path = format!("/v1/flows/{FLOW}/comments?resolved=false");
    run(&deps, "GET", &path, "").unwrap();
    assert_eq!(
        only_call(&deps),
        json!({"p_flow_id": FLOW, "p_resolved": false, "p_limit": 20, "p_cursor_created_at": null,
               "p_cursor_id": null})
    );
}

#[test]
fn resolve_and_reopen_are_one_rpc_either_way() {
    for (method, resolved) in [("POST", true), ("DELETE", false)] {
        let deps =
            ScriptedDeps::default().answer("resolve_flow_comment", Ok(json!({"id": COMMENT})));
        let path = format!("/v1/flows/{FLOW}/comments/{COMMENT}/resolve");
        let r = run(&deps, method, &path, "").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(
            only_call(&deps),
            json!({"p_flow_id": FLOW, "p_id": COMMENT, "p_resolved": resolved})
        );
    }
}

#[test]
fn a_comment_is_edited_and_deleted_by_its_ids() {
    let deps = ScriptedDeps::default().answer("update_flow_comment", Ok(json!({"id": COMMENT})));
    let path = format!("/v1/flows/{FLOW}/comments/{COMMENT}");
    run(&deps, "PATCH", &path, r#"{"content": "better"}"#).unwrap();
    assert_eq!(
        only_call(&deps),
        json!({"p_flow_id": FLOW, "p_id": COMMENT, "p_content": "better"})
    );
    let deps = ScriptedDeps::default().answer("delete_flow_comment", Ok(json!({"id": COMMENT})));
    assert_eq!(run(&deps, "DELETE", &path, "").unwrap().status, 204);
    assert_eq!(
        only_call(&deps),
        json!({"p_flow_id": FLOW, "p_id": COMMENT})
    );
}

#[test]
fn bad_requests_reach_no_rpc() {
    let graph = format!("/v1/flows/{FLOW}/graph");
    let comments = format!("/v1/flows/{FLOW}/comments");
    for (method, path, body, status) in [
        (
            "POST",
            "/v1/flows",
            r#"{"name": "x", "workspace_id": "w1"}"#,
            400,
        ),
        ("POST", "/v1/flows", r#"{"name": "x", "owner": "me"}"#, 400),
        ("POST", "/v1/flows", r#"{"description": "no name"}"#, 400),
        ("GET", "/v1/flows?workspace=x", "", 400),
        ("GET", "/v1/flows?limit=0", "", 400),
        ("GET", "/v1/flows?cursor=zzz", "", 400),
        ("GET", "/v1/flows/not-an-id", "", 400),
        ("PATCH", &format!("/v1/flows/{FLOW}"), "{", 400),
        ("PUT", &graph, r#"{"nodes": [], "edges": []}"#, 400),
        (
            "PUT",
            &graph,
            r#"{"version": "3", "nodes": [], "edges": []}"#,
            400,
        ),
        ("PUT", &graph, "[]", 400),
        (
            "POST",
            &comments,
            r#"{"content": "x", "parent_id": "p1"}"#,
            400,
        ),
        ("POST", &comments, r#"{"content": "x", "x": 1}"#, 400),
        ("GET", &format!("{comments}?resolved=maybe"), "", 400),
        (
            "PATCH",
            &format!("{comments}/{COMMENT}"),
            r#"{"resolved": true}"#,
            400,
        ),
        ("POST", &format!("{comments}/nope/resolve"), "", 400),
        ("PUT", &format!("/v1/flows/{FLOW}"), "{}", 405),
        ("GET", &format!("/v1/flows/{FLOW}/nodes"), "", 404),
    ] {
        let deps = ScriptedDeps::default();
        let e = run(&deps, method, path, body)
            .err()
            .unwrap_or_else(|| panic!("{method} {path} {body}"));
        assert_eq!(e.status, status, "{method} {path} {body}: {e}");
        assert!(deps.called().is_empty());
    }
}

#[test]
fn no_token_is_a_401_before_any_rpc() {
    let deps = ScriptedDeps::default();
    let req = genbase_shared::http::ApiRequest::new(
        "GET",
        "/v1/flows",
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let e = block_on(handle(&req, &deps)).unwrap_err();
    assert_eq!(e.status, 401);
    assert!(deps.called().is_empty());
}

#[test]
fn members_and_invitations_are_the_shared_endpoints_under_the_flow() {
    let deps = ScriptedDeps::default().answer("list_members", Ok(json!([{"role": "owner"}])));
    let r = run(&deps, "GET", &format!("/v1/flows/{FLOW}/members"), "").unwrap();
    assert_eq!(r.body.unwrap(), json!({"items": [{"role": "owner"}]}));
    assert_eq!(only_call(&deps), json!({"p_resource_id": FLOW}));

    let deps = ScriptedDeps::default().answer("create_invitation", Ok(json!({"token": "t"})));
    let body = json!({"role": "viewer"}).to_string();
    let r = run(
        &deps,
        "POST",
        &format!("/v1/flows/{FLOW}/invitations"),
        &body,
    )
    .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(only_call(&deps)["p_resource_id"], json!(FLOW));
}
