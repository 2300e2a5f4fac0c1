//! Reconciliation end to end: results whose webhook never came are fetched from the provider
//! and settled through the webhook's exactly-once path; a generation whose submission was cut
//! short is attached to its prediction when the provider has one, and failed and released
//! when it has none. Generations are dated back in SQL past the 2-minute deadline rather than
//! waited for; the route, the provider look-ups and the settlement are the real ones.

use genbase_tests::{Reply, Stack, User};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// flux-schnell's price per image.
const PRICE: i64 = 5;

/// (balance, held)
fn credits(stack: &Stack, user: &User) -> (i64, i64) {
    let c = stack.credits(user);
    (c["balance"].as_i64().unwrap(), c["held"].as_i64().unwrap())
}

fn generation(stack: &Stack, user: &User, id: &str) -> Value {
    let r = stack.get(&format!("/v1/generations/{id}"), Some(&user.token));
    assert_eq!(r.status, 200, "{r:?}");
    r.body
}

fn reconcile(stack: &Stack, admin: &User) -> Reply {
    let r = stack.send("POST", "/v1/admin/reconcile", Some(&admin.token), None, &[]);
    assert_eq!(r.status, 200, "{r:?}");
    r
}

/// Moves a generation's clock back past the reconciliation deadline (and clears the stamp of
/// a run that may have looked at it already), as if it had been waiting for 3 minutes.
fn age(stack: &Stack, id: &str) {
    let id: uuid::Uuid = id.parse().unwrap();
    stack
        .db()
        .execute(
            "update public.generations
             set created_at = created_at - interval '3 minutes',
                 started_at = started_at - interval '3 minutes', reconciled_at = null
             where id = $1",
            &[&id],
        )
        .unwrap();
}

