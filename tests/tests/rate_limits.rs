//! Rate limits and plan quotas end to end through workerd (the Workers Rate Limiting binding
//! as wrangler's miniflare implements it): a burst over a user's requests per minute is
//! refused with 429 and `Retry-After` after exactly the allowed requests succeed, charges
//! nothing and is counted in the request log; requests without a user count per address; a
//! plan's concurrent generations refuse the next one with 429 before any credit is held.

use genbase_tests::{Reply, Stack, User};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `[ratelimits.simple] limit` of `binding` in a function's wrangler.toml: the test
/// reads the configured number rather than repeating it.
fn configured_limit(function: &str, binding: &str) -> usize {
    let path = format!(
        "{}/../functions/{function}/wrangler.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("wrangler.toml");
    let at = text
        .find(&format!("name = \"{binding}\""))
        .unwrap_or_else(|| panic!("{path} declares no {binding}"));
    let rest = &text[at..];
    let limit = rest.split("limit = ").nth(1).expect("a limit");
    limit
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a numeric limit")
}

/// Seconds into the current (clock-aligned) minute window.
fn into_window() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60
}

/// Waits for a fresh window when less than `needed` seconds of this one remain, so a burst
/// is counted in one window.
fn fresh_window_for(needed: u64) {
    let into = into_window();
    if 60 - into < needed {
        std::thread::sleep(Duration::from_secs(60 - into) + Duration::from_millis(200));
    }
}

/// `n` requests made by `make` from 16 threads at once; their statuses.
fn burst(n: usize, make: impl Fn() -> Reply + Send + Sync + 'static) -> Vec<u16> {
    let make = Arc::new(make);
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let make = make.clone();
            std::thread::spawn(move || {
                (0..n)
                    .filter(|i| i % 16 == t)
                    .map(|_| make().status)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().expect("burst thread"))
        .collect()
}

fn retry_after(r: &Reply) -> u64 {
    r.header("retry-after")
        .unwrap_or_else(|| panic!("a 429 without Retry-After: {r:?}"))
        .parse()
        .expect("Retry-After in whole seconds")
}

fn start(stack: &Stack, user: &User, prompt: &str, key: &str) -> Reply {
    stack.send(
        "POST",
        "/v1/generations",
        Some(&user.token),
        Some(&json!({"kind": "image", "model": "flux-schnell", "prompt": prompt}).to_string()),
        &[
            ("content-type", "application/json"),
            ("idempotency-key", key),
        ],
    )
}

/// The request log's rows for `user` with `status` under `function`, once the batch that
/// holds them is written (the log flushes after the responses).
fn logged(stack: &Stack, function: &str, user: &User, status: i32, at_least: i64) -> i64 {
    let mut db = stack.db();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let n: i64 = db
            .query_one(
                "select count(*) from public.api_logs where function = $1 and user_id = $2 and status_code = $3",
                &[&function, &user.id, &status],
            )
            .expect("api_logs")
            .get(0);
        if n >= at_least || std::time::Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn every_user_facing_function_declares_both_limits() {
    let root = format!("{}/../functions", env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).expect("functions") {
        let dir = entry.expect("entry").path();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let Ok(text) = std::fs::read_to_string(dir.join("wrangler.toml")) else {
            continue;
        };
        // The provider webhooks and the GPU workers authenticate by signature or worker key
        // and retry on their own schedule; the router forwards to the functions, which count.
        let limited = !matches!(name.as_str(), "webhooks" | "worker" | "router");
        for binding in ["USER_RATE_LIMIT", "IP_RATE_LIMIT"] {
            assert_eq!(
                text.contains(&format!("name = \"{binding}\"")),
                limited,
                "functions/{name}/wrangler.toml and {binding}"
            );
        }
        checked += 1;
    }
    assert!(checked > 10, "only {checked} functions found");
}

#[test]
fn a_burst_over_a_users_limit_is_refused_with_retry_after_and_charges_nothing() {
    let stack = Arc::new(Stack::from_env());
    let limit = configured_limit("profile", "USER_RATE_LIMIT");
    let (_, user) = stack.funded_user("burst", 100);
    let bystander = stack.new_user("bystander");
    let before = stack.credits(&user);

    fresh_window_for(40);
    let (s, token) = (stack.clone(), user.token.clone());
    let statuses = burst(limit, move || s.get("/v1/me", Some(&token)));
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        limit,
        "every request within the limit succeeds: {statuses:?}"
    );

    let refused = stack.get("/v1/me", Some(&user.token));
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(refused.error_code(), "rate_limited");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("user_requests_per_minute"),
        "names the limit: {message}"
    );
    let wait = retry_after(&refused);
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let served_again_at = std::time::Instant::now() + Duration::from_secs(wait);

    // A refused write reaches no RPC: no generation, nothing held or spent. (Locally each
    // Worker counts its own requests, so exhaust the generations function's count first,
    // within one window.)
    fresh_window_for(30);
    let (s, token) = (stack.clone(), user.token.clone());
    let listed = burst(limit, move || {
        s.get("/v1/generations?limit=1", Some(&token))
    });
    assert!(listed.iter().all(|s| *s == 200 || *s == 429), "{listed:?}");
    let refused = start(&stack, &user, "a refused fox", "rate-limited-1");
    assert_eq!(refused.status, 429, "{refused:?}");
    retry_after(&refused);
    let count: i64 = stack
        .db()
        .query_one(
            "select count(*) from public.generations where user_id = $1",
            &[&user.id],
        )
        .unwrap()
        .get(0);
    assert_eq!(count, 0, "a refused request created no generation");

    // Another user is not limited by this one's burst.
    assert_eq!(stack.get("/v1/me", Some(&bystander.token)).status, 200);

    // Refusals are counted: the request log holds the 429s under their function and user.
    assert!(
        logged(&stack, "profile", &user, 429, 1) >= 1,
        "429s are in api_logs"
    );

    // Once the window the Retry-After named has passed, the user is served again, and the
    // refusals cost nothing.
    let left = served_again_at.saturating_duration_since(std::time::Instant::now());
    std::thread::sleep(left + Duration::from_millis(300));
    assert_eq!(stack.get("/v1/me", Some(&user.token)).status, 200);
    assert_eq!(stack.credits(&user)["available"], before["available"]);
    assert_eq!(stack.credits(&user)["balance"], before["balance"]);
}

