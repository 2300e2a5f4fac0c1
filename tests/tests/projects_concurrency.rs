//! Eight editors at once on one project, through the real WASM and Postgres: each is its own
//! user with the member role, and each moves shots at random while, in rounds, all eight
//! save one component over the same version.
//!
//! Checked: every move is answered 200 with the position it asked for and its own
//! `order_version` (no two share one); replaying the moves in that serial order from the
//! starting order gives exactly the order the project ends with, whose positions are 0..n-1
//! with every shot once (no move lost, no duplicate position); in each round exactly one save
//! wins and the seven others are 409s naming the winner's version, and the component holds
//! the winner's change.

use genbase_shared::testing::Gen;
use genbase_tests::{Stack, User};
use serde_json::{json, Value};
use std::sync::{Barrier, Mutex};

const EDITORS: usize = 8;
const SHOTS: usize = 12;
const ROUNDS: usize = 4;
const MOVES_PER_ROUND: usize = 6;

/// One move request and its answer.
struct Move {
    shot: String,
    position: usize,
    status: u16,
    body: Value,
}

fn share(stack: &Stack, owner: &User, project: &str, user: &User) {
    let rpc = stack.rpc_client();
    let r = rpc.call(
        "create_invitation",
        &json!({"p_resource_id": project, "p_role": "member"}),
        Some(&owner.token),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = rpc.call(
        "accept_invitation",
        &json!({"p_token": r.body["token"]}),
        Some(&user.token),
    );
    assert_eq!(r.status, 200, "{r:?}");
}

/// The shots' ids in order and the order's version, asserting positions 0..n-1.
fn order(stack: &Stack, user: &User, project: &str) -> (Vec<String>, i64) {
    let r = stack.get(&format!("/v1/projects/{project}/shots"), Some(&user.token));
    assert_eq!(r.status, 200, "{r:?}");
    let items = r.body["items"].as_array().unwrap();
    for (i, shot) in items.iter().enumerate() {
        assert_eq!(
            shot["position"],
            json!(i),
            "positions are 0..n-1: {}",
            r.body
        );
    }
    let ids = items
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    (ids, r.body["order_version"].as_i64().unwrap())
}

#[test]
fn eight_editors_reorder_shots_and_save_one_component_at_once() {
    let stack = Stack::from_env();
    let owner = stack.new_user("reorder-owner");
    let r = stack.json(
        "POST",
        "/v1/projects",
        Some(&owner.token),
        &json!({"name": "Storyboard"}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let project = r.body["id"].as_str().unwrap().to_string();
    let p = format!("/v1/projects/{project}");
    for n in 0..SHOTS {
        let r = stack.json(
            "POST",
            &format!("{p}/shots"),
            Some(&owner.token),
            &json!({"name": format!("shot {n}")}),
        );
        assert_eq!(r.status, 201, "{r:?}");
    }
    let r = stack.json(
        "POST",
        &format!("{p}/components"),
        Some(&owner.token),
        &json!({"type": "note", "properties": {"by": "owner"}}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let component = format!("{p}/components/{}", r.body["id"].as_str().unwrap());
    let editors: Vec<User> = (0..EDITORS)
        .map(|i| {
            let user = stack.new_user(&format!("reorder-editor-{i}"));
            share(&stack, &owner, &project, &user);
            user
        })
        .collect();
    let (start, start_version) = order(&stack, &owner, &project);

    let moves = Mutex::new(Vec::<Move>::new());
    // Per round: (editor, status, body) of each save.
    let saves = Mutex::new(vec![Vec::<(usize, u16, Value)>::new(); ROUNDS]);
    let barrier = Barrier::new(EDITORS);
    std::thread::scope(|scope| {
        for (e, editor) in editors.iter().enumerate() {
            let (start, moves, saves, barrier, p, component) =
                (&start, &moves, &saves, &barrier, &p, &component);
            let stack = &stack;
            scope.spawn(move || {
                let mut gen = Gen::new(1000 + e as u64);
                for round in 0..ROUNDS {
                    barrier.wait();
                    let r = stack.json(
                        "PATCH",
                        component,
                        Some(&editor.token),
                        &json!({"version": round + 1, "properties": {"by": e}}),
                    );
                    saves.lock().unwrap()[round].push((e, r.status, r.body));
                    for _ in 0..MOVES_PER_ROUND {
                        let shot = gen.pick(start).clone();
                        let position = gen.below(SHOTS);
                        let r = stack.json(
                            "POST",
                            &format!("{p}/shots/{shot}/move"),
                            Some(&editor.token),
                            &json!({ "position": position }),
                        );
                        // Judged after every thread is done: a panic here would leave the
                        // others waiting at the barrier for good.
                        moves.lock().unwrap().push(Move {
                            shot,
                            position,
                            status: r.status,
                            body: r.body,
                        });
                    }
                }
            });
        }
    });

    // Every move was a member's and applied as asked; in the order SQL applied them
    // (order_version), replayed from the start, they give the end.
    let mut applied = Vec::new();
    for m in moves.into_inner().unwrap() {
        assert_eq!(m.status, 200, "a member's move: {}", m.body);
        assert_eq!(
            (&m.body["id"], &m.body["position"]),
            (&json!(m.shot), &json!(m.position)),
            "{}",
            m.body
        );
        applied.push((m.body["order_version"].as_i64().unwrap(), m));
    }
    applied.sort_by_key(|(serial, _)| *serial);
    let serials: Vec<i64> = applied.iter().map(|(serial, _)| *serial).collect();
    let expected: Vec<i64> = (1..=applied.len() as i64)
        .map(|n| start_version + n)
        .collect();
    assert_eq!(
        serials, expected,
        "each move has its own serial number, none lost"
    );
    let mut replayed = start.clone();
    for (_, m) in &applied {
        let from = replayed.iter().position(|s| *s == m.shot).unwrap();
        let shot = replayed.remove(from);
        replayed.insert(m.position, shot);
    }
    let (end, end_version) = order(&stack, &owner, &project);
    assert_eq!(end_version, start_version + applied.len() as i64);
    let mut sorted = end.clone();
    sorted.sort();
    let mut all = start.clone();
    all.sort();
    assert_eq!(sorted, all, "every shot once");
    assert_eq!(
        end, replayed,
        "the order is the serial replay of every move"
    );

    // Each round: one save wins, seven are told the version it made.
    let saves = saves.into_inner().unwrap();
    let mut last_winner = None;
    for (round, answers) in saves.iter().enumerate() {
        let won: Vec<&(usize, u16, Value)> = answers.iter().filter(|a| a.1 == 200).collect();
        assert_eq!(won.len(), 1, "round {round}: {answers:?}");
        assert_eq!(won[0].2["version"], json!(round + 2));
        for (e, status, body) in answers.iter().filter(|a| a.1 != 200) {
            assert_eq!(*status, 409, "editor {e}, round {round}: {body}");
            assert_eq!(
                body["error"]["message"],
                format!(
                    "the component was changed by someone else: its current version is {}",
                    round + 2
                ),
                "editor {e}, round {round}"
            );
        }
        last_winner = Some(won[0].0);
    }
    let r = stack.get(&format!("{p}/components"), Some(&owner.token));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["items"][0]["version"], json!(ROUNDS + 1));
    assert_eq!(
        r.body["items"][0]["properties"],
        json!({ "by": last_winner.unwrap() })
    );
}
