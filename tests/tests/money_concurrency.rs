//! The money path under concurrency, through the PostgREST contract the functions use:
//! 32 clients mixing starts, cancels, webhook successes and failures, duplicate webhooks and
//! retried idempotency keys on one hot account and many cold ones. Afterwards the ledger
//! audit finds nothing, no generation is charged twice, and a drained hot account ends at
//! exactly zero available with every refusal a 402.

use genbase_shared::testing::Gen;
use genbase_tests::{RpcClient, Stack, User};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const CLIENTS: usize = 32;
const OPS_PER_CLIENT: usize = 40;
/// flux-schnell costs 5 credits an image; balances are multiples of it so a drain ends at 0.
const PRICE: i64 = 5;

fn start(rpc: &RpcClient, user: &User, key: &str) -> genbase_tests::Reply {
    rpc.call(
        "create_generation",
        &json!({"p_kind": "image", "p_model": "flux-schnell", "p_prompt": "a lighthouse",
                "p_params": {"num_outputs": 1}, "p_idempotency_key": key}),
        Some(&user.token),
    )
}

/// What the generations function does after the provider accepts the prediction. `None`
/// when the generation was canceled first (409): no prediction is recorded for it then.
fn submit(rpc: &RpcClient, generation_id: &str) -> Option<String> {
    let prediction = format!("p-{generation_id}");
    let r = rpc.call(
        "mark_generation_submitted",
        &json!({"p_generation_id": generation_id, "p_provider": "replicate", "p_prediction_id": prediction}),
        None,
    );
    match r.status {
        200 => Some(prediction),
        409 => None,
        _ => panic!("submit: {r:?}"),
    }
}

/// Where the fake provider would serve the prediction's output (it knows no such
/// prediction, so the copy ends at once with a 404, as for an expired file).
fn output_url(prediction: &str) -> String {
    format!(
        "{}/files/{prediction}-0.png",
        Stack::from_env().provider_url
    )
}

fn webhook(
    rpc: &RpcClient,
    webhook_id: &str,
    prediction: &str,
    status: &str,
) -> genbase_tests::Reply {
    let r = rpc.call(
        "handle_provider_webhook",
        &json!({"p_provider": "replicate", "p_webhook_id": webhook_id, "p_prediction_id": prediction,
                "p_status": status, "p_output": {"urls": [output_url(prediction)]},
                "p_error": if status == "failed" { json!("boom") } else { Value::Null },
                "p_metrics": {"predict_time": 1.2}}),
        None,
    );
    assert_eq!(r.status, 200, "webhook: {r:?}");
    r
}

fn available(rpc: &RpcClient, user: &User) -> i64 {
    let r = rpc.call("get_my_credits", &json!({"p_limit": 1}), Some(&user.token));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body["available"],
        r.body["balance"].as_i64().unwrap() - r.body["held"].as_i64().unwrap()
    );
    r.body["available"].as_i64().unwrap()
}

