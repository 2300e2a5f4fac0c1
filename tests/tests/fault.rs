//! Postgres crash under load: 8 clients start generations through the stack while Postgres is
//! killed with SIGKILL and restarted 3 seconds later. Webhooks answered 5xx during the outage
//! until the provider gave up, submissions cut between the provider's answer and recording the
//! prediction id: reconciliation (run here through its admin route, as the local sweeper and
//! the Cron Trigger run it) must end every generation within a few minutes, with the charge
//! its outcome at the provider implies, no hold left open, and a clean ledger audit.
//!
//! This file holds only this test: it takes the database away from everything else running.

use genbase_tests::{Stack, User};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 8;
const PRICE: i64 = 5;
const GRANT: i64 = 100_000;
/// Load before the crash, the outage itself, and load after the restart.
const BEFORE_CRASH: Duration = Duration::from_secs(4);
const OUTAGE: Duration = Duration::from_secs(3);
const AFTER_RESTART: Duration = Duration::from_secs(5);
/// Reconciliation looks at a generation 2 minutes after it started and again a minute later
/// if it is still running; everything must be over well within this.
const SETTLE_WITHIN: Duration = Duration::from_secs(6 * 60);

/// One POST without the shared client's panics: during the outage a request may fail in any
/// way, and the test only needs to know which generations were created.
fn start(agent: &ureq::Agent, stack: &Stack, user: &User, body: &Value) -> Option<String> {
    let answer = agent
        .post(&format!("{}/v1/generations", stack.api_url))
        .set("authorization", &format!("Bearer {}", user.token))
        .send_json(body.clone());
    match answer {
        Ok(r) => r.into_json::<Value>().ok()?["generation"]["id"]
            .as_str()
            .map(str::to_owned),
        // A refusal (5xx while the database is away, 402) created nothing we can name; the
        // database check below finds any generation it did create anyway.
        Err(_) => None,
    }
}

fn prompt(i: usize) -> (String, u32) {
    match i % 10 {
        0 => ("[fail] a storm".into(), 1),
        1 => ("[nowebhook] a quiet harbour".into(), 2),
        2 => ("[slow] a slow tide".into(), 1),
        n => (format!("a lighthouse, take {n}"), 1 + (i % 3) as u32),
    }
}

