//! Ideas and support tickets end to end through workerd.
//!
//! Ideas: 100 users vote on one idea at once, 20 of them twice at the same moment, and the
//! count ends at exactly 100; then 30 take their vote back at once, 10 of them twice, and it
//! ends at exactly 70, equal to the vote rows. Authors edit while open; a stranger cannot;
//! only a moderator moves the status, the author is notified, and votes close with the idea.
//! Tickets: a user opens and follows theirs; a stranger sees and writes nothing of it; a
//! moderator lists every ticket, answers (the owner is notified) and closes; a closed ticket
//! takes no message.

use genbase_tests::{Reply, Stack, User};
use serde_json::{json, Value};
use std::sync::Barrier;

const VOTERS: usize = 100;
const DOUBLE_VOTERS: usize = 20;
const UNVOTERS: usize = 30;
const DOUBLE_UNVOTERS: usize = 10;

fn make_moderator(stack: &Stack, user: &User) {
    stack
        .db()
        .execute(
            "update public.profiles set role = 'moderator' where id = $1",
            &[&user.id],
        )
        .expect("promote");
}

fn post(stack: &Stack, user: &User, path: &str, body: &Value) -> Reply {
    stack.json("POST", path, Some(&user.token), body)
}

fn send(stack: &Stack, user: &User, method: &str, path: &str) -> Reply {
    stack.send(method, path, Some(&user.token), None, &[])
}

