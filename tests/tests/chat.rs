//! The chat CRUD end to end through workerd: conversations created, listed (pinned first,
//! searched by title, paged), read, patched, deleted (one and bulk); the messages of a new
//! conversation; memories and their toggle; prompt templates, a private one invisible to a
//! stranger; and a stranger refused another user's conversation by every path. Replies
//! (streamed messages) are tested with the reply endpoints.

use genbase_tests::{Reply, Stack, User};
use serde_json::{json, Value};

const MODEL: &str = "gpt-4o-mini";

fn create(stack: &Stack, user: &User, body: Value) -> Value {
    let r = stack.json("POST", "/v1/conversations", Some(&user.token), &body);
    assert_eq!(r.status, 201, "{r:?}");
    r.body
}

fn delete(stack: &Stack, path: &str, user: &User) -> Reply {
    stack.send("DELETE", path, Some(&user.token), None, &[])
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn conversations_are_created_listed_pinned_first_searched_patched_and_deleted() {
    let stack = Stack::from_env();
    let user = stack.new_user("chat-crud");
    let fox = create(
        &stack,
        &user,
        json!({"model": MODEL, "title": " The red fox "}),
    );
    assert_eq!(fox["title"], "The red fox");
    assert_eq!(fox["model"], MODEL);
    assert_eq!(fox["kind"], "chat");
    assert_eq!(fox["pinned"], false);
    let owl = create(
        &stack,
        &user,
        json!({"model": MODEL, "title": "An owl at night"}),
    );
    let untitled = create(&stack, &user, json!({}));
    assert!(untitled["model"].is_string(), "a default model: {untitled}");
    let fox_id = fox["id"].as_str().unwrap();
    let owl_id = owl["id"].as_str().unwrap();
    let untitled_id = untitled["id"].as_str().unwrap();

    // Pinning the oldest puts it first.
    let r = stack.json(
        "PATCH",
        &format!("/v1/conversations/{fox_id}"),
        Some(&user.token),
        &json!({"pinned": true, "title": "The red fox, pinned"}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        (r.body["pinned"].clone(), r.body["title"].clone()),
        (json!(true), json!("The red fox, pinned"))
    );
    let r = stack.get("/v1/conversations", Some(&user.token));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(ids(&r.body), [fox_id, untitled_id, owl_id]);
    assert_eq!(r.body["next_cursor"], Value::Null);

    // Pages of one follow each other without gaps or repeats.
    let mut seen = Vec::new();
    let mut path = "/v1/conversations?limit=1".to_string();
    loop {
        let r = stack.get(&path, Some(&user.token));
        assert_eq!(r.status, 200, "{r:?}");
        seen.extend(ids(&r.body));
        match r.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/conversations?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, [fox_id, untitled_id, owl_id]);

    let r = stack.get("/v1/conversations?q=owl", Some(&user.token));
    assert_eq!(ids(&r.body), [owl_id], "{r:?}");

    let r = stack.get(&format!("/v1/conversations/{owl_id}"), Some(&user.token));
    assert_eq!(
        (r.status, r.body["title"].clone()),
        (200, json!("An owl at night")),
        "{r:?}"
    );

    // A new conversation has no messages yet.
    let r = stack.get(
        &format!("/v1/conversations/{owl_id}/messages"),
        Some(&user.token),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, json!({"items": [], "next_cursor": null}));

    // Archived ones leave the default list and appear under archived=true.
    let r = stack.json(
        "PATCH",
        &format!("/v1/conversations/{untitled_id}"),
        Some(&user.token),
        &json!({"archived": true}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = stack.get("/v1/conversations", Some(&user.token));
    assert_eq!(ids(&r.body), [fox_id, owl_id]);
    let r = stack.get("/v1/conversations?archived=true", Some(&user.token));
    assert_eq!(ids(&r.body), [untitled_id]);

    // A patch with a field the owner may not change is a 400 and changes nothing.
    let r = stack.json(
        "PATCH",
        &format!("/v1/conversations/{owl_id}"),
        Some(&user.token),
        &json!({"credits": 0}),
    );
    assert_eq!(r.status, 400, "{r:?}");
    r.error_code();

    let r = delete(&stack, &format!("/v1/conversations/{owl_id}"), &user);
    assert_eq!(r.status, 204, "{r:?}");
    let r = stack.get(&format!("/v1/conversations/{owl_id}"), Some(&user.token));
    assert_eq!(r.status, 404, "{r:?}");
    let r = delete(&stack, &format!("/v1/conversations/{owl_id}"), &user);
    assert_eq!(r.status, 404, "{r:?}");

    let r = stack.json(
        "POST",
        "/v1/conversations/delete",
        Some(&user.token),
        &json!({"ids": [fox_id, owl_id]}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, json!({"deleted": [fox_id], "not_found": [owl_id]}));
    let r = stack.get("/v1/conversations?archived=all", Some(&user.token));
    assert_eq!(ids(&r.body), [untitled_id]);
}

#[test]
fn a_stranger_cannot_reach_another_users_conversation_by_any_path() {
    let stack = Stack::from_env();
    let owner = stack.new_user("chat-owner");
    let stranger = stack.new_user("chat-stranger");
    let c = create(&stack, &owner, json!({"model": MODEL, "title": "Private"}));
    let id = c["id"].as_str().unwrap();
    let path = format!("/v1/conversations/{id}");

    let r = stack.get(&path, Some(&stranger.token));
    assert_eq!((r.status, r.error_code()), (404, "not_found"), "{r:?}");
    let r = stack.get(&format!("{path}/messages"), Some(&stranger.token));
    assert_eq!(r.status, 404, "{r:?}");
    let r = stack.json(
        "PATCH",
        &path,
        Some(&stranger.token),
        &json!({"title": "Mine"}),
    );
    assert_eq!(r.status, 404, "{r:?}");
    let r = delete(&stack, &path, &stranger);
    assert_eq!(r.status, 404, "{r:?}");
    let r = stack.get("/v1/conversations?q=Private", Some(&stranger.token));
    assert_eq!(ids(&r.body), Vec::<String>::new());

    // Untouched for its owner.
    let r = stack.get(&path, Some(&owner.token));
    assert_eq!(
        (r.status, r.body["title"].clone()),
        (200, json!("Private")),
        "{r:?}"
    );
    let r = stack.get(&path, None);
    assert_eq!(r.status, 401, "{r:?}");
}

#[test]
fn memories_are_saved_toggled_filtered_and_deleted() {
    let stack = Stack::from_env();
    let user = stack.new_user("chat-memories");
    let stranger = stack.new_user("chat-memories-stranger");
    let r = stack.json(
        "POST",
        "/v1/memories",
        Some(&user.token),
        &json!({"content": " Likes foxes "}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        (r.body["content"].clone(), r.body["active"].clone()),
        (json!("Likes foxes"), json!(true))
    );
    let id = r.body["id"].as_str().unwrap().to_string();

    let r = stack.json(
        "PATCH",
        &format!("/v1/memories/{id}"),
        Some(&user.token),
        &json!({"active": false}),
    );
    assert_eq!(
        (r.status, r.body["active"].clone()),
        (200, json!(false)),
        "{r:?}"
    );
    let r = stack.get("/v1/memories?active=true", Some(&user.token));
    assert_eq!(ids(&r.body), Vec::<String>::new(), "{r:?}");
    let r = stack.get("/v1/memories?active=false", Some(&user.token));
    assert_eq!(ids(&r.body), [id.as_str()], "{r:?}");

    let r = stack.get("/v1/memories", Some(&stranger.token));
    assert_eq!(ids(&r.body), Vec::<String>::new(), "{r:?}");
    let r = stack.json(
        "PATCH",
        &format!("/v1/memories/{id}"),
        Some(&stranger.token),
        &json!({"active": true}),
    );
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(
        delete(&stack, &format!("/v1/memories/{id}"), &stranger).status,
        404
    );

    let r = stack.get("/v1/memories?active=maybe", Some(&user.token));
    assert_eq!(
        (r.status, r.error_code()),
        (400, "validation_failed"),
        "{r:?}"
    );

    assert_eq!(
        delete(&stack, &format!("/v1/memories/{id}"), &user).status,
        204
    );
    let r = stack.get("/v1/memories", Some(&user.token));
    assert_eq!(ids(&r.body), Vec::<String>::new(), "{r:?}");
}

#[test]
fn a_private_template_is_its_owners_and_a_public_one_everyones() {
    let stack = Stack::from_env();
    let owner = stack.new_user("chat-templates");
    let stranger = stack.new_user("chat-templates-stranger");
    let admin = stack.new_user("chat-templates-admin");
    stack.make_admin(&admin);
    // A category of this test's own, so templates other tests write do not show.
    let category = format!("cat-{}", owner.id);

    let r = stack.json(
        "POST",
        "/v1/prompt-templates",
        Some(&owner.token),
        &json!({"name": "Mine", "content": "You are terse.", "category": category}),
    );
    assert_eq!(
        (r.status, r.body["public"].clone()),
        (201, json!(false)),
        "{r:?}"
    );
    let private = r.body["id"].as_str().unwrap().to_string();

    let public_body =
        json!({"name": "Shared", "content": "You are kind.", "category": category, "public": true});
    let r = stack.json(
        "POST",
        "/v1/prompt-templates",
        Some(&owner.token),
        &public_body,
    );
    assert_eq!(r.status, 403, "only admins write public templates: {r:?}");
    let r = stack.json(
        "POST",
        "/v1/prompt-templates",
        Some(&admin.token),
        &public_body,
    );
    assert_eq!(
        (r.status, r.body["public"].clone()),
        (201, json!(true)),
        "{r:?}"
    );
    let public = r.body["id"].as_str().unwrap().to_string();

    let list = format!("/v1/prompt-templates?category={category}");
    let r = stack.get(&list, Some(&owner.token));
    assert_eq!(ids(&r.body), [private.as_str(), public.as_str()], "{r:?}");
    let r = stack.get(&list, Some(&stranger.token));
    assert_eq!(ids(&r.body), [public.as_str()], "{r:?}");

    // A stranger can neither change it nor start a conversation from it.
    let r = stack.json(
        "PATCH",
        &format!("/v1/prompt-templates/{private}"),
        Some(&stranger.token),
        &json!({"name": "Theirs"}),
    );
    assert_eq!(r.status, 404, "{r:?}");
    let r = stack.json(
        "POST",
        "/v1/conversations",
        Some(&stranger.token),
        &json!({"model": MODEL, "template_id": private}),
    );
    assert_eq!(r.status, 404, "{r:?}");

    // Its owner starts one: the template becomes the system prompt.
    let c = create(
        &stack,
        &owner,
        json!({"model": MODEL, "template_id": private}),
    );
    assert_eq!(c["settings"]["system_prompt"], "You are terse.", "{c}");

    let r = stack.json(
        "PATCH",
        &format!("/v1/prompt-templates/{private}"),
        Some(&owner.token),
        &json!({"description": "Short answers"}),
    );
    assert_eq!(
        (r.status, r.body["description"].clone()),
        (200, json!("Short answers")),
        "{r:?}"
    );
    assert_eq!(
        delete(&stack, &format!("/v1/prompt-templates/{public}"), &owner).status,
        403
    );
    assert_eq!(
        delete(
            &stack,
            &format!("/v1/prompt-templates/{private}"),
            &stranger
        )
        .status,
        404
    );
    assert_eq!(
        delete(&stack, &format!("/v1/prompt-templates/{private}"), &owner).status,
        204
    );
    assert_eq!(
        delete(&stack, &format!("/v1/prompt-templates/{public}"), &admin).status,
        204
    );
    let r = stack.get(&list, Some(&owner.token));
    assert_eq!(ids(&r.body), Vec::<String>::new(), "{r:?}");
}