/// Runs reconciliation until the generation is final (the local sweeper may get there first;
/// either way it is the same route).
fn reconcile_until_final(stack: &Stack, admin: &User, user: &User, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        reconcile(stack, admin);
        let g = generation(stack, user, id);
        if ["succeeded", "failed", "canceled"].contains(&g["status"].as_str().unwrap_or("")) {
            return g;
        }
        assert!(Instant::now() < deadline, "never reconciled: {g}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn provider_prediction(stack: &Stack, id: &str) -> Value {
    let r = genbase_tests::send(
        &format!("{}/v1/predictions/{id}", stack.provider_url),
        "GET",
        Some("r8_test"),
        None,
        &[],
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.body
}

fn wait_provider_success(stack: &Stack, prediction: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while provider_prediction(stack, prediction)["status"] != "succeeded" {
        assert!(
            Instant::now() < deadline,
            "the fake never finished {prediction}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn poll_events(stack: &Stack, prediction: &str) -> i64 {
    stack
        .db()
        .query_one(
            "select count(*) from public.webhook_events where webhook_id = $1",
            &[&format!("poll:{prediction}")],
        )
        .unwrap()
        .get(0)
}

#[test]
fn a_result_whose_webhook_never_came_is_fetched_and_charged_once() {
    let stack = Stack::from_env();
    let (admin, user) = stack.funded_user("rec-nowebhook", 100);
    let r = stack.json(
        "POST",
        "/v1/generations",
        Some(&user.token),
        &json!({"kind": "image", "model": "flux-schnell", "prompt": "[nowebhook] a lighthouse",
                "params": {"num_outputs": 2}}),
    );
    assert_eq!(r.status, 202, "{r:?}");
    let id = r.body["generation"]["id"].as_str().unwrap().to_string();
    let prediction = r.body["generation"]["provider_prediction_id"]
        .as_str()
        .unwrap()
        .to_string();

    // The provider finishes, but no webhook arrives: the generation stays processing.
    wait_provider_success(&stack, &prediction);
    // Run by the admin before the deadline: nothing is due, nothing changes.
    let early = reconcile(&stack, &admin);
    assert!(early.body["looked_at"].is_number(), "{early:?}");
    let g = generation(&stack, &user, &id);
    assert_eq!(g["status"], "processing", "{g}");
    assert_eq!(credits(&stack, &user), (100, 10));

    age(&stack, &id);
    let done = reconcile_until_final(&stack, &admin, &user, &id);
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["credits_charged"], 2 * PRICE);
    assert_eq!(done["outputs"]["urls"].as_array().map(Vec::len), Some(2));
    assert_eq!(credits(&stack, &user), (100 - 2 * PRICE, 0));
    assert_eq!(
        poll_events(&stack, &prediction),
        1,
        "settled by the look-up"
    );

    // Another run (or a late webhook) changes nothing.
    age(&stack, &id);
    reconcile(&stack, &admin);
    assert_eq!(credits(&stack, &user), (100 - 2 * PRICE, 0));
    assert_eq!(stack.audit(), json!([]));
}

#[test]
fn reconciliation_is_for_admins_only() {
    let stack = Stack::from_env();
    let user = stack.new_user("rec-user");
    let r = stack.send("POST", "/v1/admin/reconcile", Some(&user.token), None, &[]);
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.error_code(), "forbidden", "{r:?}");
    let r = stack.send("POST", "/v1/admin/reconcile", None, None, &[]);
    assert_eq!(r.status, 401, "{r:?}");
    let r = stack.send("GET", "/v1/admin/reconcile", Some(&user.token), None, &[]);
    assert!(r.status == 405 || r.status == 404, "{r:?}");
}

/// A generation reserved and recorded whose function died before submitting (or before
/// recording the prediction id): the state `api.create_generation` alone leaves.
fn cut_short(stack: &Stack, user: &User, prompt: &str) -> String {
    let r = stack.rpc_client().call(
        "create_generation",
        &json!({"p_kind": "image", "p_model": "flux-schnell", "p_prompt": prompt,
                "p_params": {"num_outputs": 1}}),
        Some(&user.token),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["generation"]["status"], "queued", "{r:?}");
    r.body["generation"]["id"].as_str().unwrap().to_string()
}

#[test]
fn a_submission_never_made_is_failed_and_released() {
    let stack = Stack::from_env();
    let (admin, user) = stack.funded_user("rec-orphan", 50);
    let id = cut_short(&stack, &user, "a lighthouse that never was");
    assert_eq!(credits(&stack, &user), (50, PRICE));
    age(&stack, &id);
    let done = reconcile_until_final(&stack, &admin, &user, &id);
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["credits_charged"].as_i64().unwrap_or(0), 0, "{done}");
    assert_eq!(credits(&stack, &user), (50, 0), "the hold is released");
    let error = done["error"].as_str().unwrap_or_default();
    assert!(
        !error.contains("reconciliation:"),
        "internal detail leaked: {error}"
    );
    assert_eq!(stack.audit(), json!([]));
}

#[test]
fn a_submission_whose_answer_was_lost_is_found_at_the_provider_and_settled() {
    let stack = Stack::from_env();
    let (admin, user) = stack.funded_user("rec-lost", 50);
    let id = cut_short(&stack, &user, "a lighthouse in fog");
    // The prediction was created (with our webhook URL carrying the generation id), but the
    // function never recorded it; its webhook is lost too.
    let created = genbase_tests::send(
        &format!(
            "{}/v1/models/black-forest-labs/flux-schnell/predictions",
            stack.provider_url
        ),
        "POST",
        Some("r8_test"),
        Some(
            &json!({
                "input": {"prompt": "[nowebhook] a lighthouse in fog", "num_outputs": 1},
                "webhook": format!("{}/v1/webhooks/replicate?generation_id={id}", stack.api_url),
                "webhook_events_filter": ["completed"],
            })
            .to_string(),
        ),
        &[("content-type", "application/json")],
    );
    assert_eq!(created.status, 201, "{created:?}");
    let prediction = created.body["id"].as_str().unwrap().to_string();
    // Lost minutes ago, so it has long finished at the provider.
    wait_provider_success(&stack, &prediction);

    age(&stack, &id);
    let done = reconcile_until_final(&stack, &admin, &user, &id);
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["provider_prediction_id"], prediction.as_str());
    assert_eq!(done["credits_charged"], PRICE);
    assert_eq!(credits(&stack, &user), (50 - PRICE, 0));
    assert_eq!(stack.audit(), json!([]));
}
