//! Notifications end to end through workerd: a generation that succeeds and one that fails,
//! the debit that takes the balance below the low-credits threshold and an invitation for
//! the user's email each leave one notification, which the user lists (newest first, the
//! unread ones, page by page), counts and marks read one by one or all at once; a stranger
//! sees, counts and marks none of them; bad input is a 400 and no token a 401.

use genbase_tests::{Reply, Stack, User};
use serde_json::{json, Value};

fn image(prompt: &str) -> Value {
    json!({"kind": "image", "model": "flux-schnell", "prompt": prompt, "params": {"num_outputs": 1}})
}

fn list(stack: &Stack, user: &User, query: &str) -> Reply {
    let r = stack.get(&format!("/v1/notifications{query}"), Some(&user.token));
    assert_eq!(r.status, 200, "{r:?}");
    r
}

fn unread(stack: &Stack, user: &User) -> i64 {
    let r = stack.get("/v1/notifications/unread-count", Some(&user.token));
    assert_eq!(r.status, 200, "{r:?}");
    r.body["unread"].as_i64().unwrap()
}

fn of_type<'a>(items: &'a Value, kind: &str) -> Vec<&'a Value> {
    items
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] == kind)
        .collect()
}

#[test]
fn what_a_user_waits_for_notifies_them_and_only_them() {
    let stack = Stack::from_env();
    // 103 credits: the first 5-credit image takes the balance below the threshold of 100.
    let (_, user) = stack.funded_user("notes", 103);
    let ok = stack.start_generation(&user, &image("a lighthouse at dawn"));
    let bad = stack.start_generation(&user, &image("[fail] a broken lighthouse"));
    assert_eq!(stack.wait_final(&user, &ok)["status"], "succeeded");
    assert_eq!(stack.wait_final(&user, &bad)["status"], "failed");

    // Another user invites this one's email to a workspace (and makes a link for nobody).
    let inviter = stack.new_user("notes-inviter");
    let ws = stack.json(
        "POST",
        "/v1/workspaces",
        Some(&inviter.token),
        &json!({"name": format!("Notes {}", uuid::Uuid::new_v4().simple())}),
    );
    assert_eq!(ws.status, 201, "{ws:?}");
    let ws = ws.body["id"].as_str().unwrap().to_string();
    for body in [
        json!({"role": "viewer", "email": user.email.to_uppercase()}),
        json!({"role": "member"}),
    ] {
        let r = stack.json(
            "POST",
            &format!("/v1/workspaces/{ws}/invitations"),
            Some(&inviter.token),
            &body,
        );
        assert_eq!(r.status, 201, "{r:?}");
    }

    let all = list(&stack, &user, "").body["items"].clone();
    assert_eq!(all.as_array().unwrap().len(), 4, "{all}");
    let succeeded = of_type(&all, "generation_succeeded");
    assert_eq!(succeeded.len(), 1, "{all}");
    assert_eq!(succeeded[0]["data"]["generation_id"], ok.as_str());
    assert_eq!(succeeded[0]["title"], "Your image is ready");
    let failed = of_type(&all, "generation_failed");
    assert_eq!(failed.len(), 1, "{all}");
    assert_eq!(failed[0]["data"]["generation_id"], bad.as_str());
    let low = of_type(&all, "credits_low");
    assert_eq!(low.len(), 1, "{all}");
    assert_eq!(low[0]["data"]["balance"], 98, "{all}");
    let invited = of_type(&all, "invitation");
    assert_eq!(invited.len(), 1, "{all}");
    assert_eq!(invited[0]["data"]["resource_id"], ws.as_str());
    assert_eq!(invited[0]["data"]["role"], "viewer");
    assert!(all.as_array().unwrap().iter().all(|n| n["read"] == false));
    // The inviter hears of nothing they did themselves.
    assert_eq!(list(&stack, &inviter, "").body["items"], json!([]));

    // Newest first, two pages of unread ones.
    let stamps: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["created_at"].as_str().unwrap())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] >= w[1]), "{stamps:?}");
    assert_eq!(unread(&stack, &user), 4);
    let first = list(&stack, &user, "?unread=true&limit=3");
    assert_eq!(first.body["items"].as_array().unwrap().len(), 3);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    let second = list(
        &stack,
        &user,
        &format!("?unread=true&limit=3&cursor={cursor}"),
    );
    assert_eq!(second.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(second.body["next_cursor"], Value::Null);

    // A stranger sees, counts and marks none of them.
    let stranger = stack.new_user("notes-stranger");
    let target = all[0]["id"].as_str().unwrap().to_string();
    assert_eq!(list(&stack, &stranger, "").body["items"], json!([]));
    assert_eq!(unread(&stack, &stranger), 0);
    let r = stack.send(
        "POST",
        &format!("/v1/notifications/{target}/read"),
        Some(&stranger.token),
        None,
        &[],
    );
    assert_eq!((r.status, r.error_code()), (404, "not_found"), "{r:?}");
    let r = stack.send(
        "POST",
        "/v1/notifications/read-all",
        Some(&stranger.token),
        None,
        &[],
    );
    assert_eq!((r.status, &r.body), (200, &json!({"updated": 0})), "{r:?}");
    assert_eq!(unread(&stack, &user), 4);

    // The user marks one read, then the rest.
    let r = stack.send(
        "POST",
        &format!("/v1/notifications/{target}/read"),
        Some(&user.token),
        None,
        &[],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        (&r.body["id"], &r.body["read"]),
        (&json!(target), &json!(true))
    );
    assert_eq!(unread(&stack, &user), 3);
    let left = list(&stack, &user, "?unread=true").body["items"].clone();
    assert!(left
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["id"] != target.as_str()));
    let r = stack.send(
        "POST",
        "/v1/notifications/read-all",
        Some(&user.token),
        None,
        &[],
    );
    assert_eq!((r.status, &r.body), (200, &json!({"updated": 3})), "{r:?}");
    assert_eq!(unread(&stack, &user), 0);
    assert_eq!(list(&stack, &user, "?unread=true").body["items"], json!([]));
    assert_eq!(
        list(&stack, &user, "").body["items"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn bad_requests_are_400_and_no_token_is_401() {
    let stack = Stack::from_env();
    let user = stack.new_user("notes-bad");
    for (method, path) in [
        ("GET", "/v1/notifications?unread=yes"),
        ("GET", "/v1/notifications?limit=1000"),
        ("GET", "/v1/notifications?cursor=nonsense"),
        ("POST", "/v1/notifications/not-a-uuid/read"),
    ] {
        let r = stack.send(method, path, Some(&user.token), None, &[]);
        assert_eq!(
            (r.status, r.error_code()),
            (400, "validation_failed"),
            "{path}: {r:?}"
        );
    }
    let r = stack.send(
        "POST",
        &format!("/v1/notifications/{}/read", uuid::Uuid::new_v4()),
        Some(&user.token),
        None,
        &[],
    );
    assert_eq!(r.status, 404, "{r:?}");
    for path in ["/v1/notifications", "/v1/notifications/unread-count"] {
        let r = stack.get(path, None);
        assert_eq!(r.status, 401, "{r:?}");
        r.error_code();
    }
}
