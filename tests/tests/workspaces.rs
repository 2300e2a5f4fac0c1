//! Workspaces end to end through workerd: members generate into a workspace and spend its
//! credits (each ledger entry naming the member), see each other's work by role, and lose
//! it all the moment they are removed; invitations are refused once used, expired or
//! revoked; there is always exactly one owner; strangers learn nothing; and members drawing
//! on one workspace at once never overdraw it.

use genbase_tests::{Reply, Stack, User};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Creates a workspace as `owner` (a unique name: slugs are global) and returns its id.
fn create(stack: &Stack, owner: &User) -> String {
    let name = format!("Team {}", uuid::Uuid::new_v4().simple());
    let r = stack.json(
        "POST",
        "/v1/workspaces",
        Some(&owner.token),
        &json!({"name": name}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["role"], "owner", "{r:?}");
    r.body["id"].as_str().unwrap().to_string()
}

/// An invitation to `ws` made by `by` with `body`; its answer.
fn invite(stack: &Stack, by: &User, ws: &str, body: Value) -> Reply {
    stack.json(
        "POST",
        &format!("/v1/workspaces/{ws}/invitations"),
        Some(&by.token),
        &body,
    )
}

/// An invitation's token, which must be created.
fn token(stack: &Stack, by: &User, ws: &str, body: Value) -> String {
    let r = invite(stack, by, ws, body);
    assert_eq!(r.status, 201, "{r:?}");
    r.body["token"].as_str().unwrap().to_string()
}

fn accept(stack: &Stack, user: &User, token: &str) -> Reply {
    stack.json(
        "POST",
        "/v1/invitations/accept",
        Some(&user.token),
        &json!({ "token": token }),
    )
}

/// `user` joins `ws` with `role` through a link `owner` made.
fn join(stack: &Stack, owner: &User, ws: &str, user: &User, role: &str) {
    let t = token(stack, owner, ws, json!({ "role": role }));
    let r = accept(stack, user, &t);
    assert_eq!((r.status, &r.body["role"]), (200, &json!(role)), "{r:?}");
}

fn fund(stack: &Stack, user: &User, ws: &str, amount: i64, key: Option<&str>) -> Reply {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(k) = key {
        headers.push(("idempotency-key", k));
    }
    stack.send(
        "POST",
        &format!("/v1/workspaces/{ws}/credits/fund"),
        Some(&user.token),
        Some(&json!({ "amount": amount }).to_string()),
        &headers,
    )
}

/// Starts a flux-schnell generation of `n` images (5 credits each) billed to `ws`.
fn generate(stack: &Stack, user: &User, ws: &str, prompt: &str, n: u32) -> Reply {
    stack.json(
        "POST",
        "/v1/generations",
        Some(&user.token),
        &json!({"kind": "image", "model": "flux-schnell", "prompt": prompt,
                "params": {"num_outputs": n}, "workspace_id": ws}),
    )
}

fn credits(stack: &Stack, user: &User, ws: &str) -> Reply {
    stack.get(&format!("/v1/workspaces/{ws}/credits"), Some(&user.token))
}

/// The ids of the workspace's generations `user` is shown.
fn listed(stack: &Stack, user: &User, ws: &str) -> Reply {
    stack.get(
        &format!("/v1/generations?workspace_id={ws}"),
        Some(&user.token),
    )
}

fn ids(items: &Value) -> HashSet<String> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {items}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

/// Polls the generation until its outputs are copied into our storage.
fn wait_stored(stack: &Stack, user: &User, id: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while stack
        .get(&format!("/v1/generations/{id}"), Some(&user.token))
        .body["outputs"]["storage"]
        != "stored"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{id} was never stored"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn uuid(s: &str) -> uuid::Uuid {
    uuid::Uuid::parse_str(s).unwrap()
}

#[test]
fn two_members_generate_into_one_workspace_and_the_removed_one_sees_nothing_more() {
    let stack = Stack::from_env();
    let (_, owner) = stack.funded_user("ws-owner", 100);
    let member = stack.new_user("ws-member");
    let viewer = stack.new_user("ws-viewer");
    let ws = create(&stack, &owner);

    // The owner moves 60 of their own credits in; a retry of the same key moves nothing.
    let r = fund(&stack, &owner, &ws, 60, Some("fund-1"));
    assert_eq!((r.status, &r.body["balance"]), (201, &json!(60)), "{r:?}");
    let r = fund(&stack, &owner, &ws, 60, Some("fund-1"));
    assert_eq!(
        (r.status, &r.body["created"]),
        (200, &json!(false)),
        "{r:?}"
    );
    assert_eq!(stack.credits(&owner)["balance"], 40);

    join(&stack, &owner, &ws, &member, "member");
    join(&stack, &owner, &ws, &viewer, "viewer");
    let r = stack.get(&format!("/v1/workspaces/{ws}"), Some(&member.token));
    assert_eq!(
        (r.status, &r.body["role"]),
        (200, &json!("member")),
        "{r:?}"
    );
    assert_eq!(r.body["members"].as_array().map(Vec::len), Some(3), "{r:?}");
    assert_eq!(
        r.body["members"][0]["user_id"],
        owner.id.to_string(),
        "owner first"
    );

    // Both generate into it; the member has no credits of their own and needs none.
    let mine = generate(&stack, &owner, &ws, "a harbour", 1);
    assert_eq!(mine.status, 202, "{mine:?}");
    let theirs = generate(&stack, &member, &ws, "a lighthouse", 2);
    assert_eq!(theirs.status, 202, "{theirs:?}");
    let mine = mine.body["generation"]["id"].as_str().unwrap().to_string();
    let theirs = theirs.body["generation"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(stack.wait_final(&owner, &mine)["credits_charged"], 5);
    assert_eq!(stack.wait_final(&member, &theirs)["credits_charged"], 10);
    assert_eq!(stack.credits(&member)["balance"], 0, "the workspace paid");
    let r = credits(&stack, &owner, &ws);
    assert_eq!(
        (&r.body["balance"], &r.body["held"], &r.body["available"]),
        (&json!(45), &json!(0), &json!(45)),
        "{r:?}"
    );

    // Every entry of a generation names the member who made it; the owner reads them all,
    // the member only their own.
    let makers = HashMap::from([(mine.clone(), owner.id), (theirs.clone(), member.id)]);
    let mut settled = HashSet::new();
    for e in r.body["items"].as_array().unwrap() {
        if let Some(g) = e["generation_id"].as_str() {
            assert_eq!(e["actor"], makers[g].to_string(), "{e}");
            if e["kind"] == "settle" {
                settled.insert(g.to_string());
            }
        }
    }
    assert_eq!(settled, makers.keys().cloned().collect::<HashSet<_>>());
    let own = credits(&stack, &member, &ws);
    assert_eq!(
        (own.status, &own.body["balance"]),
        (200, &json!(45)),
        "{own:?}"
    );
    let entries = own.body["items"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(
        entries.iter().all(|e| e["actor"] == member.id.to_string()),
        "{own:?}"
    );

    // Each sees the other's, the viewer both; the viewer may not spend.
    wait_stored(&stack, &owner, &mine);
    for user in [&owner, &member, &viewer] {
        let r = listed(&stack, user, &ws);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(ids(&r.body["items"]), makers.keys().cloned().collect());
        let r = stack.get(&format!("/v1/generations/{mine}"), Some(&user.token));
        assert_eq!(r.status, 200, "{r:?}");
        assert!(
            r.body["outputs"]["urls"]
                .as_array()
                .unwrap()
                .iter()
                .all(Value::is_string),
            "stored outputs are signed for every member: {r:?}"
        );
    }
    let r = stack.get(
        &format!("/v1/workspaces/{ws}/generations/counts"),
        Some(&viewer.token),
    );
    assert_eq!(
        r.body,
        json!({"all": 2, "processing": 0, "favorites": 0, "failed": 0})
    );
    let r = generate(&stack, &viewer, &ws, "a viewer's try", 1);
    assert_eq!((r.status, r.error_code()), (403, "forbidden"), "{r:?}");
    assert_eq!(fund(&stack, &viewer, &ws, 1, Some("v")).status, 403);
    assert_eq!(invite(&stack, &viewer, &ws, json!({})).status, 403);
    let r = credits(&stack, &viewer, &ws);
    assert_eq!((r.status, &r.body["items"]), (200, &json!([])), "{r:?}");

    // Removed, the member reaches nothing of the workspace's at once.
    let r = stack.send(
        "DELETE",
        &format!("/v1/workspaces/{ws}/members/{}", member.id),
        Some(&owner.token),
        None,
        &[],
    );
    assert_eq!(r.status, 204, "{r:?}");
    for path in [
        format!("/v1/workspaces/{ws}"),
        format!("/v1/workspaces/{ws}/members"),
        format!("/v1/workspaces/{ws}/credits"),
        format!("/v1/workspaces/{ws}/generations/counts"),
        format!("/v1/generations?workspace_id={ws}"),
        format!("/v1/generations/{mine}"),
    ] {
        let r = stack.get(&path, Some(&member.token));
        assert_eq!(
            (r.status, r.error_code()),
            (404, "not_found"),
            "{path}: {r:?}"
        );
    }
    let r = stack.get("/v1/workspaces", Some(&member.token));
    assert_eq!(r.body["items"], json!([]), "{r:?}");
    let r = generate(&stack, &member, &ws, "after removal", 1);
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(fund(&stack, &member, &ws, 1, Some("m")).status, 404);
    // What they made stays in the workspace for the others.
    assert_eq!(
        ids(&listed(&stack, &owner, &ws).body["items"]),
        makers.keys().cloned().collect()
    );
    assert_eq!(credits(&stack, &owner, &ws).body["balance"], 45);
    assert_eq!(stack.audit(), json!([]));
}

#[test]
fn invitations_are_refused_once_used_expired_or_revoked() {
    let stack = Stack::from_env();
    let owner = stack.new_user("inv-owner");
    let (b, c, d, e) = (
        stack.new_user("inv-b"),
        stack.new_user("inv-c"),
        stack.new_user("inv-d"),
        stack.new_user("inv-e"),
    );
    let ws = create(&stack, &owner);

    // Single use: the second user to accept finds it used.
    let once = token(&stack, &owner, &ws, json!({}));
    assert_eq!(accept(&stack, &b, &once).body["joined"], true);
    let r = accept(&stack, &c, &once);
    assert_eq!((r.status, r.error_code()), (410, "gone"), "{r:?}");
    let r = accept(&stack, &b, &once);
    assert_eq!(
        (r.status, &r.body["joined"]),
        (200, &json!(false)),
        "a member accepting again uses nothing up: {r:?}"
    );

    // Expired.
    let r = invite(&stack, &owner, &ws, json!({"expires_in_hours": 1}));
    let expired = r.body["token"].as_str().unwrap().to_string();
    stack
        .db()
        .execute(
            "update public.invitations set expires_at = now() - interval '1 second' where id = $1",
            &[&uuid(r.body["id"].as_str().unwrap())],
        )
        .unwrap();
    let r = accept(&stack, &c, &expired);
    assert_eq!((r.status, r.error_code()), (410, "gone"), "{r:?}");

    // Revoked.
    let r = invite(&stack, &owner, &ws, json!({"max_uses": 5}));
    let revoked = r.body["token"].as_str().unwrap().to_string();
    let path = format!(
        "/v1/workspaces/{ws}/invitations/{}",
        r.body["id"].as_str().unwrap()
    );
    let r = stack.send("DELETE", &path, Some(&owner.token), None, &[]);
    assert_eq!(
        (r.status, &r.body["status"]),
        (200, &json!("revoked")),
        "{r:?}"
    );
    assert_eq!(accept(&stack, &c, &revoked).status, 410);

    // For one email only.
    let r = invite(&stack, &owner, &ws, json!({"email": d.email}));
    let for_d = r.body["token"].as_str().unwrap().to_string();
    let r = accept(&stack, &c, &for_d);
    assert_eq!((r.status, r.error_code()), (403, "forbidden"), "{r:?}");
    assert_eq!(accept(&stack, &d, &for_d).status, 200);

    // Two uses: two join, the third is refused.
    let twice = token(
        &stack,
        &owner,
        &ws,
        json!({"max_uses": 2, "role": "viewer"}),
    );
    assert_eq!(accept(&stack, &c, &twice).status, 200);
    assert_eq!(accept(&stack, &e, &twice).status, 200);
    let late = stack.new_user("inv-late");
    assert_eq!(accept(&stack, &late, &twice).status, 410);
    assert_eq!(
        stack
            .get(&format!("/v1/workspaces/{ws}"), Some(&late.token))
            .status,
        404
    );
    let r = accept(&stack, &late, &"f".repeat(64));
    assert_eq!((r.status, r.error_code()), (404, "not_found"), "{r:?}");

    // The list shows each one's state and never a token again.
    let r = stack.get(
        &format!("/v1/workspaces/{ws}/invitations"),
        Some(&owner.token),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let states: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["used", "used", "revoked", "expired", "used"],
        "{r:?}"
    );
    assert!(!r.body.to_string().contains(&once), "{r:?}");
    let members = stack.get(&format!("/v1/workspaces/{ws}/members"), Some(&owner.token));
    assert_eq!(
        members.body["items"].as_array().map(Vec::len),
        Some(5),
        "{members:?}"
    );
}

#[test]
fn there_is_always_exactly_one_owner() {
    let stack = Stack::from_env();
    let (_, owner) = stack.funded_user("own-a", 50);
    let (admin, member) = (stack.new_user("own-b"), stack.new_user("own-c"));
    let ws = create(&stack, &owner);
    join(&stack, &owner, &ws, &admin, "admin");
    join(&stack, &owner, &ws, &member, "member");
    let leave = |user: &User| {
        stack.send(
            "POST",
            &format!("/v1/workspaces/{ws}/leave"),
            Some(&user.token),
            None,
            &[],
        )
    };
    let transfer = |by: &User, to: &User| {
        stack.json(
            "POST",
            &format!("/v1/workspaces/{ws}/transfer"),
            Some(&by.token),
            &json!({"user_id": to.id}),
        )
    };

    let r = leave(&owner);
    assert_eq!((r.status, r.error_code()), (409, "conflict"), "{r:?}");
    let r = stack.send(
        "DELETE",
        &format!("/v1/workspaces/{ws}/members/{}", owner.id),
        Some(&admin.token),
        None,
        &[],
    );
    assert_eq!(r.status, 409, "nobody removes the owner: {r:?}");
    assert_eq!(
        transfer(&admin, &member).status,
        403,
        "only the owner transfers"
    );
    // Only the owner invites admins; admins rename; members do not.
    assert_eq!(
        invite(&stack, &admin, &ws, json!({"role": "admin"})).status,
        403
    );
    assert_eq!(
        invite(&stack, &admin, &ws, json!({"role": "member"})).status,
        201
    );
    let rename = |user: &User| {
        stack.json(
            "PATCH",
            &format!("/v1/workspaces/{ws}"),
            Some(&user.token),
            &json!({"name": "Renamed"}),
        )
    };
    assert_eq!(rename(&member).status, 403);
    let r = rename(&admin);
    assert_eq!(
        (r.status, &r.body["name"]),
        (200, &json!("Renamed")),
        "{r:?}"
    );
    let r = stack.json(
        "PATCH",
        &format!("/v1/workspaces/{ws}/members/{}", member.id),
        Some(&admin.token),
        &json!({"role": "viewer"}),
    );
    assert_eq!(
        (r.status, &r.body["role"]),
        (200, &json!("viewer")),
        "{r:?}"
    );

    let r = transfer(&owner, &admin);
    assert_eq!(r.status, 200, "{r:?}");
    let roles: HashMap<String, String> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user_id"].as_str().unwrap().into(),
                m["role"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(roles[&admin.id.to_string()], "owner");
    assert_eq!(roles[&owner.id.to_string()], "admin");
    assert_eq!(roles.values().filter(|r| *r == "owner").count(), 1);
    // The former owner may leave now; the new one may not.
    assert_eq!(leave(&owner).status, 204);
    assert_eq!(
        stack
            .get(&format!("/v1/workspaces/{ws}"), Some(&owner.token))
            .status,
        404
    );
    assert_eq!(leave(&admin).status, 409);
    assert_eq!(leave(&member).status, 204);

    // Deleting is the owner's; what is left of the balance goes back to them.
    let (_, funder) = stack.funded_user("own-d", 30);
    let ws = create(&stack, &funder);
    assert_eq!(fund(&stack, &funder, &ws, 30, Some("all")).status, 201);
    let pending = generate(&stack, &funder, &ws, "[never] a slow one", 1);
    assert_eq!(pending.status, 202, "{pending:?}");
    let delete = || {
        stack.send(
            "DELETE",
            &format!("/v1/workspaces/{ws}"),
            Some(&funder.token),
            None,
            &[],
        )
    };
    assert_eq!(delete().status, 409, "credits are held by work in progress");
    let id = pending.body["generation"]["id"].as_str().unwrap();
    let r = stack.send(
        "POST",
        &format!("/v1/generations/{id}/cancel"),
        Some(&funder.token),
        None,
        &[],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(delete().status, 204);
    assert_eq!(stack.credits(&funder)["balance"], 30);
    assert_eq!(
        stack
            .get(&format!("/v1/workspaces/{ws}"), Some(&funder.token))
            .status,
        404
    );
    assert_eq!(stack.audit(), json!([]));
}

#[test]
fn strangers_get_404_bad_requests_400_and_no_token_401() {
    let stack = Stack::from_env();
    let (_, owner) = stack.funded_user("strict-owner", 50);
    let (_, stranger) = stack.funded_user("strict-stranger", 50);
    let ws = create(&stack, &owner);
    let base = format!("/v1/workspaces/{ws}");
    let someone = owner.id.to_string();
    let invitation = invite(&stack, &owner, &ws, json!({})).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let everywhere: Vec<(&str, String, Value)> = vec![
        ("GET", base.clone(), Value::Null),
        ("PATCH", base.clone(), json!({"name": "mine now"})),
        ("DELETE", base.clone(), Value::Null),
        ("GET", format!("{base}/credits"), Value::Null),
        ("GET", format!("{base}/generations/counts"), Value::Null),
        ("GET", format!("{base}/members"), Value::Null),
        (
            "PATCH",
            format!("{base}/members/{someone}"),
            json!({"role": "viewer"}),
        ),
        ("DELETE", format!("{base}/members/{someone}"), Value::Null),
        ("POST", format!("{base}/leave"), Value::Null),
        (
            "POST",
            format!("{base}/transfer"),
            json!({"user_id": stranger.id}),
        ),
        ("POST", format!("{base}/invitations"), json!({})),
        ("GET", format!("{base}/invitations"), Value::Null),
        (
            "DELETE",
            format!("{base}/invitations/{invitation}"),
            Value::Null,
        ),
        (
            "GET",
            format!("/v1/generations?workspace_id={ws}"),
            Value::Null,
        ),
    ];
    for (method, path, body) in &everywhere {
        let r = match body {
            Value::Null => stack.send(method, path, Some(&stranger.token), None, &[]),
            body => stack.json(method, path, Some(&stranger.token), body),
        };
        assert_eq!(
            (r.status, r.error_code()),
            (404, "not_found"),
            "{method} {path}: {r:?}"
        );
    }
    assert_eq!(fund(&stack, &stranger, &ws, 10, Some("s")).status, 404);
    assert_eq!(generate(&stack, &stranger, &ws, "not mine", 1).status, 404);

    for (method, path, body) in [
        ("POST", "/v1/workspaces".to_string(), "{"),
        ("POST", "/v1/workspaces".to_string(), "{}"),
        ("POST", "/v1/workspaces".to_string(), r#"{"name": "  "}"#),
        (
            "POST",
            "/v1/workspaces".to_string(),
            r#"{"name": "x", "slug": "Not A Slug"}"#,
        ),
        (
            "POST",
            "/v1/workspaces".to_string(),
            r#"{"name": "x", "credits": 5}"#,
        ),
        ("PATCH", base.clone(), "{}"),
        ("PATCH", base.clone(), r#"{"created_by": "x"}"#),
        ("PATCH", base.clone(), r#"{"slug": "-"}"#),
        ("GET", "/v1/workspaces/not-a-uuid".to_string(), ""),
        ("GET", format!("{base}/credits?limit=0"), ""),
        (
            "POST",
            format!("{base}/invitations"),
            r#"{"role": "owner"}"#,
        ),
        ("POST", format!("{base}/invitations"), r#"{"max_uses": 0}"#),
        (
            "POST",
            format!("{base}/invitations"),
            r#"{"expires_in_hours": 100000}"#,
        ),
        (
            "POST",
            format!("{base}/invitations"),
            r#"{"email": "nobody"}"#,
        ),
        (
            "PATCH",
            format!("{base}/members/{someone}"),
            r#"{"role": "king"}"#,
        ),
        ("POST", format!("{base}/transfer"), r#"{"user_id": "me"}"#),
        (
            "POST",
            "/v1/invitations/accept".to_string(),
            r#"{"token": "short"}"#,
        ),
        ("POST", "/v1/invitations/accept".to_string(), "{}"),
        (
            "POST",
            "/v1/generations".to_string(),
            r#"{"kind": "image", "model": "flux-schnell", "prompt": "x", "workspace_id": "x"}"#,
        ),
        ("GET", "/v1/generations?workspace_id=x".to_string(), ""),
    ] {
        let body = (!body.is_empty()).then_some(body);
        let r = stack.send(
            method,
            &path,
            Some(&owner.token),
            body,
            &[("content-type", "application/json")],
        );
        assert_eq!(r.status, 400, "{method} {path} {body:?}: {r:?}");
        r.error_code();
    }
    for (amount, key) in [(0, Some("k")), (-5, Some("k")), (10, None)] {
        let r = fund(&stack, &owner, &ws, amount, key);
        assert_eq!(r.status, 400, "{amount} {key:?}: {r:?}");
    }
    let r = fund(&stack, &owner, &ws, 51, Some("too-much"));
    assert_eq!(
        (r.status, r.error_code()),
        (402, "insufficient_credits"),
        "{r:?}"
    );
    // Nothing moved, nothing changed.
    assert_eq!(stack.credits(&owner)["balance"], 50);
    let r = stack.get(&base, Some(&owner.token));
    assert_eq!(r.body["credits"]["balance"], 0, "{r:?}");
    assert!(
        r.body["name"].as_str().unwrap().starts_with("Team "),
        "{r:?}"
    );
    assert_eq!(r.body["members"].as_array().map(Vec::len), Some(1), "{r:?}");

    for (method, path) in [
        ("GET", "/v1/workspaces".to_string()),
        ("POST", "/v1/workspaces".to_string()),
        ("GET", base.clone()),
        ("GET", format!("{base}/members")),
        ("POST", format!("{base}/invitations")),
        ("POST", format!("{base}/credits/fund")),
        ("POST", "/v1/invitations/accept".to_string()),
    ] {
        let r = stack.send(
            method,
            &path,
            None,
            Some("{}"),
            &[("content-type", "application/json")],
        );
        assert_eq!(r.status, 401, "{method} {path}: {r:?}");
        r.error_code();
    }
}

/// Members starting generations into one workspace at once until its credits run out: the
/// account lock serializes them, so exactly as many start as the balance pays for, every
/// other request is a 402, and the ledger stays consistent.
#[test]
fn members_drawing_on_one_workspace_at_once_never_overdraw_it() {
    const MEMBERS: usize = 8;
    const IMAGES: i64 = 30;
    let stack = Arc::new(Stack::from_env());
    let (_, owner) = stack.funded_user("drain-owner", IMAGES * 5);
    let ws = Arc::new(create(&stack, &owner));
    assert_eq!(
        fund(&stack, &owner, &ws, IMAGES * 5, Some("all")).status,
        201
    );
    let link = token(&stack, &owner, &ws, json!({"max_uses": MEMBERS}));
    let mut members = vec![owner];
    for i in 1..MEMBERS {
        let user = stack.new_user(&format!("drain-{i}"));
        assert_eq!(accept(&stack, &user, &link).status, 200);
        members.push(user);
    }
    let members = Arc::new(members);

    let threads: Vec<_> = (0..MEMBERS)
        .map(|m| {
            let (stack, ws, members) = (stack.clone(), ws.clone(), members.clone());
            std::thread::spawn(move || {
                let me = &members[m];
                let (mut started, mut refused) = (Vec::new(), 0);
                while refused < 3 {
                    let r = generate(&stack, me, &ws, &format!("drain {m}"), 1);
                    match r.status {
                        202 => {
                            started.push(r.body["generation"]["id"].as_str().unwrap().to_string())
                        }
                        402 => {
                            assert_eq!(r.error_code(), "insufficient_credits");
                            refused += 1;
                        }
                        _ => panic!("a start answered {r:?}"),
                    }
                }
                started
            })
        })
        .collect();
    let started: Vec<Vec<String>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        started.iter().map(Vec::len).sum::<usize>() as i64,
        IMAGES,
        "exactly what the balance pays for"
    );
    for (m, ids) in started.iter().enumerate() {
        for id in ids {
            assert_eq!(stack.wait_final(&members[m], id)["status"], "succeeded");
        }
    }
    let r = credits(&stack, &members[0], &ws);
    assert_eq!(
        (&r.body["balance"], &r.body["held"]),
        (&json!(0), &json!(0)),
        "{r:?}"
    );
    // Each member's charges are on the workspace's ledger under their name.
    let rows = stack
        .db()
        .query(
            "select e.actor, count(*) from public.credit_ledger e
             join public.credit_accounts a on a.id = e.account_id
             where a.workspace_id = $1 and e.kind = 'settle' group by e.actor",
            &[&uuid(&ws)],
        )
        .unwrap();
    let settled: HashMap<uuid::Uuid, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    for (m, ids) in started.iter().enumerate() {
        let n = settled.get(&members[m].id).copied().unwrap_or(0);
        assert_eq!(n, ids.len() as i64, "member {m}");
    }
    assert_eq!(stack.audit(), json!([]));
}
