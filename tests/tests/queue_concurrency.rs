//! The GPU queue under concurrency, straight against Postgres the way PostgREST calls the
//! worker RPCs (one transaction per call: `set local role`, the JWT claims, the function).
//!
//! 16 workers claim ~2,300 tasks at once (single and batched claims, 10 s leases): 2,000
//! plain tasks and 300 GPU generations whose credits are reserved by `api.create_generation`.
//! Each task carries a fate that decides what its workers do with it: complete, fail once
//! then complete, fail until dead, fail for good, crash (abandon the lease) once or every
//! time, or be canceled by its owner while queued or while running. A sweeper thread calls
//! `api.sweep_expired_leases` like the cron job would.
//!
//! Checked: no task is ever leased to two workers at once; every task ends exactly once in the
//! final state its fate implies, with attempts <= max_attempts; every retry is pushed back by
//! the documented backoff; crashed workers' tasks come back once their lease expired, and the
//! crashed worker's late heartbeat / complete / fail are refused (PT409) and change nothing;
//! dead letters exist for tasks that failed max_attempts times; each generation ends like its
//! task and is settled at most once at the GPU time reported; the credit audit is empty.
//!
//! The database is shared with tests running in parallel: everything here is created with
//! unique names and filtered by this run's own task type, never by global counts.

use genbase_shared::testing::Gen;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;
use xtask::pgrpc::{begin_as, call_as};

const WORKERS: usize = 16;
const DIRECT_TASKS: usize = 2000;
const GENERATIONS: usize = 300;
const USERS: usize = 6;
/// The shortest lease the API accepts: crashed tasks come back after 10 s.
const LEASE_SECONDS: i32 = 10;
/// Seconds of GPU time reserved per generation: wan-2.1-gpu budgets 60 GPU s per second of
/// video (one second asked for) and costs 0.5 credits a second.
const GPU_UNITS: f64 = 60.0;
const GPU_PRICE: f64 = 0.5;
const DEADLINE: Duration = Duration::from_secs(150);

const FINAL: [&str; 4] = ["succeeded", "failed", "dead", "canceled"];

/// What workers do with a task, by its params.fate.
/// ok: complete. flaky: fail (retryable) on attempt 1, then complete. crash: abandon the
/// lease on attempt 1, then complete. crashcrash: abandon every lease (dead by sweeps).
/// doomed: fail (retryable) every attempt (dead). fatal: fail, not retryable (failed).
/// cancel: the owner cancels the generation while a worker holds it. cancel_queued: the
/// owner cancels it before any worker could claim it.
fn direct_fate(n: usize) -> (&'static str, i32, i32) {
    // (fate, max_attempts, priority); crashing tasks go first so their leases expire early.
    let max = 2 + (n % 2) as i32;
    match n % 200 {
        0..=3 => ("crash", 3, 10),
        4 => ("crashcrash", 2, 10),
        5..=14 => ("doomed", max, 0),
        15..=19 => ("fatal", max, 0),
        20..=49 => ("flaky", max, 0),
        _ => ("ok", max, 0),
    }
}

fn generation_fate(i: usize) -> (&'static str, i32, i32) {
    let max = 2 + (i % 2) as i32;
    match i % 60 {
        0..=3 => ("crash", 3, 10),
        4 => ("crashcrash", 2, 10),
        5..=8 => ("doomed", max, 0),
        9..=10 => ("fatal", max, 0),
        11..=18 => ("flaky", max, 0),
        19..=20 => ("cancel_queued", max, 0),
        21..=23 => ("cancel", max, 0),
        _ => ("ok", max, 0),
    }
}

/// (final status, attempts) a fate must end with.
fn expected_end(fate: &str, max_attempts: i32) -> (&'static str, i32) {
    match fate {
        "ok" => ("succeeded", 1),
        "flaky" | "crash" => ("succeeded", 2),
        "doomed" | "crashcrash" => ("dead", max_attempts),
        "fatal" => ("failed", 1),
        "cancel" => ("canceled", 1),
        "cancel_queued" => ("canceled", 0),
        other => panic!("unknown fate {other}"),
    }
}

