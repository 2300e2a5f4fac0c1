//! The provider token pool end to end, through the real WASM, the fake provider and Postgres:
//! users cannot take tokens out of the pool (throttled and rejected requests only rest a token
//! or count against the request), five authentication failures disable a token, and an admin
//! lists the pool (never a secret) and re-enables it.
//!
//! Every test binary shares one database and one pool (provider `replicate`): tests here add
//! tokens of their own, assert on those and on the pool as a whole, and delete their tokens when
//! they end, pass or fail, so no later test ever draws an `invalid` token. Tests of this file
//! that submit generations take `POOL` so that they do not draw each other's tokens.

use genbase_tests::{Reply, Stack, User};
use serde_json::json;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

static POOL: Mutex<()> = Mutex::new(());

/// The longest cooldown the pool ever gives (5 s x 2^n capped at 5 minutes).
const COOLDOWN_CAP_SECONDS: f64 = 300.0;

/// Tokens this test put into the pool; deleted on drop, also when an assertion failed.
struct OwnTokens<'a> {
    stack: &'a Stack,
    ids: Vec<Uuid>,
}

impl OwnTokens<'_> {
    /// Adds a `replicate` token the way an operator would; returns its id.
    fn add(&mut self, secret: &str) -> Uuid {
        let id: Uuid = self
            .stack
            .db()
            .query_one(
                "insert into public.provider_tokens (provider, label, token)
                 values ('replicate', 'e2e token_pool', $1) returning id",
                &[&secret],
            )
            .expect("insert token")
            .get(0);
        self.ids.push(id);
        id
    }
}

