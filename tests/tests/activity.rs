//! Activity, errors, performance, costs and the maintenance jobs end to end through workerd:
//! a user's writes become their activity (and nobody else's); a real 5xx is an error row
//! with the request id the client saw, read by staff only; the roll-up counts it; monthly
//! costs per user with the admin rule; and each maintenance job, run twice at once from two
//! connections, does its work exactly once with the credit audit still empty.

use genbase_tests::{Stack, User};
use serde_json::{json, Value};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// The request log is written after the responses, in batches (a quarter of a second and
/// more under load): reads that depend on it poll.
fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within 20 s");
        // Not faster: the per-user rate limit counts these requests too.
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn staff(stack: &Stack, label: &str, role: &str) -> User {
    let user = stack.new_user(label);
    stack
        .db()
        .execute(
            "update public.profiles set role = $2::text::public.app_role where id = $1",
            &[&user.id, &role],
        )
        .expect("role");
    user
}

fn items(r: &genbase_tests::Reply) -> Vec<Value> {
    assert_eq!(r.status, 200, "{r:?}");
    r.body["items"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_users_writes_are_their_activity_and_nobody_elses() {
    let stack = Stack::from_env();
    let alice = stack.new_user("activity-alice");
    let bob = stack.new_user("activity-bob");

    let created = stack.json(
        "POST",
        "/v1/projects",
        Some(&alice.token),
        &json!({"name": "Activity"}),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let request_id = created.request_id.clone().expect("x-request-id");
    let project = created.body["id"].as_str().unwrap().to_string();
    let r = stack.json(
        "PATCH",
        &format!("/v1/projects/{project}"),
        Some(&alice.token),
        &json!({"name": "Activity, renamed"}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    // A read and a refused write are no activity.
    assert_eq!(stack.get("/v1/projects", Some(&alice.token)).status, 200);
    let refused = stack.json("POST", "/v1/projects", Some(&alice.token), &json!({}));
    assert_eq!(refused.status, 400, "{refused:?}");

    let mine = eventually("alice's two writes in her activity", || {
        let list = items(&stack.get("/v1/activity", Some(&alice.token)));
        (list.len() >= 2).then_some(list)
    });
    let actions: Vec<&str> = mine.iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["PATCH /v1/projects/:id", "POST /v1/projects"]);
    assert_eq!(mine[1]["request_id"], request_id.as_str());
    assert_eq!(mine[0]["path"], format!("/v1/projects/{project}"));

    // Keyset: one per page.
    let first = stack.get("/v1/activity?limit=1", Some(&alice.token));
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = stack.get(
        &format!("/v1/activity?limit=1&cursor={cursor}"),
        Some(&alice.token),
    );
    assert_eq!(items(&second)[0]["request_id"], request_id.as_str());

    assert!(items(&stack.get("/v1/activity", Some(&bob.token))).is_empty());
    let r = stack.get("/v1/activity", None);
    assert_eq!(r.status, 401, "{r:?}");
    r.error_code();
    let r = stack.get("/v1/activity?limit=0", Some(&alice.token));
    assert_eq!(r.status, 400, "{r:?}");
    r.error_code();
}

#[test]
fn a_server_error_is_logged_with_its_request_id_for_staff_and_rolled_up() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("activity-5xx", 50);
    // The fake provider answers 429 for this marker: the generations function answers 502.
    let body = json!({"kind": "image", "model": "flux-schnell", "prompt": "[throttle] activity",
                      "params": {"num_outputs": 1}});
    let failed = stack.json("POST", "/v1/generations", Some(&user.token), &body);
    assert_eq!(failed.status, 502, "{failed:?}");
    let request_id = failed.request_id.clone().expect("x-request-id");

    let moderator = staff(&stack, "activity-mod", "moderator");
    let admin = staff(&stack, "activity-admin", "admin");
    let path = format!("/v1/admin/errors?user_id={}", user.id);
    let errors = eventually("the 502 in the error log", || {
        let list = items(&stack.get(&path, Some(&moderator.token)));
        (!list.is_empty()).then_some(list)
    });
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    assert_eq!(e["request_id"], request_id.as_str());
    assert_eq!(
        (
            e["function"].as_str(),
            e["method"].as_str(),
            e["route"].as_str()
        ),
        (Some("generations"), Some("POST"), Some("/v1/generations"))
    );
    assert_eq!(e["status_code"], 502);
    // Nothing of the request but its shape: no token, no key, no body.
    let text = e.to_string();
    for secret in [
        user.token.as_str(),
        stack.service_role_key.as_str(),
        "throttle",
    ] {
        assert!(!text.contains(secret), "{text}");
    }
    let r = stack.get(
        "/v1/admin/errors?function=generations&limit=1",
        Some(&admin.token),
    );
    assert_eq!(items(&r).len(), 1);

    // A user is refused, named the role; so is the stranger without a token.
    let r = stack.get("/v1/admin/errors", Some(&user.token));
    assert_eq!((r.status, r.error_code()), (403, "forbidden"), "{r:?}");
    assert_eq!(stack.get("/v1/admin/errors", None).status, 401);

    // The roll-up (the sweeper runs it every 10 s; run here so the test need not wait).
    stack
        .db()
        .execute("select api.rollup_performance_metrics()", &[])
        .expect("roll-up");
    let r = stack.get(
        "/v1/admin/performance?function=generations&hours=2",
        Some(&admin.token),
    );
    let hours = items(&r);
    assert!(
        hours.iter().any(|h| h["errors"].as_i64() >= Some(1)
            && h["requests"].as_i64() >= h["errors"].as_i64()
            && h["p50_ms"].is_i64()),
        "{hours:?}"
    );
    let r = stack.get("/v1/admin/performance", Some(&moderator.token));
    assert_eq!(r.status, 403, "{r:?}");
    r.error_code();
    let r = stack.get("/v1/admin/performance?hours=0", Some(&admin.token));
    assert_eq!(r.status, 400, "{r:?}");
    r.error_code();
    assert_eq!(stack.audit(), json!([]));
}

#[test]
fn monthly_costs_are_the_users_own_or_an_admins_to_read() {
    let stack = Stack::from_env();
    let alice = stack.new_user("costs-alice");
    let bob = stack.new_user("costs-bob");
    let admin = staff(&stack, "costs-admin", "admin");
    stack
        .db()
        .execute(
            "insert into public.usage_events (user_id, action, provider, model, units, credits, cost_usd, created_at)
             values ($1, 'text-to-image', 'replicate', 'flux-schnell', 1, 10, 0.003, '2026-10-03 10:00+00'),
                    ($1, 'text-to-image', 'replicate', 'flux-dev', 1, 30, 0.025, '2026-10-31 23:00+00'),
                    ($1, 'text-to-image', 'replicate', 'flux-dev', 1, 30, 0.025, '2026-11-01 00:00+00')",
            &[&alice.id],
        )
        .expect("usage events");

    let r = stack.get("/v1/usage/costs?month=2026-10", Some(&alice.token));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        (&r.body["generations"], &r.body["credits"], &r.body["month"]),
        (&json!(2), &json!(40), &json!("2026-10-01"))
    );
    assert_eq!(r.body["by_day"].as_array().map(Vec::len), Some(2));
    assert_eq!(r.body["by_model"][0]["model"], "flux-dev");

    let other = format!("/v1/usage/costs?month=2026-10&user_id={}", alice.id);
    let r = stack.get(&other, Some(&bob.token));
    assert_eq!((r.status, r.error_code()), (403, "forbidden"), "{r:?}");
    let r = stack.get(&other, Some(&admin.token));
    assert_eq!((r.status, &r.body["credits"]), (200, &json!(40)), "{r:?}");
    let r = stack.get("/v1/usage/costs?month=2026-13", Some(&alice.token));
    assert_eq!(r.status, 400, "{r:?}");
    r.error_code();
}

/// The maintenance jobs, each with the rows it should handle planted long ago.
const JOBS: [&str; 5] = [
    "api.cleanup_old_generations()",
    "api.archive_old_conversations()",
    "api.purge_deleted_rows()",
    "api.apply_log_retention()",
    "api.rollup_performance_metrics()",
];

/// What a job's result counts: an int, or the sum of a jsonb object's counts.
fn handled(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or_default(),
        Value::Object(m) => m.values().map(handled).sum(),
        _ => 0,
    }
}

fn run_job(stack: &Stack, job: &str) -> Value {
    let row = stack
        .db()
        .query_one(&format!("select to_jsonb({job})"), &[])
        .unwrap_or_else(|e| panic!("{job}: {e}"));
    row.get(0)
}

#[test]
fn each_maintenance_job_run_twice_at_once_does_its_work_once() {
    let stack = Stack::from_env();
    let user = stack.new_user("retention");
    let mut db = stack.db();
    // The local sweeper runs these jobs too (api.run_due_jobs, which skips a job whose
    // registry row is locked): held here so the counts below are this test's alone.
    let mut hold = stack.db();
    let mut registry = hold.transaction().expect("transaction");
    registry
        .execute(
            "select 1 from private.scheduled_jobs where fn = any($1) for update",
            &[&JOBS.to_vec()],
        )
        .expect("lock the registry rows");

    let tag = format!("e2e-retention-{}", uuid::Uuid::new_v4().simple());
    db.batch_execute(&format!(
        "select private.change_credits('{u}', 'grant', 100, '{tag}', null, 'retention test');
         -- Three generations that failed 100 days ago, through the real path (hold released).
         do $$
         declare v_id uuid;
         begin
           for i in 1..3 loop
             insert into public.generations (user_id, kind, action, model, prompt, route, pricing_id,
               units, credits_reserved, status, provider, provider_prediction_id, created_at, started_at)
             select '{u}', 'image', p.action, p.model, 'retention', 'provider', p.id, 1, 10,
               'processing', 'replicate', '{tag}-' || i, now() - interval '100 days', now() - interval '100 days'
             from public.pricing p where p.model = 'flux-schnell' order by p.active_from desc limit 1
             returning id into v_id;
             perform private.place_hold((select id from public.credit_accounts where owner_user_id = '{u}'),
               10, v_id, now() + interval '1 hour', null);
             perform private.finish_generation(v_id, 'failed', null, 'retention test');
             update public.generations set completed_at = now() - interval '100 days' where id = v_id;
           end loop;
         end
         $$;
         insert into public.conversations (user_id, model, settings, last_message_at, deleted_at)
         select '{u}', 'gpt-4o-mini', '{{}}', now() - interval '200 days', null from generate_series(1, 4);
         insert into public.conversations (user_id, model, settings, last_message_at, deleted_at)
         select '{u}', 'gpt-4o-mini', '{{}}', now() - interval '60 days', now() - interval '40 days' from generate_series(1, 2);
         insert into public.projects (user_id, name, deleted_at)
         select '{u}', 'old ' || i, now() - interval '31 days' from generate_series(1, 2) i;
         insert into public.flows (user_id, name, deleted_at) values ('{u}', 'old', now() - interval '31 days');
         insert into public.api_logs (function, method, path, status_code, user_id, created_at)
         select '{tag}', 'GET', '/v1/x', 200, '{u}', now() - interval '31 days' from generate_series(1, 5);
         insert into public.error_logs (function, method, route, status_code, request_id, created_at)
         select '{tag}', 'GET', '/v1/x', 500, '{tag}', now() - interval '91 days' from generate_series(1, 2);
         -- This hour's requests of a function of its own, for the roll-up.
         insert into public.api_logs (function, method, path, status_code, duration_ms, user_id, created_at)
         select '{tag}-perf', 'GET', '/v1/x', 200, i, '{u}', now() from generate_series(1, 10) i;",
        u = user.id,
    ))
    .expect("plant the old rows");
    // What each job must handle (this test's rows; others' are not this old).
    let expected: [i64; 4] = [3, 4, 2 + 2 + 1, 5 + 2];

    for (i, job) in JOBS.iter().enumerate() {
        let barrier = Arc::new(Barrier::new(2));
        let results: Vec<Value> = std::thread::scope(|s| {
            let runs: Vec<_> = (0..2)
                .map(|_| {
                    let barrier = barrier.clone();
                    let stack = &stack;
                    s.spawn(move || {
                        barrier.wait();
                        run_job(stack, job)
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let again = run_job(&stack, job);
        if let Some(want) = expected.get(i) {
            assert_eq!(
                handled(&results[0]) + handled(&results[1]),
                *want,
                "{job}: two runs at once handle each planted row once: {results:?}"
            );
            // Each row once: the second run at once and a third one after find no more of
            // this test's rows (SKIP LOCKED and the bounds, not a double delete).
            assert_eq!(handled(&again), 0, "{job}: a third run still found {again}");
        }
    }

    // The end state, read directly: the planted rows were each handled, once.
    let mut count = |sql: &str| -> i64 {
        db.query_one(sql, &[&user.id])
            .map(|r| r.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    assert_eq!(
        count("select count(*) from public.generations where user_id = $1"),
        0
    );
    assert_eq!(
        count("select count(*) from public.conversations where user_id = $1 and archived and deleted_at is null"),
        4
    );
    assert_eq!(
        count("select count(*) from public.conversations where user_id = $1 and deleted_at is not null")
            + count("select count(*) from public.projects where user_id = $1")
            + count("select count(*) from public.flows where user_id = $1"),
        0
    );
    assert_eq!(
        count("select count(*) from public.api_logs where user_id = $1 and created_at < now() - interval '30 days'"),
        0
    );
    let perf = db
        .query_one(
            "select requests, p50_ms, max_ms from public.performance_metrics where function = $1",
            &[&format!("{tag}-perf")],
        )
        .expect("the roll-up's row");
    assert_eq!(
        (
            perf.get::<_, i64>(0),
            perf.get::<_, Option<i32>>(1),
            perf.get::<_, Option<i32>>(2)
        ),
        (10, Some(5), Some(10)),
        "two roll-ups at once count each request once"
    );
    registry.rollback().expect("release the registry rows");
    assert_eq!(stack.audit(), json!([]));
}