#[test]
fn generations_end_with_their_charge_after_postgres_is_killed_and_restarted() {
    let stack = Stack::from_env();
    let data =
        PathBuf::from(std::env::var("STACK_DIR").expect("STACK_DIR (run via cargo xtask test)"));
    let admin = stack.new_user("fault-admin");
    stack.make_admin(&admin);
    let users: Vec<User> = (0..CLIENTS)
        .map(|i| {
            let u = stack.new_user(&format!("fault-{i}"));
            stack.grant(&admin, &u, GRANT);
            u
        })
        .collect();
    let user_ids: Vec<uuid::Uuid> = users.iter().map(|u| u.id).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let stack = Arc::new(stack);
    let clients: Vec<_> = users
        .into_iter()
        .enumerate()
        .map(|(c, user)| {
            let (stack, stop) = (stack.clone(), stop.clone());
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(20))
                    .build();
                let (mut started, mut refused) = (0, 0);
                let mut i = c;
                while !stop.load(Ordering::SeqCst) {
                    let (p, n) = prompt(i);
                    let body = json!({"kind": "image", "model": "flux-schnell", "prompt": p,
                                      "params": {"num_outputs": n}});
                    match start(&agent, &stack, &user, &body) {
                        Some(_) => started += 1,
                        None => {
                            refused += 1;
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                    i += CLIENTS;
                }
                (started, refused)
            })
        })
        .collect();

    std::thread::sleep(BEFORE_CRASH);
    xtask::postgres::crash(&data).expect("kill postgres");
    let crashed_at = Instant::now();
    std::thread::sleep(OUTAGE);
    xtask::postgres::restart(&data).expect("restart postgres");
    eprintln!(
        "fault: postgres back after {:.1}s",
        crashed_at.elapsed().as_secs_f64()
    );
    std::thread::sleep(AFTER_RESTART);
    stop.store(true, Ordering::SeqCst);
    let (mut started, mut refused) = (0, 0);
    for c in clients {
        let (s, r) = c.join().expect("client thread");
        started += s;
        refused += r;
    }
    eprintln!("fault: {started} generations accepted, {refused} requests refused");
    assert!(started > CLIENTS * 5, "too little load to mean anything");
    assert!(
        refused > 0,
        "no request failed: the outage did not happen while clients were running"
    );

    // The stand-in reconnects on its own: a plain read works again.
    let mut db = stack.db();
    let deadline = Instant::now() + Duration::from_secs(30);
    while stack.get("/v1/me", Some(&admin.token)).status != 200 {
        assert!(
            Instant::now() < deadline,
            "the stack did not recover from the restart"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Drive reconciliation until nothing is left open.
    let open = |db: &mut postgres::Client| -> (i64, i64) {
        let row = db
            .query_one(
                "select
                   (select count(*) from public.generations
                    where user_id = any($1) and status in ('queued', 'processing')),
                   (select count(*) from public.credit_holds h
                    join public.credit_accounts a on a.id = h.account_id
                    where a.owner_user_id = any($1) and h.status = 'open')",
                &[&user_ids],
            )
            .expect("count open work");
        (row.get(0), row.get(1))
    };
    let started_waiting = Instant::now();
    loop {
        let r = stack.send("POST", "/v1/admin/reconcile", Some(&admin.token), None, &[]);
        assert_eq!(r.status, 200, "{r:?}");
        let (generations, holds) = open(&mut db);
        if generations == 0 && holds == 0 {
            break;
        }
        assert!(
            started_waiting.elapsed() < SETTLE_WITHIN,
            "{generations} generations and {holds} holds still open after {:?}",
            SETTLE_WITHIN
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    eprintln!(
        "fault: everything ended {:.0}s after the load stopped",
        started_waiting.elapsed().as_secs_f64()
    );

    // What the provider did, by prediction id and by the generation id in its webhook URL.
    let listed = genbase_tests::send(
        &format!("{}/v1/predictions", stack.provider_url),
        "GET",
        Some("r8_test"),
        None,
        &[],
    );
    assert_eq!(listed.status, 200, "{listed:?}");
    let mut by_id: HashMap<String, Value> = HashMap::new();
    let mut by_generation: HashMap<String, String> = HashMap::new();
    for p in listed.body["results"].as_array().unwrap() {
        let id = p["id"].as_str().unwrap().to_string();
        if let Some(g) = p["webhook"]
            .as_str()
            .and_then(|w| w.split_once("generation_id="))
        {
            by_generation.insert(g.1.to_string(), id.clone());
        }
        by_id.insert(id, p.clone());
    }

    let rows = db
        .query(
            "select id::text, user_id, status, provider_prediction_id, credits_reserved,
                    coalesce(credits_charged, 0), coalesce(jsonb_array_length(coalesce(outputs -> 'files', outputs -> 'provider_urls')), 0)
             from public.generations where user_id = any($1)",
            &[&user_ids],
        )
        .unwrap();
    let mut charged_per_user: HashMap<uuid::Uuid, i64> = HashMap::new();
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for row in &rows {
        let (id, user, status): (String, uuid::Uuid, String) = (row.get(0), row.get(1), row.get(2));
        let prediction: Option<String> = row.get(3);
        let (reserved, charged, urls): (i64, i64, i32) = (row.get(4), row.get(5), row.get(6));
        *outcomes.entry(status.clone()).or_default() += 1;
        *charged_per_user.entry(user).or_default() += charged;
        // Whatever the provider ran for this generation is the one recorded.
        if let Some(found) = by_generation.get(&id) {
            assert_eq!(
                prediction.as_deref(),
                Some(found.as_str()),
                "generation {id} ran at the provider as {found} but records {prediction:?}"
            );
        }
        match prediction.as_ref().and_then(|p| by_id.get(p)) {
            Some(p) => {
                let at_provider = p["status"].as_str().unwrap();
                assert_eq!(
                    status, at_provider,
                    "generation {id} is {status}, its prediction {at_provider}"
                );
                if status == "succeeded" {
                    let produced = p["output"].as_array().map_or(0, Vec::len) as i64;
                    assert_eq!(
                        (charged, urls as i64),
                        (produced * PRICE, produced),
                        "generation {id}: charge and outputs follow what was produced"
                    );
                    assert!(charged <= reserved);
                } else {
                    assert_eq!(charged, 0, "generation {id} ({status}) was charged");
                }
            }
            None => {
                // Never submitted: it cannot have succeeded, and nothing was charged.
                assert_eq!(status, "failed", "generation {id} without a prediction");
                assert_eq!(charged, 0);
            }
        }
    }
    eprintln!("fault: outcomes {outcomes:?}");
    assert!(outcomes.get("succeeded").copied().unwrap_or(0) > 0);
    // `[nowebhook]` predictions (one in ten) can only have ended through reconciliation.
    let polled: i64 = db
        .query_one(
            "select count(*) from public.webhook_events e
             join public.generations g
               on g.provider = e.provider and g.provider_prediction_id = e.prediction_id
             where g.user_id = any($1) and e.webhook_id like 'poll:%'",
            &[&user_ids],
        )
        .unwrap()
        .get(0);
    eprintln!("fault: {polled} generations settled by reconciliation");
    assert!(polled > 0, "reconciliation settled nothing");

    // Every user's balance is the grant less what their generations were charged.
    for (user, charged) in &charged_per_user {
        let balance: i64 = db
            .query_one(
                "select balance from public.credit_accounts where owner_user_id = $1",
                &[user],
            )
            .unwrap()
            .get(0);
        assert_eq!(balance, GRANT - charged, "user {user}");
    }
    assert_eq!(stack.audit(), json!([]));
}
