//! Generations end to end through workerd with the fake provider: start -> provider webhook ->
//! settled; signatures, stale timestamps and replays refused or no-ops; 402 writes nothing.

use genbase_tests::{Reply, Stack, User};
use serde_json::{json, Value};

fn start(stack: &Stack, user: &User, body: Value, key: Option<&str>) -> Reply {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(k) = key {
        headers.push(("idempotency-key", k));
    }
    stack.send(
        "POST",
        "/v1/generations",
        Some(&user.token),
        Some(&body.to_string()),
        &headers,
    )
}

fn image(prompt: &str, n: u32) -> Value {
    json!({"kind": "image", "model": "flux-schnell", "prompt": prompt, "params": {"num_outputs": n}})
}

#[test]
fn a_generation_is_reserved_submitted_and_settled_by_the_webhook() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("gen", 100);
    let r = start(&stack, &user, image("a red fox", 2), None);
    assert_eq!(r.status, 202, "{r:?}");
    let id = r.body["generation"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["generation"]["credits_reserved"], 10);
    // Held until the webhook settles it (~150 ms later, sooner than a loaded machine may
    // let this check run): either way nothing is lost.
    let during = stack.credits(&user);
    let (balance, held) = (during["balance"].as_i64(), during["held"].as_i64());
    assert!(
        (balance, held) == (Some(100), Some(10)) || (balance, held) == (Some(90), Some(0)),
        "{during}"
    );
    assert_eq!(
        during["held"].as_i64().unwrap() + during["available"].as_i64().unwrap(),
        balance.unwrap()
    );

    let done = stack.wait_final(&user, &id);
    assert_eq!(done["status"], "succeeded", "{done:?}");
    assert_eq!(done["credits_charged"], 10);
    assert_eq!(done["outputs"]["urls"].as_array().map(Vec::len), Some(2));
    let after = stack.credits(&user);
    assert_eq!(
        (
            after["balance"].as_i64(),
            after["held"].as_i64(),
            after["available"].as_i64()
        ),
        (Some(90), Some(0), Some(90))
    );

    let month = done["created_at"].as_str().unwrap()[..7].to_string();
    let usage = stack.get(&format!("/v1/usage?month={month}"), Some(&user.token));
    assert_eq!(usage.status, 200, "{usage:?}");
    assert_eq!(usage.body["total_credits"], 10, "{usage:?}");

    let other = stack.new_user("gen-stranger");
    assert_eq!(
        stack
            .get(&format!("/v1/generations/{id}"), Some(&other.token))
            .status,
        404
    );
    assert_eq!(
        stack.get("/v1/generations", Some(&other.token)).body["items"],
        json!([])
    );
}

#[test]
fn a_failed_prediction_releases_the_hold() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("genfail", 50);
    let r = start(&stack, &user, image("[fail] a broken fox", 1), None);
    assert_eq!(r.status, 202, "{r:?}");
    let id = r.body["generation"]["id"].as_str().unwrap().to_string();
    let done = stack.wait_final(&user, &id);
    assert_eq!(done["status"], "failed");
    assert_eq!(
        done["error"], "the provider could not complete this generation; no credits were charged",
        "the user reads a sanitized error"
    );
    let after = stack.credits(&user);
    assert_eq!(
        (after["balance"].as_i64(), after["held"].as_i64()),
        (Some(50), Some(0))
    );
    // The provider's own words are for operators.
    let admin = stack.new_user("genfail-ops");
    stack.make_admin(&admin);
    let view = stack.get(&format!("/v1/admin/generations/{id}"), Some(&admin.token));
    assert_eq!(view.status, 200, "{view:?}");
    assert_eq!(view.body["errors"][0]["detail"], "fake failure", "{view:?}");
    let refused = stack.get(&format!("/v1/admin/generations/{id}"), Some(&user.token));
    assert_eq!(refused.status, 403, "{refused:?}");
}