impl Drop for OwnTokens<'_> {
    fn drop(&mut self) {
        if let Ok(mut db) = postgres::Client::connect(&self.stack.database_url, postgres::NoTls) {
            let _ = db.execute(
                "delete from public.provider_tokens where id = any($1)",
                &[&self.ids],
            );
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Health {
    is_active: bool,
    consecutive_errors: i32,
    cooldown_level: i32,
    /// Seconds until the cooldown ends; `None` when not cooling down.
    cooldown_left: Option<f64>,
    error_count: i64,
    request_count: i64,
    disabled: bool,
}

fn health(stack: &Stack, id: Uuid) -> Health {
    let row = stack
        .db()
        .query_one(
            "select is_active, consecutive_errors, cooldown_level,
                    case when cooldown_until > clock_timestamp()
                         then extract(epoch from cooldown_until - clock_timestamp())::float8 end,
                    error_count, request_count, disabled_at is not null
             from public.provider_tokens where id = $1",
            &[&id],
        )
        .expect("token row");
    Health {
        is_active: row.get(0),
        consecutive_errors: row.get(1),
        cooldown_level: row.get(2),
        cooldown_left: row.get(3),
        error_count: row.get(4),
        request_count: row.get(5),
        disabled: row.get(6),
    }
}

/// Ids of every `replicate` token the pool may hand out now or after a cooldown.
fn active_pool(stack: &Stack) -> Vec<Uuid> {
    stack
        .db()
        .query(
            "select id from public.provider_tokens where provider = 'replicate' and is_active",
            &[],
        )
        .expect("pool")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn generate(stack: &Stack, user: &User, prompt: &str) -> Reply {
    stack.json(
        "POST",
        "/v1/generations",
        Some(&user.token),
        &json!({"kind": "image", "model": "flux-schnell", "prompt": prompt,
                "params": {"num_outputs": 1}}),
    )
}

/// The fake provider's record of every `/v1` request made with `secret`: their statuses.
fn provider_saw(stack: &Stack, secret: &str) -> Vec<u64> {
    let r = genbase_tests::send(
        &format!("{}/_fake/requests", stack.provider_url),
        "GET",
        None,
        None,
        &[],
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.body
        .as_array()
        .expect("request list")
        .iter()
        .filter(|q| q["token"] == secret)
        .filter_map(|q| q["status"].as_u64())
        .collect()
}

#[test]
fn throttled_and_rejected_requests_never_take_a_token_out_of_the_pool() {
    let _pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let stack = Stack::from_env();
    let (_admin, user) = stack.funded_user("pool-abuse", 1000);
    let mut own = OwnTokens {
        stack: &stack,
        ids: Vec::new(),
    };
    let secrets = [
        format!("r8_pool_a_{}", Uuid::new_v4().simple()),
        format!("r8_pool_b_{}", Uuid::new_v4().simple()),
    ];
    let mine = [own.add(&secrets[0]), own.add(&secrets[1])];
    let pool_before = active_pool(&stack);

    // 20 requests whose input the provider refuses (422): the user's fault, not the token's.
    // Nothing is cooling down, so every one of them is made with a pool token.
    for i in 0..20 {
        let r = generate(&stack, &user, &format!("[reject] a forbidden thing {i}"));
        assert!((400..500).contains(&r.status), "{r:?}");
        r.error_code();
    }
    for (id, secret) in mine.iter().zip(&secrets) {
        let h = health(&stack, *id);
        assert!(
            h.error_count >= 1 && provider_saw(&stack, secret).contains(&422),
            "the new token was never used for a rejected request: {h:?}"
        );
        assert_eq!(
            (
                h.is_active,
                h.consecutive_errors,
                h.cooldown_level,
                h.cooldown_left,
                h.disabled
            ),
            (true, 0, 0, None, false),
            "a request error counted against the token: {h:?}"
        );
    }

    // 20 throttled requests (429): the tokens rest and back off, and the pool never shrinks.
    let throttled_before: Vec<usize> = secrets
        .iter()
        .map(|s| {
            provider_saw(&stack, s)
                .iter()
                .filter(|&&st| st == 429)
                .count()
        })
        .collect();
    for i in 0..20 {
        let r = generate(&stack, &user, &format!("[throttle] a crowded sky {i}"));
        assert!(r.status >= 400, "{r:?}");
        r.error_code();
    }
    for ((id, secret), before) in mine.iter().zip(&secrets).zip(&throttled_before) {
        let throttled = provider_saw(&stack, secret)
            .iter()
            .filter(|&&st| st == 429)
            .count();
        assert!(
            throttled > *before,
            "no throttled request was made with the new token"
        );
        let h = health(&stack, *id);
        assert!(
            h.is_active && !h.disabled && h.consecutive_errors == 0,
            "a rate limit counted toward disabling: {h:?}"
        );
        assert!(h.cooldown_level >= 1, "a 429 did not back off: {h:?}");
    }
    assert_eq!(
        active_pool(&stack).len(),
        pool_before.len(),
        "40 failures caused by users took tokens out of the pool"
    );
    for id in &pool_before {
        let h = health(&stack, *id);
        assert!(
            h.is_active && !h.disabled && h.consecutive_errors == 0,
            "a pool token was harmed: {h:?}"
        );
    }

    // Every token cooling down comes back by itself within its cooldown.
    let longest = pool_before
        .iter()
        .filter_map(|id| health(&stack, *id).cooldown_left)
        .fold(0.0_f64, f64::max);
    assert!(
        longest <= COOLDOWN_CAP_SECONDS,
        "a cooldown beyond the cap: {longest} s"
    );
    std::thread::sleep(Duration::from_secs_f64(longest + 0.5));
    for id in &pool_before {
        assert_eq!(
            health(&stack, *id).cooldown_left,
            None,
            "still cooling down after its cooldown"
        );
    }
    // Back in rotation: the pool hands each new token out again and the provider accepts it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut served: Vec<bool> = vec![false; mine.len()];
    let used_before: Vec<i64> = mine
        .iter()
        .map(|id| health(&stack, *id).request_count)
        .collect();
    let mut i = 0;
    while served.iter().any(|s| !s) {
        assert!(
            Instant::now() < deadline && i <= 4 * pool_before.len(),
            "the tokens never came back: {:?}",
            mine.iter()
                .map(|id| health(&stack, *id))
                .collect::<Vec<_>>()
        );
        let r = generate(&stack, &user, &format!("back in rotation {i}"));
        assert_eq!(r.status, 202, "{r:?}");
        i += 1;
        for (k, id) in mine.iter().enumerate() {
            let h = health(&stack, *id);
            if h.request_count > used_before[k] {
                assert_eq!(
                    (h.cooldown_level, h.cooldown_left),
                    (0, None),
                    "a success resets the backoff: {h:?}"
                );
                served[k] = true;
            }
        }
    }
    let c = stack.credits(&user);
    assert!(
        c["balance"].as_i64().unwrap_or(0) > 0,
        "the failures cost the user credits: {c}"
    );
    assert_eq!(stack.audit(), json!([]), "audit_credits found violations");
}

#[test]
fn five_auth_failures_disable_a_token_and_an_admin_re_enables_it() {
    let _pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let stack = Stack::from_env();
    let (admin, user) = stack.funded_user("pool-auth", 1000);
    let mut own = OwnTokens {
        stack: &stack,
        ids: Vec::new(),
    };
    // The fake answers 401 to any token containing `invalid`: a revoked token.
    let bad_secret = format!("r8_invalid_{}", Uuid::new_v4().simple());
    let good_secret = format!("r8_pool_good_{}", Uuid::new_v4().simple());
    let bad = own.add(&bad_secret);
    own.add(&good_secret);

    // Round robin: the revoked token comes up every few requests until five 401s disable it;
    // the other requests succeed with the other tokens.
    let bound = 5 * (active_pool(&stack).len() + 1) + 5;
    let mut sent = 0;
    while !health(&stack, bad).disabled {
        assert!(
            sent < bound,
            "{sent} requests did not disable the revoked token: {:?}",
            health(&stack, bad)
        );
        let r = generate(&stack, &user, &format!("a quiet harbour {sent}"));
        assert!(r.status == 202 || r.status == 502, "{r:?}");
        sent += 1;
    }
    assert_eq!(
        provider_saw(&stack, &bad_secret),
        vec![401; 5],
        "the fifth 401 disables the token, not an earlier or later one"
    );
    let h = health(&stack, bad);
    assert_eq!(
        (h.is_active, h.consecutive_errors, h.error_count),
        (false, 5, 5),
        "{h:?}"
    );
    // Disabled means never handed out again, cooldown or not.
    for i in 0..6 {
        let r = generate(&stack, &user, &format!("after the revocation {i}"));
        assert_eq!(r.status, 202, "{r:?}");
    }
    assert_eq!(provider_saw(&stack, &bad_secret).len(), 5);

    // The admin view: every token with its health, never a secret.
    let list = stack.get("/v1/admin/provider-tokens", Some(&admin.token));
    assert_eq!(list.status, 200, "{list:?}");
    let text = list.body.to_string();
    let all_secrets: Vec<String> = stack
        .db()
        .query("select token from public.provider_tokens", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for secret in &all_secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a provider token leaked into the admin list"
        );
    }
    let items = list.body["items"].as_array().expect("items");
    assert!(items.iter().all(|t| t.get("token").is_none()), "{list:?}");
    let shown = items
        .iter()
        .find(|t| t["id"] == bad.to_string())
        .expect("the disabled token is listed");
    assert_eq!(
        (
            &shown["is_active"],
            &shown["consecutive_errors"],
            shown["disabled_at"].is_string()
        ),
        (&json!(false), &json!(5), true),
        "{shown}"
    );
    let hint = shown["token_hint"].as_str().unwrap_or_default();
    assert!(
        hint.trim_start_matches('.').len() <= 4
            && bad_secret.ends_with(hint.trim_start_matches('.')),
        "the hint is at most the last four characters: {hint}"
    );

    // Only admins, only valid ids; a refused call changes nothing.
    let enable = format!("/v1/admin/provider-tokens/{bad}/enable");
    let r = stack.get("/v1/admin/provider-tokens", Some(&user.token));
    assert_eq!((r.status, r.error_code()), (403, "forbidden"), "{r:?}");
    let r = stack.get("/v1/admin/provider-tokens", None);
    assert_eq!(r.status, 401, "{r:?}");
    r.error_code();
    // Re-enabling is audited: it takes a reason.
    let reason = json!({"reason": "secret rotated at the provider"});
    let r = stack.json("POST", &enable, Some(&user.token), &reason);
    assert_eq!(r.status, 403, "{r:?}");
    r.error_code();
    let r = stack.json("POST", &enable, None, &reason);
    assert_eq!(r.status, 401, "{r:?}");
    let r = stack.send(
        "POST",
        "/v1/admin/provider-tokens/not-a-uuid/enable",
        Some(&admin.token),
        None,
        &[],
    );
    assert_eq!(r.status, 400, "{r:?}");
    r.error_code();
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("id"),
        "{r:?}"
    );
    let r = stack.json(
        "POST",
        &format!("/v1/admin/provider-tokens/{}/enable", Uuid::new_v4()),
        Some(&admin.token),
        &reason,
    );
    assert_eq!(r.status, 404, "{r:?}");
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("token_id") && !message.contains("p_"),
        "errors use the API's field names: {r:?}"
    );
    assert!(
        !health(&stack, bad).is_active,
        "a refused call re-enabled the token"
    );

    // An admin re-enables it: back in the pool with clean counters.
    let r = stack.json("POST", &enable, Some(&admin.token), &reason);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["is_active"], true, "{r:?}");
    assert!(!r.body.to_string().contains(&bad_secret));
    let h = health(&stack, bad);
    assert_eq!(
        (
            h.is_active,
            h.disabled,
            h.consecutive_errors,
            h.cooldown_left
        ),
        (true, false, 0, None),
        "{h:?}"
    );
    // It is handed out again (and, still revoked at the provider, counts one more 401).
    let bound = active_pool(&stack).len() + 2;
    let mut sent = 0;
    while provider_saw(&stack, &bad_secret).len() == 5 {
        assert!(sent < bound, "the re-enabled token is never handed out");
        generate(&stack, &user, &format!("after re-enabling {sent}"));
        sent += 1;
    }
    assert_eq!(health(&stack, bad).consecutive_errors, 1);

    drop(own);
    assert_eq!(stack.audit(), json!([]), "audit_credits found violations");
}
