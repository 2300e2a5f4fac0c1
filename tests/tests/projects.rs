//! Projects end to end, through the real WASM in workerd and Postgres: an owner shares a
//! project with a member and a viewer (the sharing RPCs: an invitation each), and the member
//! works through every endpoint (shots and their order, a shot's generations with 003's
//! nullable position, components with their version check, a recording from an upload made
//! for the project, the prompt history, 004's duplicate and stats) while a viewer is refused
//! every write (403) and a stranger everything (404); the owner's delete hides it all at once.

use genbase_tests::{Reply, Stack, User};
use serde_json::{json, Value};

/// The body of a reply that must have `status`.
fn body(r: Reply, status: u16) -> Value {
    assert_eq!(r.status, status, "{r:?}");
    r.body
}

/// Asserts `r` is our error with `status`.
fn refused(r: Reply, status: u16) {
    assert_eq!(r.status, status, "{r:?}");
    r.error_code();
}

/// Makes `user` a `role` of `project`, the way users do: `owner` invites, `user` accepts.
fn share(stack: &Stack, owner: &User, project: &str, user: &User, role: &str) {
    let rpc = stack.rpc_client();
    let r = rpc.call(
        "create_invitation",
        &json!({"p_resource_id": project, "p_role": role}),
        Some(&owner.token),
    );
    let token = body(r, 200)["token"].as_str().unwrap().to_string();
    let r = rpc.call(
        "accept_invitation",
        &json!({"p_token": token}),
        Some(&user.token),
    );
    assert_eq!(r.status, 200, "{r:?}");
}

/// A finished image generation of `user`'s (written as the provider's webhook would leave it).
fn generation_of(stack: &Stack, user: &User, prompt: &str) -> String {
    let row = stack
        .db()
        .query_one(
            "insert into public.generations (user_id, kind, action, model, prompt, route, pricing_id,
               units, status, outputs)
             select $1, 'image', 'generate', p.model, $2, 'provider', p.id, 1, 'succeeded',
               '{\"urls\": [\"https://example.test/image.png\"]}'
             from public.pricing p where p.model = 'flux-schnell' order by p.active_from desc limit 1
             returning id::text",
            &[&user.id, &prompt],
        )
        .expect("a generation");
    row.get(0)
}