#[test]
fn the_same_idempotency_key_returns_the_same_generation() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("idem", 50);
    let first = start(&stack, &user, image("a kite", 1), Some("key-1"));
    assert_eq!(first.status, 202);
    let again = start(&stack, &user, image("a kite", 1), Some("key-1"));
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(
        again.body["generation"]["id"],
        first.body["generation"]["id"]
    );
    let other = start(&stack, &user, image("a different kite", 1), Some("key-1"));
    assert_eq!(other.status, 409, "{other:?}");
    stack.wait_final(&user, first.body["generation"]["id"].as_str().unwrap());
    assert_eq!(stack.credits(&user)["balance"], 45, "charged once");
}

#[test]
fn insufficient_credits_is_a_402_and_writes_nothing() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("poor", 4);
    let r = start(&stack, &user, image("too expensive", 1), None);
    assert_eq!(r.status, 402, "{r:?}");
    assert_eq!(r.error_code(), "insufficient_credits");
    assert_eq!(
        stack.get("/v1/generations", Some(&user.token)).body["items"],
        json!([])
    );
    let c = stack.credits(&user);
    assert_eq!(
        (c["balance"].as_i64(), c["held"].as_i64()),
        (Some(4), Some(0))
    );
}

#[test]
fn bad_generation_requests_are_4xx_and_change_nothing() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("badgen", 50);
    for (body, status) in [
        ("{oops", 400),
        (r#"{"kind": "image"}"#, 400),
        (
            r#"{"kind": "image", "model": "no-such-model", "prompt": "x"}"#,
            400,
        ),
        (
            r#"{"kind": "video", "model": "flux-schnell", "prompt": "x"}"#,
            400,
        ),
        (
            r#"{"kind": "image", "model": "flux-schnell", "prompt": "x", "units": "many"}"#,
            400,
        ),
    ] {
        let r = stack.send(
            "POST",
            "/v1/generations",
            Some(&user.token),
            Some(body),
            &[("content-type", "application/json")],
        );
        assert_eq!(r.status, status, "{body}: {r:?}");
        r.error_code();
    }
    assert_eq!(
        stack
            .get("/v1/generations/not-a-uuid", Some(&user.token))
            .status,
        400
    );
    let unknown = uuid::Uuid::new_v4();
    assert_eq!(
        stack
            .get(&format!("/v1/generations/{unknown}"), Some(&user.token))
            .status,
        404
    );
    assert_eq!(
        stack
            .get("/v1/generations?cursor=garbage", Some(&user.token))
            .status,
        400
    );
    assert_eq!(
        stack
            .get("/v1/generations?limit=100000", Some(&user.token))
            .status,
        400
    );
    assert_eq!(stack.credits(&user)["balance"], 50);
    assert_eq!(stack.get("/v1/generations", None).status, 401);
}