/// The documented retry delay for a task failed on its `attempts`-th attempt: 5 s x 2^attempts
/// capped at an hour, times a random factor in [0.5, 1).
fn backoff_bounds(attempts: i64) -> (f64, f64) {
    let base = (5.0 * 2f64.powi(attempts as i32)).min(3600.0);
    (base * 0.5, base)
}

fn assert_backoff(task: Uuid, attempts: i64, seconds: f64) {
    let (lo, hi) = backoff_bounds(attempts);
    assert!(
        seconds >= lo - 0.001 && seconds <= hi + 0.001,
        "task {task} failed on attempt {attempts} is due again after {seconds:.3} s, not within [{lo}, {hi}) s"
    );
}

/// One connection (one per thread) with its prepared statements.
struct Db {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

fn error_code(e: &postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| e.to_string())
}

impl Db {
    fn connect(url: &str) -> Db {
        let client =
            Client::connect(url, NoTls).unwrap_or_else(|e| panic!("connect to DATABASE_URL: {e}"));
        Db {
            client,
            statements: HashMap::new(),
        }
    }

    fn statement(&mut self, sql: &'static str) -> Statement {
        if let Some(s) = self.statements.get(sql) {
            return s.clone();
        }
        let s = self
            .client
            .prepare(sql)
            .unwrap_or_else(|e| panic!("prepare {sql}: {e}"));
        self.statements.insert(sql, s.clone());
        s
    }

    /// One RPC in its own transaction, as PostgREST runs it: `sql` selects one jsonb value.
    fn rpc(
        &mut self,
        role: &str,
        sub: Option<Uuid>,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Value, postgres::Error> {
        let statement = self.statement(sql);
        call_as(&mut self.client, role, sub, &statement, params)
    }

    fn service(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Value, postgres::Error> {
        self.rpc("service_role", None, sql, params)
    }

    /// Plain SQL as the superuser (test bookkeeping only).
    fn sql(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Vec<postgres::Row> {
        let statement = self.statement(sql);
        self.client
            .query(&statement, params)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Everything a late call could change about a task: its row, its generation and the
    /// generation's ledger entries.
    fn snapshot(&mut self, task: Uuid) -> Value {
        self.sql(
            "select to_jsonb(t) || jsonb_build_object(
               'generation', (select to_jsonb(g) from public.generations g where g.id = t.generation_id),
               'ledger', (select count(*) from public.credit_ledger l where l.generation_id = t.generation_id))
             from public.tasks t where t.id = $1",
            &[&task],
        )[0]
        .get(0)
    }
}

const CLAIM: &str = "select coalesce(jsonb_agg(c || jsonb_build_object(
       'lease_epoch', extract(epoch from (c ->> 'lease_expires_at')::timestamptz))), '[]'::jsonb)
     from jsonb_array_elements(api.worker_claim($1, array[$2::text], $3, $4)) c";
const COMPLETE: &str = "select api.worker_complete($1, $2, $3, $4::float8::numeric)";
/// worker_fail, plus the delay until the task is due again (run_at and updated_at are both
/// the failing transaction's now()).
const FAIL: &str = "select r || jsonb_build_object('backoff_s',
       extract(epoch from (r ->> 'run_at')::timestamptz - (r ->> 'updated_at')::timestamptz))
     from api.worker_fail($1, $2, $3, $4) as r";
const HEARTBEAT: &str = "select api.worker_heartbeat($1, $2, $3)";
const CANCEL: &str = "select api.cancel_generation($1)";
/// Tests cannot wait out every backoff: once a retry's delay has been checked, the test makes
/// the task due now (as the superuser) so the run stays short.
const FAST_FORWARD: &str =
    "update public.tasks set run_at = now() where id = $1 and status = 'queued'";

/// Who holds a task's lease, as the workers saw it (left in place when a worker crashes).
struct Holder {
    worker: usize,
    key: String,
    lease_epoch: f64,
}