/// The shots' names in order, asserting their positions are 0..n-1.
fn shot_names(stack: &Stack, user: &User, project: &str) -> Vec<String> {
    let list = body(
        stack.get(&format!("/v1/projects/{project}/shots"), Some(&user.token)),
        200,
    );
    let items = list["items"].as_array().unwrap();
    for (i, shot) in items.iter().enumerate() {
        assert_eq!(shot["position"], json!(i), "{list}");
    }
    items
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

/// Uploads a recording's file as `user` for `project`: the upload (its path in the project's
/// layout), then the bytes through a URL Storage signed for the user.
fn recorded_upload(stack: &Stack, user: &User, project: &str) -> Value {
    let r = stack.rpc_client().call(
        "create_upload",
        &json!({"p_purpose": "audio_recording", "p_content_type": "audio/webm", "p_bytes": 4,
                "p_filename": "take 1.webm", "p_project_id": project}),
        Some(&user.token),
    );
    let upload = body(r, 200);
    let path = upload["path"].as_str().unwrap();
    assert!(
        path.starts_with(&format!("{}/{project}/", user.id)) && path.ends_with("_take_1.weba"),
        "{{user_id}}/{{project_id}}/{{timestamp}}_{{filename}}: {path}"
    );
    let sign = genbase_tests::send(
        &format!(
            "{}/storage/v1/object/upload/sign/audio-recordings/{path}",
            stack.supabase_url
        ),
        "POST",
        Some(&user.token),
        Some("{}"),
        &[("content-type", "application/json")],
    );
    let url = body(sign, 200)["url"].as_str().unwrap().to_string();
    let put = ureq::put(&format!("{}/storage/v1{url}", stack.supabase_url))
        .set("content-type", "audio/webm")
        .send_bytes(b"OggS")
        .expect("PUT the recording");
    assert_eq!(put.status(), 200);
    upload
}

#[test]
fn a_project_is_worked_on_by_role_and_hidden_at_once_when_deleted() {
    let stack = Stack::from_env();
    let owner = stack.new_user("project-owner");
    let member = stack.new_user("project-member");
    let viewer = stack.new_user("project-viewer");
    let stranger = stack.new_user("project-stranger");
    let (o, m, v, s) = (
        Some(owner.token.as_str()),
        Some(member.token.as_str()),
        Some(viewer.token.as_str()),
        Some(stranger.token.as_str()),
    );

    let project = body(
        stack.json(
            "POST",
            "/v1/projects",
            o,
            &json!({"name": "Lighthouse", "settings": {"fps": 24}}),
        ),
        201,
    );
    assert_eq!(project["role"], "owner");
    let id = project["id"].as_str().unwrap().to_string();
    let p = format!("/v1/projects/{id}");
    share(&stack, &owner, &id, &member, "member");
    share(&stack, &owner, &id, &viewer, "viewer");

    // Reading: by role, and nothing for a stranger.
    let listed = body(stack.get("/v1/projects", v), 200);
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert_eq!(listed["items"][0]["role"], "viewer");
    refused(stack.get(&p, s), 404);
    refused(stack.json("PATCH", &p, s, &json!({"settings": {}})), 404);
    refused(stack.get(&format!("{p}/shots"), s), 404);
    assert_eq!(body(stack.get("/v1/projects", s), 200)["items"], json!([]));

    // Project fields: members edit content, admins (here the owner) rename.
    let edited = body(
        stack.json(
            "PATCH",
            &p,
            m,
            &json!({"settings": {"fps": 30}, "layout": {"zoom": 2}}),
        ),
        200,
    );
    assert_eq!(
        (edited["version"].as_i64(), edited["role"].as_str()),
        (Some(2), Some("member"))
    );
    refused(stack.json("PATCH", &p, m, &json!({"name": "Mine"})), 403);
    refused(stack.json("PATCH", &p, v, &json!({"settings": {}})), 403);
    let stale = stack.json("PATCH", &p, o, &json!({"layout": {}, "version": 1}));
    assert_eq!(stale.status, 409, "{stale:?}");
    assert_eq!(
        body(
            stack.json("PATCH", &p, o, &json!({"name": "The lighthouse"})),
            200
        )["name"],
        "The lighthouse"
    );

    // Shots: a gap-free order the member changes; the viewer reads it and changes nothing.
    let mut shots = Vec::new();
    for name in ["A", "B", "C"] {
        let shot = body(
            stack.json("POST", &format!("{p}/shots"), m, &json!({"name": name})),
            201,
        );
        shots.push(shot["id"].as_str().unwrap().to_string());
    }
    let moved = body(
        stack.json(
            "POST",
            &format!("{p}/shots/{}/move", shots[2]),
            m,
            &json!({"position": 0}),
        ),
        200,
    );
    assert_eq!(moved["position"], 0);
    assert_eq!(shot_names(&stack, &viewer, &id), ["C", "A", "B"]);
    refused(
        stack.json(
            "POST",
            &format!("{p}/shots/{}/move", shots[0]),
            v,
            &json!({"position": 0}),
        ),
        403,
    );
    refused(
        stack.json("POST", &format!("{p}/shots"), v, &json!({"name": "D"})),
        403,
    );
    refused(
        stack.json(
            "POST",
            &format!("{p}/shots/{}/move", shots[0]),
            s,
            &json!({"position": 0}),
        ),
        404,
    );
    refused(
        stack.json(
            "POST",
            &format!("{p}/shots/{}/move", shots[0]),
            m,
            &json!({"position": 3}),
        ),
        400,
    );
    body(
        stack.json(
            "PATCH",
            &format!("{p}/shots/{}", shots[0]),
            m,
            &json!({"name": "Arrival"}),
        ),
        200,
    );
    let deleted = stack.send("DELETE", &format!("{p}/shots/{}", shots[1]), m, None, &[]);
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(shot_names(&stack, &member, &id), ["C", "Arrival"]);

    // A shot's generations: 003's nullable position; never a generation the member cannot see.
    let links = format!("{p}/shots/{}/generations", shots[2]);
    let mine = generation_of(&stack, &member, "a fox at dawn");
    let theirs = generation_of(&stack, &stranger, "a secret");
    let link = body(
        stack.json("POST", &links, m, &json!({"generation_id": mine})),
        201,
    );
    assert_eq!(link["position"], Value::Null);
    refused(
        stack.json("POST", &links, m, &json!({"generation_id": theirs})),
        404,
    );
    refused(
        stack.json("POST", &links, v, &json!({"generation_id": mine})),
        403,
    );
    let pane = body(stack.get(&format!("{links}?unpositioned=true"), v), 200);
    assert_eq!(pane["items"][0]["generation"]["prompt"], "a fox at dawn");
    let placed = body(
        stack.json(
            "PATCH",
            &format!("{links}/{mine}"),
            m,
            &json!({"position": 0}),
        ),
        200,
    );
    assert_eq!(placed["position"], 0);
    assert_eq!(
        body(stack.get(&format!("{links}?unpositioned=true"), m), 200)["items"],
        json!([])
    );
    assert_eq!(
        body(stack.get(&format!("{links}?unpositioned=false"), m), 200)["items"][0]
            ["generation_id"],
        mine.as_str()
    );

    // Components: a save over a stale version is a 409 naming the current one.
    let component = body(
        stack.json(
            "POST",
            &format!("{p}/components"),
            m,
            &json!({"type": "text", "x": 10, "y": 20, "properties": {"text": "hi"}}),
        ),
        201,
    );
    assert_eq!(component["version"], 1);
    let c = format!("{p}/components/{}", component["id"].as_str().unwrap());
    let saved = body(
        stack.json("PATCH", &c, m, &json!({"version": 1, "x": 15})),
        200,
    );
    assert_eq!(
        (saved["version"].as_i64(), saved["x"].as_f64()),
        (Some(2), Some(15.0))
    );
    let lost = stack.json("PATCH", &c, o, &json!({"version": 1, "x": 99}));
    assert_eq!(lost.status, 409, "{lost:?}");
    assert_eq!(lost.error_code(), "conflict");
    assert!(
        lost.body["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("its current version is 2"),
        "{lost:?}"
    );
    refused(
        stack.json("PATCH", &c, v, &json!({"version": 2, "x": 0})),
        403,
    );
    refused(
        stack.json("PATCH", &c, m, &json!({"version": 2, "x": "left"})),
        400,
    );
    assert_eq!(
        body(stack.get(&format!("{p}/components"), v), 200)["items"][0]["x"],
        15.0
    );

    // A recording: an upload made for the project, registered once its file arrived.
    let upload = recorded_upload(&stack, &member, &id);
    let recording = body(
        stack.json(
            "POST",
            &format!("{p}/recordings"),
            m,
            &json!({"upload_id": upload["upload_id"], "duration_seconds": 1.5}),
        ),
        201,
    );
    assert_eq!(
        (
            &recording["name"],
            &recording["bytes"],
            &recording["duration_seconds"]
        ),
        (&json!("take 1.webm"), &json!(4), &json!(1.5))
    );
    let r = format!("{p}/recordings/{}", recording["id"].as_str().unwrap());
    assert_eq!(
        body(stack.get(&format!("{p}/recordings"), v), 200)["items"][0]["id"],
        recording["id"]
    );
    refused(stack.send("DELETE", &r, v, None, &[]), 403);

    // The prompt history.
    body(
        stack.json(
            "POST",
            &format!("{p}/prompts"),
            m,
            &json!({"prompt": "a fox at dawn", "model": "flux-schnell", "generation_id": mine}),
        ),
        201,
    );
    refused(
        stack.json(
            "POST",
            &format!("{p}/prompts"),
            v,
            &json!({"prompt": "mine"}),
        ),
        403,
    );
    let history = body(stack.get(&format!("{p}/prompts?limit=1"), v), 200);
    assert_eq!(history["items"][0]["generation_id"], mine.as_str());

    // 004's duplicate: the member's own copy, shots in order.
    let copy = body(
        stack.json(
            "POST",
            &format!("{p}/duplicate"),
            m,
            &json!({"name": "Take two"}),
        ),
        201,
    );
    assert_eq!(
        (copy["name"].as_str(), copy["role"].as_str()),
        (Some("Take two"), Some("owner"))
    );
    let copy_id = copy["id"].as_str().unwrap().to_string();
    assert_eq!(shot_names(&stack, &member, &copy_id), ["C", "Arrival"]);
    refused(stack.get(&format!("/v1/projects/{copy_id}"), o), 404);
    let stats = body(stack.get("/v1/projects/stats", m), 200);
    assert_eq!(
        (
            &stats["projects"],
            &stats["shared_projects"],
            &stats["shots"]
        ),
        (&json!(1), &json!(1), &json!(2))
    );

    // Deleting: viewers and members cannot; the owner can, and everything goes at once.
    refused(stack.send("DELETE", &p, m, None, &[]), 403);
    let gone = stack.send("DELETE", &p, o, None, &[]);
    assert_eq!(gone.status, 204, "{gone:?}");
    for token in [o, m, v] {
        refused(stack.get(&p, token), 404);
        refused(stack.get(&format!("{p}/shots"), token), 404);
        refused(stack.get(&format!("{p}/components"), token), 404);
        refused(stack.get(&links, token), 404);
    }
    assert_eq!(shot_names(&stack, &member, &copy_id), ["C", "Arrival"]);
}