#[test]
fn listing_pages_with_an_opaque_cursor() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("list", 100);
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = start(&stack, &user, image(&format!("[never] item {i}"), 1), None);
        assert_eq!(r.status, 202, "{r:?}");
        ids.push(r.body["generation"]["id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    let mut path = "/v1/generations?limit=2&kind=image".to_string();
    loop {
        let page = stack.get(&path, Some(&user.token));
        assert_eq!(page.status, 200, "{page:?}");
        for g in page.body["items"].as_array().unwrap() {
            seen.push(g["id"].as_str().unwrap().to_string());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/generations?limit=2&kind=image&cursor={c}"),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each once");
    // Canceling releases each hold.
    for id in &ids {
        let r = stack.send(
            "POST",
            &format!("/v1/generations/{id}/cancel"),
            Some(&user.token),
            None,
            &[],
        );
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body["status"], "canceled");
    }
    let again = stack.send(
        "POST",
        &format!("/v1/generations/{}/cancel", ids[0]),
        Some(&user.token),
        None,
        &[],
    );
    assert_eq!(again.status, 409, "{again:?}");
    let c = stack.credits(&user);
    assert_eq!(
        (c["balance"].as_i64(), c["held"].as_i64()),
        (Some(100), Some(0))
    );
}

#[test]
fn forged_stale_and_replayed_webhooks_change_nothing() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("hook", 100);
    let r = start(&stack, &user, image("a heron", 1), None);
    let id = r.body["generation"]["id"].as_str().unwrap().to_string();
    let done = stack.wait_final(&user, &id);
    assert_eq!(done["status"], "succeeded");
    let prediction = done["provider_prediction_id"].as_str().unwrap().to_string();
    let before = stack.credits(&user);

    let fake = |what: &str| -> Value {
        let resp = genbase_tests::send(
            &format!("{}/_fake/{what}/{prediction}", stack.provider_url),
            "POST",
            None,
            Some(""),
            &[],
        );
        assert_eq!(resp.status, 200, "{what}: {resp:?}");
        resp.body
    };
    assert_eq!(fake("deliver_tampered")["status"], 401);
    assert_eq!(fake("deliver_stale")["status"], 400);
    let replay = fake("redeliver");
    assert_eq!(replay["status"], 200, "{replay:?}");
    let after = stack.credits(&user);
    assert_eq!(before["balance"], after["balance"]);
    assert_eq!(
        before["items"], after["items"],
        "a replay must not add ledger entries"
    );

    // Unsigned or malformed calls straight at the endpoint.
    let body = json!({"id": prediction, "status": "succeeded"}).to_string();
    let r = stack.send("POST", "/v1/webhooks/replicate", None, Some(&body), &[]);
    assert_eq!(r.status, 400, "{r:?}");
    let r = stack.send(
        "POST",
        "/v1/webhooks/replicate",
        None,
        Some(&body),
        &[
            ("webhook-id", "msg_x"),
            ("webhook-timestamp", "1"),
            ("webhook-signature", "v1,AAAA"),
        ],
    );
    assert_eq!(r.status, 400, "{r:?}");
}

#[test]
fn a_provider_refusal_fails_the_generation_and_releases_the_hold() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("throttled", 50);
    // The fake answers 429 for this marker, as Replicate does when rate limiting.
    let r = start(&stack, &user, image("[throttle] a crowded sky", 1), None);
    assert_eq!(r.status, 502, "{r:?}");
    r.error_code();
    let list = stack.get("/v1/generations", Some(&user.token));
    assert_eq!(list.body["items"][0]["status"], "failed", "{list:?}");
    let c = stack.credits(&user);
    assert_eq!(
        (c["balance"].as_i64(), c["held"].as_i64()),
        (Some(50), Some(0))
    );
}

#[test]
fn submissions_draw_tokens_from_the_pool_and_never_reveal_them() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("pool", 100);
    let secret = format!("r8_pool_{}", uuid::Uuid::new_v4().simple());
    stack
        .db()
        .execute(
            "insert into public.provider_tokens (provider, label, token) values ('replicate', 'e2e', $1)",
            &[&secret],
        )
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = start(&stack, &user, image(&format!("pool {i}"), 1), None);
        assert_eq!(r.status, 202, "{r:?}");
        assert!(
            !r.body.to_string().contains(&secret),
            "a provider token leaked into a response"
        );
        ids.push(
            r.body["generation"]["provider_prediction_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let seen = stack.provider_predictions();
    let used: Vec<&str> = seen
        .iter()
        .filter(|p| {
            ids.iter()
                .any(|id| p["prediction"]["id"] == id.as_str() || p["id"] == id.as_str())
        })
        .filter_map(|p| p["token"].as_str())
        .collect();
    assert_eq!(used.len(), 3, "{seen:?}");
    let count: i64 = stack
        .db()
        .query_one(
            "select request_count from public.provider_tokens where token = $1",
            &[&secret],
        )
        .unwrap()
        .get(0);
    assert!(
        count >= 1 && used.contains(&secret.as_str()),
        "the pool token was never used ({count})"
    );
    stack
        .db()
        .execute(
            "update public.provider_tokens set is_active = false where token = $1",
            &[&secret],
        )
        .unwrap();
}