#[test]
fn requests_without_a_user_count_per_address() {
    let stack = Arc::new(Stack::from_env());
    let limit = configured_limit("usage", "IP_RATE_LIMIT");
    let user = stack.new_user("signed-in");
    // An address of this test's own (TEST-NET-2, RFC 5737), so its count touches no other
    // suite's requests from 127.0.0.1. On Cloudflare the edge sets `cf-connecting-ip` and a
    // client cannot; locally wrangler keeps the one a request brings.
    let address = format!("198.51.100.{}", 1 + into_window() % 250);
    let from = move |s: &Stack, token: Option<&str>| {
        s.send(
            "GET",
            "/v1/usage",
            token,
            None,
            &[("cf-connecting-ip", &address)],
        )
    };

    fresh_window_for(30);
    let s = stack.clone();
    let send = from.clone();
    let statuses = burst(limit, move || send(&s, None));
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let refused = from(&stack, None);
    assert_eq!(refused.status, 429, "{refused:?}");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("ip_requests_per_minute"), "{message}");
    let wait = retry_after(&refused);
    assert!(wait <= 60, "Retry-After {wait}");
    // Another address is not refused for it.
    assert_eq!(stack.get("/v1/usage", None).status, 401);

    // Counted: requests without a user are counted per function, status and minute.
    let mut db = stack.db();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let counted: i64 = db
            .query_one(
                "select coalesce(sum(requests), 0)::bigint from public.api_log_counts
                 where function = 'usage' and status_code = 429 and minute > now() - interval '5 minutes'",
                &[],
            )
            .unwrap()
            .get(0);
        if counted >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no 429 counted in api_log_counts"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // A signed-in user from the same address counts as themselves.
    assert_eq!(from(&stack, Some(&user.token)).status, 200);
}

#[test]
fn a_plans_concurrent_generations_refuse_the_next_before_any_hold() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("concurrency", 100);
    let plan = format!("e2e_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let mut db = stack.db();
    db.execute(
        "insert into public.plans (id, name, concurrent_generations) values ($1, 'one at a time', 1)",
        &[&plan],
    )
    .unwrap();
    db.execute(
        "update public.profiles set plan = $1 where id = $2",
        &[&plan, &user.id],
    )
    .unwrap();

    // "[never]": the fake provider keeps it processing until it is canceled.
    let first = start(&stack, &user, "[never] a slow fox", "c-1");
    assert_eq!(first.status, 202, "{first:?}");
    let held: Value = stack.credits(&user)["held"].clone();

    let refused = start(&stack, &user, "a second fox", "c-2");
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(refused.error_code(), "rate_limited");
    assert_eq!(
        refused.body["error"]["message"],
        "concurrent generation limit reached: 1 in progress and concurrent_generations allows 1"
    );
    assert_eq!(retry_after(&refused), 10);
    assert_eq!(
        stack.credits(&user)["held"],
        held,
        "the refusal held nothing"
    );

    let id = first.body["generation"]["id"].as_str().unwrap();
    let canceled = stack.send(
        "POST",
        &format!("/v1/generations/{id}/cancel"),
        Some(&user.token),
        None,
        &[],
    );
    assert_eq!(canceled.status, 200, "{canceled:?}");
    let next = start(&stack, &user, "[never] the next fox", "c-3");
    assert_eq!(
        next.status, 202,
        "once one ends, the next is accepted: {next:?}"
    );
    let id = next.body["generation"]["id"].as_str().unwrap().to_string();
    stack.send(
        "POST",
        &format!("/v1/generations/{id}/cancel"),
        Some(&user.token),
        None,
        &[],
    );
}