#[test]
fn concurrent_mixed_traffic_keeps_every_ledger_invariant() {
    let stack = Arc::new(Stack::from_env());
    let admin = stack.new_user("money-admin");
    stack.make_admin(&admin);
    let hot = Arc::new(stack.new_user("hot"));
    stack.grant(&admin, &hot, 200 * PRICE);
    // Up to 200 generations at once: a plan's concurrent_generations (quotas migration) is
    // not what this test is about.
    stack
        .db()
        .execute(
            "update public.profiles set plan = 'unlimited' where id = $1",
            &[&hot.id],
        )
        .expect("plan");
    let cold: Arc<Vec<User>> = Arc::new(
        (0..48)
            .map(|i| {
                let u = stack.new_user(&format!("cold{i}"));
                stack.grant(&admin, &u, 6 * PRICE);
                u
            })
            .collect(),
    );
    let refusals = Arc::new(Mutex::new(Vec::<u16>::new()));

    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (stack, hot, cold, refusals) =
                (stack.clone(), hot.clone(), cold.clone(), refusals.clone());
            std::thread::spawn(move || {
                let rpc = stack.rpc_client();
                let mut rng = Gen::new(0x9E37_79B9_7F4A_7C15 ^ ((c as u64 + 1) * 0x1000_0001));
                // (user index or usize::MAX for hot, idempotency key, generation id, prediction)
                let mut mine: Vec<(usize, String, String, Option<String>)> = Vec::new();
                let mut webhooks: Vec<(String, String, String)> = Vec::new();
                for op in 0..OPS_PER_CLIENT {
                    let pick = if rng.below(2) == 0 {
                        usize::MAX
                    } else {
                        rng.below(cold.len())
                    };
                    let user_of = |i: usize| if i == usize::MAX { &*hot } else { &cold[i] };
                    match rng.below(6) {
                        0 | 1 => {
                            let key = format!("c{c}-op{op}");
                            let r = start(&rpc, user_of(pick), &key);
                            match r.status {
                                202 | 200 if r.body["created"] == true => {
                                    let id =
                                        r.body["generation"]["id"].as_str().unwrap().to_string();
                                    mine.push((pick, key, id, None));
                                }
                                402 => refusals.lock().unwrap().push(402),
                                other => panic!("start answered {other}: {:?}", r.body),
                            }
                        }
                        2 if !mine.is_empty() => {
                            // A client retry: same key, same payload -> the same generation.
                            let (u, key, id, _) = mine[rng.below(mine.len())].clone();
                            let r = start(&rpc, user_of(u), &key);
                            assert_eq!(r.status, 200, "{r:?}");
                            assert_eq!(r.body["created"], false);
                            assert_eq!(r.body["generation"]["id"], id.as_str());
                        }
                        3 if !mine.is_empty() => {
                            let (u, _, id, _) = mine[rng.below(mine.len())].clone();
                            let r = rpc.call(
                                "cancel_generation",
                                &json!({"p_id": id}),
                                Some(&user_of(u).token),
                            );
                            assert!(r.status == 200 || r.status == 409, "cancel: {r:?}");
                        }
                        4 if !mine.is_empty() => {
                            let i = rng.below(mine.len());
                            let prediction = match &mine[i].3 {
                                Some(p) => p.clone(),
                                None => match submit(&rpc, &mine[i].2) {
                                    Some(p) => p,
                                    None => continue,
                                },
                            };
                            mine[i].3 = Some(prediction.clone());
                            let status = if rng.below(3) == 0 {
                                "failed"
                            } else {
                                "succeeded"
                            };
                            let wid = format!("msg_c{c}_op{op}");
                            webhook(&rpc, &wid, &prediction, status);
                            webhooks.push((wid, prediction, status.to_string()));
                        }
                        5 if !webhooks.is_empty() => {
                            let (wid, prediction, status) =
                                webhooks[rng.below(webhooks.len())].clone();
                            let r = webhook(&rpc, &wid, &prediction, &status);
                            assert_eq!(
                                r.body["duplicate"], true,
                                "a replayed webhook must be a no-op"
                            );
                        }
                        _ => {}
                    }
                }
                // Resolve what is still open so the hot account can be drained exactly.
                for (_, _, id, prediction) in mine {
                    if let Some(p) = prediction.or_else(|| submit(&rpc, &id)) {
                        webhook(&rpc, &format!("msg_final_{id}"), &p, "succeeded");
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client panicked");
    }
    assert_eq!(stack.audit(), json!([]), "audit after mixed traffic");

    // Drain the hot account from 32 clients at once: every refusal must be a clean 402 and the
    // account must end at exactly zero available.
    let drain: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (stack, hot) = (stack.clone(), hot.clone());
            std::thread::spawn(move || {
                let rpc = stack.rpc_client();
                let mut refused = 0;
                for op in 0.. {
                    let r = start(&rpc, &hot, &format!("drain-{c}-{op}"));
                    match r.status {
                        202 | 200 => {
                            let id = r.body["generation"]["id"].as_str().unwrap().to_string();
                            let p = submit(&rpc, &id).expect("nobody cancels during the drain");
                            webhook(&rpc, &format!("msg_drain_{id}"), &p, "succeeded");
                        }
                        402 => {
                            refused += 1;
                            if refused == 3 {
                                break;
                            }
                        }
                        other => panic!("drain start answered {other}: {:?}", r.body),
                    }
                }
            })
        })
        .collect();
    for t in drain {
        t.join().expect("drain client panicked");
    }
    let rpc = stack.rpc_client();
    assert_eq!(available(&rpc, &hot), 0, "drained hot account");
    assert_eq!(stack.audit(), json!([]), "audit after drain");
    let twice: i64 = stack
        .db()
        .query_one(
            "select count(*) from (select generation_id from public.credit_ledger
              where kind = 'settle' and generation_id is not null
              group by generation_id having count(*) > 1) t",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(twice, 0, "a generation was charged twice");
}