type Shared<T> = Arc<Mutex<T>>;

struct Run {
    url: String,
    task_type: String,
    running: Shared<HashMap<Uuid, Holder>>,
    /// Successful worker_complete calls per task, with the duration reported.
    completions: Shared<HashMap<Uuid, Vec<f64>>>,
    /// Tasks whose worker crashed, with that worker's key, until the sweeper has checked
    /// the crashed worker's late calls.
    zombies: Shared<HashMap<Uuid, String>>,
    owners: HashMap<Uuid, Uuid>,
    backoffs_checked: AtomicUsize,
    crashes: AtomicUsize,
    zombies_checked: AtomicUsize,
    /// Crashed workers' calls made after their lease expired but before a sweep.
    expired_checked: AtomicUsize,
    stop: AtomicBool,
}

/// Stops the run when a thread panics, so the others do not loop until the deadline.
struct StopOnPanic<'a>(&'a AtomicBool);
impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, SeqCst);
        }
    }
}

fn uuid_of(v: &Value) -> Uuid {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a uuid: {v}"))
}

fn worker_loop(run: &Run, index: usize, key: &str) {
    let _guard = StopOnPanic(&run.stop);
    let mut db = Db::connect(&run.url);
    let mut rng = Gen::new(0x9E37_79B9_7F4A_7C15 ^ ((index as u64 + 1) * 0x1000_0001));
    while !run.stop.load(SeqCst) {
        // Mostly single claims, some batches of up to 8.
        let limit = if rng.below(2) == 0 {
            1
        } else {
            1 + rng.below(8) as i32
        };
        let claimed = db
            .service(CLAIM, &[&key, &run.task_type, &limit, &LEASE_SECONDS])
            .unwrap_or_else(|e| panic!("claim: {e}"));
        let items = claimed.as_array().expect("claim returns an array").clone();
        assert!(
            items.len() <= limit as usize,
            "claimed {} tasks with p_limit {limit}",
            items.len()
        );
        if items.is_empty() {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        for item in &items {
            let lease_epoch = item["lease_epoch"].as_f64().expect("lease_expires_at");
            let id = uuid_of(&item["id"]);
            let holder = Holder {
                worker: index,
                key: key.to_string(),
                lease_epoch,
            };
            let previous = run.running.lock().unwrap().insert(id, holder);
            if let Some(p) = previous {
                let lease_start = lease_epoch - LEASE_SECONDS as f64;
                assert!(
                    p.lease_epoch <= lease_start + 0.001,
                    "task {id} leased to worker {index} while worker {}'s lease ran until {} (> {lease_start})",
                    p.worker,
                    p.lease_epoch
                );
                if p.worker != index {
                    // The crashed worker comes back while another one holds the task.
                    let e = db
                        .service(HEARTBEAT, &[&p.key, &id, &LEASE_SECONDS])
                        .expect_err("stale heartbeat");
                    assert_eq!(error_code(&e), "PT409", "stale heartbeat: {e}");
                    let e = db
                        .service(COMPLETE, &[&p.key, &id, &json!({"zombie": true}), &2.0f64])
                        .expect_err("stale complete");
                    assert_eq!(error_code(&e), "PT409", "stale complete: {e}");
                }
            }
        }
        for item in items {
            process(run, &mut db, &mut rng, key, &item);
        }
    }
}

fn process(run: &Run, db: &mut Db, rng: &mut Gen, key: &str, item: &Value) {
    let id = uuid_of(&item["id"]);
    let attempt = item["attempt"].as_i64().unwrap();
    let max_attempts = item["max_attempts"].as_i64().unwrap();
    let fate = item["params"]["fate"]
        .as_str()
        .unwrap_or_else(|| panic!("task without fate: {item}"))
        .to_string();
    assert!(
        attempt >= 1 && attempt <= max_attempts,
        "claimed attempt {attempt} of {max_attempts}: {item}"
    );
    let stop_running = || {
        run.running.lock().unwrap().remove(&id);
    };

    match (fate.as_str(), attempt) {
        ("ok", _) | ("flaky", 2..) | ("crash", 2..) => {
            if rng.below(4) == 0 {
                let r = db.service(HEARTBEAT, &[&key, &id, &LEASE_SECONDS]);
                r.unwrap_or_else(|e| panic!("heartbeat {id}: {e}"));
            }
            // 1 to 91 s: some reports exceed the 60 s budget and must be capped.
            let duration = (10 + rng.below(900)) as f64 / 10.0;
            stop_running();
            let t = db
                .service(
                    COMPLETE,
                    &[
                        &key,
                        &id,
                        &json!({"by": key.len(), "fate": fate}),
                        &duration,
                    ],
                )
                .unwrap_or_else(|e| panic!("complete {id} ({fate}, attempt {attempt}): {e}"));
            assert_eq!(t["status"], "succeeded", "{t}");
            run.completions
                .lock()
                .unwrap()
                .entry(id)
                .or_default()
                .push(duration);
        }
        ("flaky", _) | ("doomed", _) => {
            stop_running();
            let error = format!("{fate} attempt {attempt}");
            let t = db
                .service(FAIL, &[&key, &id, &error, &true])
                .unwrap_or_else(|e| panic!("fail {id}: {e}"));
            assert_eq!(t["attempts"], attempt, "{t}");
            if attempt < max_attempts {
                assert_eq!(
                    t["status"], "queued",
                    "a retryable failure with attempts left requeues: {t}"
                );
                assert!(
                    t["lease_expires_at"].is_null() && t["worker_id"].is_null(),
                    "{t}"
                );
                assert_backoff(id, attempt, t["backoff_s"].as_f64().unwrap());
                run.backoffs_checked.fetch_add(1, SeqCst);
                db.sql(FAST_FORWARD, &[&id]);
            } else {
                assert_eq!(
                    t["status"], "dead",
                    "the last retryable failure is a dead letter: {t}"
                );
            }
        }
        ("crash", _) | ("crashcrash", _) => {
            // The worker dies holding the lease: no heartbeat, no complete, no fail.
            run.zombies.lock().unwrap().insert(id, key.to_string());
            run.crashes.fetch_add(1, SeqCst);
        }
        ("fatal", _) => {
            stop_running();
            let t = db
                .service(FAIL, &[&key, &id, &"fatal", &false])
                .unwrap_or_else(|e| panic!("fail {id}: {e}"));
            assert_eq!(t["status"], "failed", "{t}");
        }
        ("cancel", _) => {
            // The owner cancels while this worker renders; the worker then learns it lost the lease.
            let generation = uuid_of(&item["generation_id"]);
            let owner = run.owners[&generation];
            let g = db
                .rpc("authenticated", Some(owner), CANCEL, &[&generation])
                .unwrap_or_else(|e| panic!("cancel {generation}: {e}"));
            assert_eq!(g["status"], "canceled", "{g}");
            stop_running();
            let e = db
                .service(HEARTBEAT, &[&key, &id, &LEASE_SECONDS])
                .expect_err("heartbeat after cancel");
            assert_eq!(error_code(&e), "PT409", "{e}");
            let e = db
                .service(COMPLETE, &[&key, &id, &json!({}), &1.0f64])
                .expect_err("complete after cancel");
            assert_eq!(error_code(&e), "PT409", "{e}");
        }
        _ => panic!("worker claimed task {id} with fate {fate} (attempt {attempt}): {item}"),
    }
}

/// Sweeps expired leases like the cron job, then, while each crashed task sits requeued and
/// not yet due (or final), makes its crashed worker call in late and checks nothing changed.
fn sweeper_loop(run: &Run) {
    let _guard = StopOnPanic(&run.stop);
    let mut db = Db::connect(&run.url);
    while !run.stop.load(SeqCst) {
        std::thread::sleep(Duration::from_millis(200));

        // A lease that expired is lost even before any sweep has requeued the task.
        let pending: Vec<(Uuid, String)> = run
            .zombies
            .lock()
            .unwrap()
            .iter()
            .map(|(id, key)| (*id, key.clone()))
            .collect();
        let ids: Vec<Uuid> = pending.iter().map(|p| p.0).collect();
        let expired = db.sql(
            "select id from public.tasks where id = any($1) and status = 'running' and lease_expires_at < now()",
            &[&ids],
        );
        for row in expired {
            let id: Uuid = row.get(0);
            let key = &pending.iter().find(|p| p.0 == id).unwrap().1;
            let e = db
                .service(HEARTBEAT, &[key, &id, &LEASE_SECONDS])
                .expect_err("heartbeat after expiry");
            assert_eq!(error_code(&e), "PT409", "heartbeat after expiry: {e}");
            let e = db
                .service(COMPLETE, &[key, &id, &json!({"zombie": true}), &4.0f64])
                .expect_err("complete after expiry");
            assert_eq!(error_code(&e), "PT409", "complete after expiry: {e}");
            run.expired_checked.fetch_add(1, SeqCst);
        }

        db.service("select to_jsonb(api.sweep_expired_leases())", &[])
            .unwrap_or_else(|e| panic!("sweep: {e}"));

        let pending: Vec<(Uuid, String)> = run
            .zombies
            .lock()
            .unwrap()
            .iter()
            .map(|(id, key)| (*id, key.clone()))
            .collect();
        if pending.is_empty() {
            continue;
        }
        let ids: Vec<Uuid> = pending.iter().map(|p| p.0).collect();
        // Stable rows only: nobody can claim a task that is final or not due for a while.
        let rows = db.sql(
            "select id, status, attempts, extract(epoch from run_at - updated_at)::float8 from public.tasks
             where id = any($1) and (status in ('succeeded', 'failed', 'dead', 'canceled')
               or (status = 'queued' and run_at > now() + interval '1 second'))",
            &[&ids],
        );
        for row in rows {
            let (id, status, attempts): (Uuid, String, i32) = (row.get(0), row.get(1), row.get(2));
            let key = pending.iter().find(|p| p.0 == id).unwrap().1.clone();
            if status == "queued" {
                // The lease expired and the sweep requeued it with the retry backoff.
                assert_backoff(id, attempts as i64, row.get(3));
                run.backoffs_checked.fetch_add(1, SeqCst);
            }
            let before = db.snapshot(id);
            assert_eq!(before["last_error"], "lease expired", "{before}");
            let e = db
                .service(HEARTBEAT, &[&key, &id, &LEASE_SECONDS])
                .expect_err("late heartbeat");
            assert_eq!(error_code(&e), "PT409", "late heartbeat: {e}");
            let e = db
                .service(COMPLETE, &[&key, &id, &json!({"zombie": true}), &3.0f64])
                .expect_err("late complete");
            assert_eq!(error_code(&e), "PT409", "late complete: {e}");
            let e = db
                .service(FAIL, &[&key, &id, &"zombie", &true])
                .expect_err("late fail");
            assert_eq!(error_code(&e), "PT409", "late fail: {e}");
            let e = db
                .service(FAIL, &[&key, &id, &"zombie", &false])
                .expect_err("late fail");
            assert_eq!(error_code(&e), "PT409", "late fail: {e}");
            assert_eq!(
                db.snapshot(id),
                before,
                "a crashed worker's late calls changed task {id}"
            );

            run.zombies.lock().unwrap().remove(&id);
            run.zombies_checked.fetch_add(1, SeqCst);
            if status == "queued" {
                db.sql(FAST_FORWARD, &[&id]);
            }
        }
    }
}

/// Creates a GPU generation as its owner and, in the same transaction, gives its task this
/// run's task type and its fate: the stack's own GPU worker must never see it.
fn create_generation(db: &mut Db, owner: Uuid, i: usize, task_type: &str) -> Uuid {
    let (fate, max_attempts, priority) = generation_fate(i);
    let create = db.statement(
        "select api.create_generation('video', 'wan-2.1-gpu', 'a queue test', '{\"duration\": 1}'::jsonb, $1)",
    );
    let retype = db.statement(
        "update public.tasks set task_type = $2, max_attempts = $3, priority = $4,
           params = params || jsonb_build_object('fate', $5::text)
         where generation_id = $1 and status = 'queued' returning id",
    );
    begin_as(&mut db.client, "authenticated", Some(owner)).unwrap();
    let r: Value = db
        .client
        .query_one(&create, &[&format!("q-{i}-{task_type}")])
        .unwrap_or_else(|e| panic!("create_generation: {e}"))
        .get(0);
    assert_eq!(r["created"], true, "{r}");
    assert_eq!(r["route"], "gpu", "{r}");
    let generation = uuid_of(&r["generation"]["id"]);
    db.client.batch_execute("set local role postgres").unwrap();
    let rows = db
        .client
        .query(
            &retype,
            &[&generation, &task_type, &max_attempts, &priority, &fate],
        )
        .unwrap();
    assert_eq!(rows.len(), 1, "generation {generation} got no queued task");
    db.client.batch_execute("commit").unwrap();

    if fate == "cancel_queued" {
        let g = db
            .rpc("authenticated", Some(owner), CANCEL, &[&generation])
            .unwrap();
        assert_eq!(g["status"], "canceled", "{g}");
    }
    generation
}

#[test]
fn sixteen_workers_run_every_task_exactly_once() {
    let url = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL is not set: run this test through `cargo xtask test` (or point it at a migrated database)");
    let started = Instant::now();
    let run_id = Uuid::new_v4().simple().to_string();
    let task_type = format!("qtest_{run_id}");
    let mut db = Db::connect(&url);

    // Owners with credits for the GPU generations.
    let mut users = Vec::new();
    for u in 0..USERS {
        let email = format!("qtest-{u}-{run_id}@example.com");
        let id = xtask::users::ensure_user(&mut db.client, &email).expect("create user");
        db.sql(
            "select (private.change_credits($1, 'grant', 100000, $2, null, 'queue test grant')).created",
            &[&id, &format!("qtest-grant-{run_id}")],
        );
        // 50 queued generations each: more than a plan's concurrent_generations allows.
        db.sql(
            "update public.profiles set plan = 'unlimited' where id = $1",
            &[&id],
        );
        users.push(id);
    }

    let mut keys = Vec::new();
    for w in 0..WORKERS {
        let r = db
            .service(
                "select api.register_worker($1, array[$2::text])",
                &[&format!("qtest-{run_id}-{w}"), &task_type],
            )
            .expect("register_worker");
        keys.push(r["worker_key"].as_str().expect("worker_key").to_string());
    }

    let mut fates: Vec<(&str, i32, i32)> = (0..DIRECT_TASKS).map(direct_fate).collect();
    let names: Vec<&str> = fates.iter().map(|f| f.0).collect();
    let maxes: Vec<i32> = fates.iter().map(|f| f.1).collect();
    let priorities: Vec<i32> = fates.iter().map(|f| f.2).collect();
    db.sql(
        "insert into public.tasks (task_type, params, max_attempts, priority)
         select $1, jsonb_build_object('n', n, 'fate', fate), max_attempts, priority
         from unnest($2::text[], $3::int[], $4::int[]) with ordinality as f (fate, max_attempts, priority, n)",
        &[&task_type, &names, &maxes, &priorities],
    );
    let mut owners = HashMap::new();
    for i in 0..GENERATIONS {
        let owner = users[i % USERS];
        owners.insert(create_generation(&mut db, owner, i, &task_type), owner);
        fates.push(generation_fate(i));
    }
    let setup = started.elapsed();

    let run = Arc::new(Run {
        url: url.clone(),
        task_type: task_type.clone(),
        running: Default::default(),
        completions: Default::default(),
        zombies: Default::default(),
        owners,
        backoffs_checked: AtomicUsize::new(0),
        crashes: AtomicUsize::new(0),
        zombies_checked: AtomicUsize::new(0),
        expired_checked: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    });
    let mut threads: Vec<_> = keys
        .into_iter()
        .enumerate()
        .map(|(w, key)| {
            let run = run.clone();
            std::thread::spawn(move || worker_loop(&run, w, &key))
        })
        .collect();
    threads.push({
        let run = run.clone();
        std::thread::spawn(move || sweeper_loop(&run))
    });

    // Wait until every task is final and every crash has been checked.
    let count_open = "select count(*) from public.tasks where task_type = $1 and status not in ('succeeded', 'failed', 'dead', 'canceled')";
    let mut finished = false;
    while !run.stop.load(SeqCst) && started.elapsed() < DEADLINE {
        std::thread::sleep(Duration::from_millis(250));
        let open: i64 = db
            .client
            .query_one(count_open, &[&task_type])
            .unwrap()
            .get(0);
        if open == 0 && run.zombies.lock().unwrap().is_empty() {
            finished = true;
            break;
        }
    }
    run.stop.store(true, SeqCst);
    for t in threads {
        if let Err(panic) = t.join() {
            std::panic::resume_unwind(panic);
        }
    }
    let elapsed = started.elapsed();
    if !finished {
        let stats: Value = db
            .client
            .query_one(
                "select jsonb_object_agg(status, n) from (select status, count(*) n from public.tasks
                  where task_type = $1 group by status) s",
                &[&task_type],
            )
            .unwrap()
            .get(0);
        panic!(
            "not finished after {elapsed:?}: tasks by status {stats}, crashed tasks not yet checked: {}",
            run.zombies.lock().unwrap().len()
        );
    }

    // Every task ended exactly once, the way its fate says.
    let rows = db.sql(
        "select id, params ->> 'fate', status, attempts, max_attempts, duration_seconds::float8, last_error,
                completed_at is not null, generation_id
         from public.tasks where task_type = $1",
        &[&task_type],
    );
    assert_eq!(rows.len(), DIRECT_TASKS + GENERATIONS, "tasks of this run");
    let completions = run.completions.lock().unwrap();
    let mut by_status: HashMap<String, usize> = HashMap::new();
    let mut durations: HashMap<Uuid, f64> = HashMap::new();
    for row in &rows {
        let id: Uuid = row.get(0);
        let fate: String = row.get(1);
        let status: String = row.get(2);
        let (attempts, max_attempts): (i32, i32) = (row.get(3), row.get(4));
        let last_error: Option<String> = row.get(6);
        let (want_status, want_attempts) = expected_end(&fate, max_attempts);
        assert!(FINAL.contains(&status.as_str()), "task {id} ended {status}");
        assert_eq!(
            (status.as_str(), attempts),
            (want_status, want_attempts),
            "task {id} with fate {fate}"
        );
        assert!(
            attempts <= max_attempts,
            "task {id}: {attempts} attempts of {max_attempts}"
        );
        assert!(
            row.get::<_, bool>(7),
            "task {id} is {status} without completed_at"
        );
        let done = completions.get(&id).map(Vec::as_slice).unwrap_or_default();
        if status == "succeeded" {
            assert_eq!(done.len(), 1, "task {id} completed {} times", done.len());
            assert_eq!(
                row.get::<_, Option<f64>>(5),
                Some(done[0]),
                "task {id} duration"
            );
            durations.insert(id, done[0]);
        } else {
            assert!(done.is_empty(), "{status} task {id} was also completed");
        }
        match fate.as_str() {
            "crash" => assert_eq!(last_error.as_deref(), Some("lease expired"), "task {id}"),
            "crashcrash" => assert_eq!(
                last_error.as_deref(),
                Some("lease expired"),
                "dead letter {id}"
            ),
            "doomed" => assert_eq!(
                last_error,
                Some(format!("doomed attempt {max_attempts}")),
                "dead letter {id}"
            ),
            _ => {}
        }
        *by_status.entry(status).or_default() += 1;
    }
    assert_eq!(
        completions.values().map(Vec::len).sum::<usize>(),
        by_status["succeeded"],
        "completions"
    );
    let expect = |f: &dyn Fn(&str) -> bool| fates.iter().filter(|x| f(x.0)).count();
    assert_eq!(
        by_status["dead"],
        expect(&|f| f == "doomed" || f == "crashcrash"),
        "dead letters"
    );
    assert_eq!(
        by_status["canceled"],
        expect(&|f| f.starts_with("cancel")),
        "canceled"
    );
    let crashes = expect(&|f| f == "crash") + 2 * expect(&|f| f == "crashcrash");
    assert_eq!(run.crashes.load(SeqCst), crashes, "crashes");
    assert_eq!(
        run.zombies_checked.load(SeqCst),
        crashes,
        "crashed workers' late calls checked"
    );
    // Most expired leases are seen before the sweep that requeues them (not all: one may
    // expire between the check and the sweep).
    assert!(
        run.expired_checked.load(SeqCst) > 0,
        "no call after a lease expiry was checked"
    );
    let retries = fates
        .iter()
        .map(|(f, max, _)| match *f {
            "flaky" | "crash" => 1,
            "doomed" | "crashcrash" => *max as usize - 1,
            _ => 0,
        })
        .sum::<usize>();
    assert_eq!(
        run.backoffs_checked.load(SeqCst),
        retries,
        "retries whose backoff was checked"
    );

    // Each generation ended like its task and was settled at most once, at the GPU time.
    let generations = db.sql(
        "select t.id, t.status, g.status, g.credits_reserved, g.credits_charged, h.status, h.charged,
                (select count(*) from public.credit_ledger l where l.generation_id = g.id and l.kind = 'settle'),
                (select count(*) from public.credit_ledger l where l.generation_id = g.id and l.kind in ('settle', 'release'))
         from public.tasks t
         join public.generations g on g.id = t.generation_id
         join public.credit_holds h on h.generation_id = g.id
         where t.task_type = $1",
        &[&task_type],
    );
    assert_eq!(generations.len(), GENERATIONS, "generations with a hold");
    for row in &generations {
        let task: Uuid = row.get(0);
        let (task_status, status, hold): (String, String, String) =
            (row.get(1), row.get(2), row.get(5));
        let (reserved, charged, hold_charged): (i64, Option<i64>, Option<i64>) =
            (row.get(3), row.get(4), row.get(6));
        let (settles, resolutions): (i64, i64) = (row.get(7), row.get(8));
        assert_eq!(
            reserved,
            (GPU_UNITS * GPU_PRICE).ceil() as i64,
            "task {task}: reserved"
        );
        assert_eq!(
            resolutions, 1,
            "task {task}: the hold is resolved exactly once"
        );
        let want = match task_status.as_str() {
            "succeeded" => {
                let charge = (durations[&task].min(GPU_UNITS) * GPU_PRICE).ceil() as i64;
                ("succeeded", charge, "settled", 1)
            }
            "dead" | "failed" => ("failed", 0, "released", 0),
            "canceled" => ("canceled", 0, "released", 0),
            other => panic!("task {task} is {other}"),
        };
        assert_eq!(
            (
                status.as_str(),
                charged.unwrap_or(-1),
                hold.as_str(),
                settles
            ),
            want,
            "generation of task {task} ({task_status})"
        );
        assert_eq!(hold_charged, Some(want.1), "task {task}: hold charged");
    }

    let audit = db
        .service("select api.audit_credits()", &[])
        .expect("audit_credits");
    assert_eq!(audit, json!([]), "credit audit after the queue run");

    eprintln!(
        "queue_concurrency: {} tasks ({by_status:?}) in {elapsed:.1?} (setup {setup:.1?}); {} backoffs, {} crashes checked ({} before the sweep)",
        rows.len(),
        run.backoffs_checked.load(SeqCst),
        run.zombies_checked.load(SeqCst),
        run.expired_checked.load(SeqCst)
    );
}
