//! Flows end to end, through the real WASM in workerd and Postgres: a flow is created, its
//! graph saved and read back exactly, a stale save answered 409 and a bad graph 400 with
//! nothing written; a viewer (invited through the sharing RPCs) reads and comments but does
//! not save; comments get replies, are resolved and reopened; a stranger gets 404 for all of
//! it; a deleted flow is gone. Concurrency: 8 editors saving one version at once get exactly
//! one 200 and seven 409s and the stored graph is the winner's; 8 editors each adding a node
//! and retrying on 409 all land, none lost.

use genbase_tests::{Reply, Stack, User};
use serde_json::{json, Value};
use std::sync::{Arc, Barrier};

const EDITORS: usize = 8;

fn create_flow(stack: &Stack, owner: &User, name: &str) -> String {
    let r = stack.json(
        "POST",
        "/v1/flows",
        Some(&owner.token),
        &json!({"name": name}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        (r.body["version"].as_i64(), r.body["role"].as_str()),
        (Some(1), Some("owner"))
    );
    r.body["id"].as_str().unwrap().to_string()
}

/// Shares the flow with each of `users` in `role`, through the generic sharing RPCs: one
/// multi-use invitation its owner creates, accepted by each.
fn share(stack: &Stack, owner: &User, flow: &str, role: &str, users: &[&User]) {
    let rpc = stack.rpc_client();
    let r = rpc.call(
        "create_invitation",
        &json!({"p_resource_id": flow, "p_role": role, "p_max_uses": users.len()}),
        Some(&owner.token),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let token = r.body["token"].as_str().unwrap().to_string();
    for user in users {
        let r = rpc.call(
            "accept_invitation",
            &json!({"p_token": token}),
            Some(&user.token),
        );
        assert_eq!(
            (r.status, r.body["role"].as_str()),
            (200, Some(role)),
            "{r:?}"
        );
    }
}

fn get_flow(stack: &Stack, user: &User, flow: &str) -> Reply {
    stack.get(&format!("/v1/flows/{flow}"), Some(&user.token))
}

fn save(stack: &Stack, user: &User, flow: &str, version: i64, graph: &Value) -> Reply {
    let mut body = graph.clone();
    body["version"] = json!(version);
    stack.json(
        "PUT",
        &format!("/v1/flows/{flow}/graph"),
        Some(&user.token),
        &body,
    )
}

/// A graph as `get_flow` answers it: every node and edge field present.
fn graph(tag: &str) -> Value {
    json!({
        "nodes": [
            {"id": "prompt", "type": "input", "position": {"x": 0, "y": 0}, "data": {"text": tag},
             "width": null, "height": null},
            {"id": "model", "type": "default", "position": {"x": 240.5, "y": -30}, "data": {"model": "flux-schnell"},
             "width": 180, "height": 60},
            {"id": format!("out-{tag}"), "type": "output", "position": {"x": 480, "y": 0}, "data": {},
             "width": null, "height": null}
        ],
        "edges": [
            {"id": "e1", "source": "prompt", "target": "model", "source_handle": null, "target_handle": null,
             "type": "default", "data": {}},
            {"id": "e2", "source": "model", "target": format!("out-{tag}"), "source_handle": "image",
             "target_handle": null, "type": "smoothstep", "data": {"animated": true}}
        ],
        "viewport": {"x": -10, "y": 5, "zoom": 0.75}
    })
}

/// The graph part of a flow as read.
fn graph_of(flow: &Value) -> Value {
    json!({"nodes": flow["nodes"], "edges": flow["edges"], "viewport": flow["viewport"]})
}

#[test]
fn a_flow_is_drawn_saved_read_back_and_discussed() {
    let stack = Stack::from_env();
    let owner = stack.new_user("flow-owner");
    let viewer = stack.new_user("flow-viewer");
    let stranger = stack.new_user("flow-stranger");
    let flow = create_flow(&stack, &owner, "Image pipeline");

    let r = save(&stack, &owner, &flow, 1, &graph("fox"));
    assert_eq!(
        (r.status, r.body["version"].as_i64()),
        (200, Some(2)),
        "{r:?}"
    );
    let read = get_flow(&stack, &owner, &flow);
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(
        graph_of(&read.body),
        graph("fox"),
        "the graph reads back as saved"
    );
    assert_eq!(read.body["version"], 2);

    let r = save(&stack, &owner, &flow, 1, &graph("owl"));
    assert_eq!((r.status, r.error_code()), (409, "conflict"), "{r:?}");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("it is at version 2"),
        "{r:?}"
    );
    let mut broken = graph("owl");
    broken["edges"][0]["target"] = json!("nowhere");
    let r = save(&stack, &owner, &flow, 2, &broken);
    assert_eq!(
        (r.status, r.error_code()),
        (400, "validation_failed"),
        "{r:?}"
    );
    assert_eq!(
        r.body["error"]["message"],
        "edges[0]: target nowhere is not a node of the graph"
    );
    let read = get_flow(&stack, &owner, &flow).body;
    assert_eq!(
        (graph_of(&read), read["version"].clone()),
        (graph("fox"), json!(2)),
        "nothing was written"
    );

    share(&stack, &owner, &flow, "viewer", &[&viewer]);
    let r = get_flow(&stack, &viewer, &flow);
    assert_eq!(
        (r.status, r.body["role"].as_str()),
        (200, Some("viewer")),
        "{r:?}"
    );
    let r = save(&stack, &viewer, &flow, 2, &graph("owl"));
    assert_eq!((r.status, r.error_code()), (403, "forbidden"), "{r:?}");
    let r = stack.json(
        "PATCH",
        &format!("/v1/flows/{flow}"),
        Some(&viewer.token),
        &json!({"name": "mine"}),
    );
    assert_eq!(r.status, 403, "{r:?}");

    // A viewer starts a thread on the canvas, the owner replies, the viewer resolves it.
    let comments = format!("/v1/flows/{flow}/comments");
    let r = stack.json(
        "POST",
        &comments,
        Some(&viewer.token),
        &json!({"content": "Use a bigger model?", "position": {"x": 250, "y": -40}}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["position"], json!({"x": 250, "y": -40}));
    let thread = r.body["id"].as_str().unwrap().to_string();
    let r = stack.json(
        "POST",
        &comments,
        Some(&owner.token),
        &json!({"content": "Good idea", "parent_id": thread}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let reply = r.body["id"].as_str().unwrap().to_string();
    let r = stack.json(
        "POST",
        &comments,
        Some(&owner.token),
        &json!({"content": "Check this node", "node_id": "model"}),
    );
    assert_eq!(
        (r.status, r.body["node_id"].as_str()),
        (201, Some("model")),
        "{r:?}"
    );
    let r = stack.json(
        "POST",
        &comments,
        Some(&owner.token),
        &json!({"content": "deeper", "parent_id": reply}),
    );
    assert_eq!(r.status, 400, "{r:?}");
    let r = stack.json(
        "PATCH",
        &format!("{comments}/{thread}"),
        Some(&owner.token),
        &json!({"content": "edited"}),
    );
    assert_eq!(
        (r.status, r.error_code()),
        (403, "forbidden"),
        "only the author edits: {r:?}"
    );
    let r = stack.json(
        "PATCH",
        &format!("{comments}/{thread}"),
        Some(&viewer.token),
        &json!({"content": "Use a larger model?"}),
    );
    assert_eq!(
        (r.status, r.body["content"].as_str()),
        (200, Some("Use a larger model?")),
        "{r:?}"
    );
    let r = stack.send(
        "POST",
        &format!("{comments}/{thread}/resolve"),
        Some(&viewer.token),
        None,
        &[],
    );
    assert_eq!(
        (r.status, r.body["resolved_by"].clone()),
        (200, json!(viewer.id)),
        "{r:?}"
    );

    let r = stack.get(&format!("{comments}?resolved=true"), Some(&viewer.token));
    assert_eq!(r.status, 200, "{r:?}");
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{r:?}");
    assert_eq!(items[0]["id"], json!(thread));
    assert_eq!(items[0]["replies"][0]["content"], "Good idea");
    let r = stack.get(&format!("{comments}?resolved=false"), Some(&viewer.token));
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1), "{r:?}");
    let r = stack.send(
        "DELETE",
        &format!("{comments}/{thread}/resolve"),
        Some(&owner.token),
        None,
        &[],
    );
    assert_eq!(
        (r.status, r.body["resolved_at"].clone()),
        (200, Value::Null),
        "{r:?}"
    );
    let r = stack.send(
        "DELETE",
        &format!("{comments}/{reply}"),
        Some(&viewer.token),
        None,
        &[],
    );
    assert_eq!(r.status, 403, "a viewer deletes only their own: {r:?}");

    // A stranger learns nothing, and changes nothing.
    for r in [
        get_flow(&stack, &stranger, &flow),
        stack.get(&comments, Some(&stranger.token)),
        save(&stack, &stranger, &flow, 2, &graph("owl")),
        stack.json(
            "POST",
            &comments,
            Some(&stranger.token),
            &json!({"content": "hi"}),
        ),
        stack.send(
            "POST",
            &format!("{comments}/{thread}/resolve"),
            Some(&stranger.token),
            None,
            &[],
        ),
        stack.send(
            "DELETE",
            &format!("/v1/flows/{flow}"),
            Some(&stranger.token),
            None,
            &[],
        ),
    ] {
        assert_eq!((r.status, r.error_code()), (404, "not_found"), "{r:?}");
    }
    let r = stack.get("/v1/flows", Some(&stranger.token));
    assert_eq!(
        (r.status, r.body["items"].clone()),
        (200, json!([])),
        "{r:?}"
    );
    let r = stack.get("/v1/flows", None);
    assert_eq!(r.status, 401, "{r:?}");
    r.error_code();

    let r = stack.get("/v1/flows?limit=10", Some(&viewer.token));
    assert_eq!(r.body["items"][0]["id"], json!(flow), "{r:?}");
    let r = stack.json(
        "PATCH",
        &format!("/v1/flows/{flow}"),
        Some(&owner.token),
        &json!({"name": "Renamed"}),
    );
    assert_eq!(
        (
            r.status,
            r.body["name"].as_str(),
            r.body["version"].as_i64()
        ),
        (200, Some("Renamed"), Some(2)),
        "{r:?}"
    );
    let r = stack.send(
        "DELETE",
        &format!("/v1/flows/{flow}"),
        Some(&viewer.token),
        None,
        &[],
    );
    assert_eq!(r.status, 403, "{r:?}");
    let r = stack.send(
        "DELETE",
        &format!("/v1/flows/{flow}"),
        Some(&owner.token),
        None,
        &[],
    );
    assert_eq!(r.status, 204, "{r:?}");
    for user in [&owner, &viewer] {
        assert_eq!(get_flow(&stack, user, &flow).status, 404);
        assert_eq!(stack.get(&comments, Some(&user.token)).status, 404);
    }
}

/// 8 members, the flow at version 1 shared with them as `member`.
fn team(stack: &Stack, label: &str) -> (String, Vec<User>) {
    let owner = stack.new_user(&format!("{label}-owner"));
    let flow = create_flow(stack, &owner, label);
    let editors: Vec<User> = (0..EDITORS)
        .map(|i| stack.new_user(&format!("{label}-{i}")))
        .collect();
    share(
        stack,
        &owner,
        &flow,
        "member",
        &editors.iter().collect::<Vec<_>>(),
    );
    (flow, editors)
}

#[test]
fn eight_editors_saving_one_version_at_once_one_wins_and_the_rest_get_409() {
    let stack = Stack::from_env();
    let (flow, editors) = team(&stack, "flow-race");
    let barrier = Arc::new(Barrier::new(EDITORS));
    let answers: Vec<(usize, Reply)> = std::thread::scope(|s| {
        let handles: Vec<_> = editors
            .iter()
            .enumerate()
            .map(|(i, editor)| {
                let (barrier, flow) = (barrier.clone(), flow.clone());
                s.spawn(move || {
                    let stack = Stack::from_env();
                    let read = get_flow(&stack, editor, &flow);
                    assert_eq!(read.body["version"], 1, "{read:?}");
                    barrier.wait();
                    (
                        i,
                        save(&stack, editor, &flow, 1, &graph(&format!("editor-{i}"))),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let winners: Vec<usize> = answers
        .iter()
        .filter(|(_, r)| r.status == 200)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one save wins: {answers:?}");
    for (_, r) in answers.iter().filter(|(_, r)| r.status != 200) {
        assert_eq!((r.status, r.error_code()), (409, "conflict"), "{r:?}");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("it is at version 2"),
            "{r:?}"
        );
    }
    let read = get_flow(&stack, &editors[0], &flow).body;
    assert_eq!(read["version"], 2);
    assert_eq!(
        graph_of(&read),
        graph(&format!("editor-{}", winners[0])),
        "the stored graph is the winner's"
    );
}

#[test]
fn eight_editors_retrying_on_409_lose_no_save() {
    let stack = Stack::from_env();
    let (flow, editors) = team(&stack, "flow-retry");
    let barrier = Arc::new(Barrier::new(EDITORS));
    let conflicts: usize = std::thread::scope(|s| {
        let handles: Vec<_> = editors
            .iter()
            .enumerate()
            .map(|(i, editor)| {
                let (barrier, flow) = (barrier.clone(), flow.clone());
                s.spawn(move || {
                    let stack = Stack::from_env();
                    barrier.wait();
                    // Read, add this editor's node, save with the version read; on 409 again.
                    for conflicts in 0..100 {
                        let read = get_flow(&stack, editor, &flow).body;
                        let mut nodes = read["nodes"].as_array().unwrap().clone();
                        nodes.push(
                            json!({"id": format!("editor-{i}"), "position": {"x": i * 100, "y": 0},
                                          "data": {"by": i}}),
                        );
                        let graph = json!({"nodes": nodes, "edges": read["edges"]});
                        let version = read["version"].as_i64().unwrap();
                        let r = save(&stack, editor, &flow, version, &graph);
                        match r.status {
                            200 => {
                                assert_eq!(r.body["version"].as_i64(), Some(version + 1), "{r:?}");
                                return conflicts;
                            }
                            409 => continue,
                            _ => panic!("editor {i}: {r:?}"),
                        }
                    }
                    panic!("editor {i} never saved");
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });

    let read = get_flow(&stack, &editors[0], &flow).body;
    assert_eq!(read["version"], json!(1 + EDITORS), "one version per save");
    let mut ids: Vec<String> = read["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut want: Vec<String> = (0..EDITORS).map(|i| format!("editor-{i}")).collect();
    want.sort();
    assert_eq!(
        ids, want,
        "every editor's node landed, once ({conflicts} retries on 409)"
    );
}