/// `method` on `/v1/ideas/:id/vote` by each of `users` (their index), every request released
/// at the same moment; each answer's status and body.
fn all_at_once(stack: &Stack, users: &[&User], method: &str, idea: &str) -> Vec<(u16, Value)> {
    let barrier = Barrier::new(users.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = users
            .iter()
            .map(|user| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let r = send(stack, user, method, &format!("/v1/ideas/{idea}/vote"));
                    (r.status, r.body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// The idea's vote_count and its vote rows, read from the database.
fn counted(stack: &Stack, idea: &str) -> (i64, i64) {
    let id: uuid::Uuid = idea.parse().unwrap();
    let row = stack
        .db()
        .query_one(
            "select i.vote_count::bigint, (select count(*) from public.idea_votes v where v.idea_id = i.id)
             from public.ideas i where i.id = $1",
            &[&id],
        )
        .expect("idea");
    (row.get(0), row.get(1))
}

#[test]
fn a_hundred_concurrent_votes_end_with_the_exact_count() {
    let stack = Stack::from_env();
    let author = stack.new_user("idea-author");
    let r = post(
        &stack,
        &author,
        "/v1/ideas",
        &json!({"title": "Batch export"}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let idea = r.body["id"].as_str().unwrap().to_string();
    let voters: Vec<User> = (0..VOTERS)
        .map(|i| stack.new_user(&format!("voter{i}")))
        .collect();

    // Every voter once, the first DOUBLE_VOTERS twice, all released together.
    let mut wave: Vec<&User> = voters.iter().collect();
    wave.extend(voters.iter().take(DOUBLE_VOTERS));
    for (status, body) in all_at_once(&stack, &wave, "POST", &idea) {
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (&body["idea_id"], &body["voted"]),
            (&json!(idea), &json!(true))
        );
        let seen = body["vote_count"].as_i64().unwrap();
        assert!((1..=VOTERS as i64).contains(&seen), "{body}");
    }
    assert_eq!(counted(&stack, &idea), (VOTERS as i64, VOTERS as i64));
    let r = send(&stack, &author, "GET", &format!("/v1/ideas/{idea}"));
    assert_eq!(
        (r.status, &r.body["vote_count"]),
        (200, &json!(VOTERS)),
        "{r:?}"
    );

    // The last UNVOTERS take their vote back, the last DOUBLE_UNVOTERS twice, together.
    let mut wave: Vec<&User> = voters.iter().rev().take(UNVOTERS).collect();
    wave.extend(voters.iter().rev().take(DOUBLE_UNVOTERS));
    for (status, body) in all_at_once(&stack, &wave, "DELETE", &idea) {
        assert_eq!((status, &body["voted"]), (200, &json!(false)), "{body}");
    }
    let left = (VOTERS - UNVOTERS) as i64;
    assert_eq!(counted(&stack, &idea), (left, left));
    // Each voter's own view agrees with their fate.
    for (i, voter) in voters.iter().enumerate().step_by(9) {
        let r = send(&stack, voter, "GET", &format!("/v1/ideas/{idea}"));
        assert_eq!(
            r.body["voted"],
            json!(i < VOTERS - UNVOTERS),
            "voter {i}: {r:?}"
        );
    }
}

#[test]
fn authors_edit_open_ideas_and_only_staff_move_them() {
    let stack = Stack::from_env();
    let author = stack.new_user("idea-owner");
    let stranger = stack.new_user("idea-stranger");
    let moderator = stack.new_user("idea-moderator");
    make_moderator(&stack, &moderator);

    let r = post(
        &stack,
        &author,
        "/v1/ideas",
        &json!({"title": "  Keyboard shortcuts ", "description": "For power users"}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        (&r.body["title"], &r.body["status"], &r.body["vote_count"]),
        (&json!("Keyboard shortcuts"), &json!("open"), &json!(0))
    );
    let idea = r.body["id"].as_str().unwrap().to_string();
    let path = format!("/v1/ideas/{idea}");

    let r = stack.json(
        "PATCH",
        &path,
        Some(&author.token),
        &json!({"title": "Shortcuts"}),
    );
    assert_eq!(
        (r.status, &r.body["title"]),
        (200, &json!("Shortcuts")),
        "{r:?}"
    );
    let r = stack.json(
        "PATCH",
        &path,
        Some(&stranger.token),
        &json!({"title": "Mine"}),
    );
    assert_eq!((r.status, r.error_code()), (403, "forbidden"), "{r:?}");
    let r = post(
        &stack,
        &author,
        &format!("{path}/status"),
        &json!({"status": "done"}),
    );
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.body["error"]["message"], "moderator role required");

    let r = post(
        &stack,
        &moderator,
        &format!("{path}/status"),
        &json!({"status": "planned", "note": "Next release"}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        (&r.body["status"], &r.body["status_note"]),
        (&json!("planned"), &json!("Next release"))
    );
    let notes = send(&stack, &author, "GET", "/v1/notifications").body["items"].clone();
    assert_eq!(notes[0]["type"], "idea_status", "{notes}");
    assert_eq!(notes[0]["data"]["idea_id"], idea.as_str());

    let r = stack.json(
        "PATCH",
        &path,
        Some(&author.token),
        &json!({"title": "Later"}),
    );
    assert_eq!((r.status, r.error_code()), (409, "conflict"), "{r:?}");
    let r = send(&stack, &stranger, "POST", &format!("{path}/vote"));
    assert_eq!((r.status, &r.body["vote_count"]), (200, &json!(1)), "{r:?}");

    // Listed by status, most voted first.
    let other = post(&stack, &stranger, "/v1/ideas", &json!({"title": "Themes"}));
    assert_eq!(other.status, 201, "{other:?}");
    let r = send(
        &stack,
        &stranger,
        "GET",
        "/v1/ideas?sort=top&limit=1&status=planned",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["items"][0]["id"], idea.as_str());
    let r = send(&stack, &stranger, "GET", "/v1/ideas?sort=hot");
    assert_eq!(
        (r.status, r.error_code()),
        (400, "validation_failed"),
        "{r:?}"
    );

    let r = post(
        &stack,
        &moderator,
        &format!("{path}/status"),
        &json!({"status": "done"}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = send(&stack, &stranger, "DELETE", &format!("{path}/vote"));
    assert_eq!((r.status, r.error_code()), (409, "conflict"), "{r:?}");
    assert_eq!(counted(&stack, &idea), (1, 1));

    let r = send(
        &stack,
        &stranger,
        "POST",
        &format!("/v1/ideas/{}/vote", uuid::Uuid::new_v4()),
    );
    assert_eq!(r.status, 404, "{r:?}");
    let r = stack.json(
        "POST",
        "/v1/ideas",
        Some(&author.token),
        &json!({"title": ""}),
    );
    assert_eq!(
        (r.status, r.error_code()),
        (400, "validation_failed"),
        "{r:?}"
    );
    assert_eq!(stack.get("/v1/ideas", None).status, 401);
}

#[test]
fn users_follow_their_tickets_and_staff_answer_and_close_them() {
    let stack = Stack::from_env();
    let owner = stack.new_user("ticket-owner");
    let stranger = stack.new_user("ticket-stranger");
    let moderator = stack.new_user("ticket-moderator");
    make_moderator(&stack, &moderator);

    let r = post(
        &stack,
        &owner,
        "/v1/support",
        &json!({"subject": "Charged twice", "message": "My card shows two charges."}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        (&r.body["status"], &r.body["message_count"]),
        (&json!("open"), &json!(1))
    );
    let ticket = r.body["id"].as_str().unwrap().to_string();
    let path = format!("/v1/support/{ticket}");

    // A stranger learns nothing and writes nothing.
    assert_eq!(send(&stack, &stranger, "GET", &path).status, 404);
    let r = post(
        &stack,
        &stranger,
        &format!("{path}/messages"),
        &json!({"body": "me too"}),
    );
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(
        send(&stack, &stranger, "POST", &format!("{path}/close")).status,
        404
    );
    let listed = send(&stack, &stranger, "GET", "/v1/support").body["items"].clone();
    assert_eq!(listed, json!([]));

    // Staff see every ticket and answer.
    let listed = send(
        &stack,
        &moderator,
        "GET",
        "/v1/support?status=open&limit=100",
    );
    assert_eq!(listed.status, 200, "{listed:?}");
    assert!(listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == ticket.as_str()));
    assert_eq!(
        send(&stack, &moderator, "GET", "/v1/support?mine=true").body["items"],
        json!([])
    );
    let r = post(
        &stack,
        &moderator,
        &format!("{path}/messages"),
        &json!({"body": "Refunded."}),
    );
    assert_eq!(
        (r.status, &r.body["from_staff"]),
        (201, &json!(true)),
        "{r:?}"
    );
    let notes = send(&stack, &owner, "GET", "/v1/notifications?unread=true").body["items"].clone();
    assert_eq!(notes[0]["type"], "support_reply", "{notes}");
    assert_eq!(notes[0]["data"]["ticket_id"], ticket.as_str());

    // The owner follows the thread and answers back.
    let r = send(&stack, &owner, "GET", &path);
    assert_eq!(r.body["status"], "answered", "{r:?}");
    let bodies: Vec<&str> = r.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["My card shows two charges.", "Refunded."]);
    let r = post(
        &stack,
        &owner,
        &format!("{path}/messages"),
        &json!({"body": "Thanks!"}),
    );
    assert_eq!(
        (r.status, &r.body["from_staff"]),
        (201, &json!(false)),
        "{r:?}"
    );
    assert_eq!(send(&stack, &owner, "GET", &path).body["status"], "open");

    // Staff close it; nothing more is written to it.
    let r = send(&stack, &moderator, "POST", &format!("{path}/close"));
    assert_eq!(
        (r.status, &r.body["status"]),
        (200, &json!("closed")),
        "{r:?}"
    );
    let r = post(
        &stack,
        &owner,
        &format!("{path}/messages"),
        &json!({"body": "One more"}),
    );
    assert_eq!((r.status, r.error_code()), (409, "conflict"), "{r:?}");
    let r = send(&stack, &owner, "POST", &format!("{path}/close"));
    assert_eq!(
        (r.status, &r.body["status"]),
        (200, &json!("closed")),
        "{r:?}"
    );

    let r = post(
        &stack,
        &owner,
        "/v1/support",
        &json!({"subject": "No message"}),
    );
    assert_eq!(
        (r.status, r.error_code()),
        (400, "validation_failed"),
        "{r:?}"
    );
    let r = post(
        &stack,
        &owner,
        "/v1/support",
        &json!({"subject": " ", "message": "x"}),
    );
    assert_eq!(
        (r.status, r.error_code()),
        (400, "validation_failed"),
        "{r:?}"
    );
    assert_eq!(stack.get("/v1/support", None).status, 401);
}
