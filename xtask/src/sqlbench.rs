//! SQL throughput of the money path and the queue, each next to a bare-Postgres baseline
//! measured in the same run with the same number of clients, so the ratio value/baseline
//! says what the guarantees cost on this machine.
//!
//! Every RPC runs the way PostgREST runs it: one transaction with `set local role`, the JWT
//! claims in `request.jwt.claims`, then the function ([`crate::pgrpc`]). The baselines are single statements
//! (autocommit) on plain tables created here. The target database is a throwaway one: users,
//! accounts, workers, tasks and tables are created and left behind.

use crate::pgrpc::call_as;
use anyhow::{anyhow, bail, Context, Result};
use postgres::{Client, NoTls, Statement};
use rand::Rng;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub baseline_name: String,
    pub baseline: f64,
}

const WARMUP: Duration = Duration::from_millis(500);
const MEASURE: Duration = Duration::from_secs(5);
const MONEY_CLIENTS: usize = 16;
const QUEUE_WORKERS: usize = 8;
const ACCOUNTS: usize = 10_000;
/// Tasks (and baseline jobs) queued before each queue measurement: more than 8 workers get
/// through in WARMUP + MEASURE here; a measurement that drains them is timed up to the end.
const QUEUE_ROWS: i32 = 200_000;

pub fn run(db_url: &str) -> Result<Vec<BenchRow>> {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let mut db = connect(db_url)?;
    let mut rows = Vec::new();

    // Money: one hot user, 10,000 users with credits, and a plain table of 10,000 balances.
    let started = Instant::now();
    let hot = create_users(&mut db, &format!("{tag}-hot"), 1, 1_000_000_000_000)?[0];
    let users = create_users(&mut db, &tag, ACCOUNTS, 1_000_000_000)?;
    let plain_accounts = format!("public.sqlbench_accounts_{tag}");
    db.batch_execute(&format!(
        "create table {plain_accounts} (id int primary key, balance bigint not null);
         insert into {plain_accounts} select g, 1000000000 from generate_series(1, {ACCOUNTS}) g;"
    ))?;
    // One by one: a multi-statement batch is a transaction block, which VACUUM refuses.
    db.batch_execute(&format!("vacuum analyze {plain_accounts}"))?;
    db.batch_execute("vacuum analyze public.credit_accounts")?;
    eprintln!(
        "sqlbench: {} users with credits in {:.1?}",
        ACCOUNTS + 1,
        started.elapsed()
    );

    let hot_users = vec![hot];
    let value =
        measure_money(db_url, &mut db, &hot_users).context("reserve+settle on one hot account")?;
    let baseline = measure_bare_update(db_url, &mut db, &plain_accounts, 1)
        .context("bare UPDATE of one row")?;
    rows.push(row(
        format!("money: reserve+settle, 1 hot account, {MONEY_CLIENTS} clients"),
        value,
        "pairs/s",
        format!("bare UPDATE of 1 row, {MONEY_CLIENTS} clients"),
        baseline,
    ));

    let value =
        measure_money(db_url, &mut db, &users).context("reserve+settle on 10,000 accounts")?;
    let baseline = measure_bare_update(db_url, &mut db, &plain_accounts, ACCOUNTS as i32)
        .context("bare UPDATE of 10,000 rows")?;
    rows.push(row(
        format!("money: reserve+settle, {ACCOUNTS} accounts, {MONEY_CLIENTS} clients"),
        value,
        "pairs/s",
        format!("bare UPDATE of 1 of {ACCOUNTS} rows, {MONEY_CLIENTS} clients"),
        baseline,
    ));

    // Queue: workers of this run's task types, and a plain jobs table per measurement.
    let task_types = [format!("sqlbench_{tag}_1"), format!("sqlbench_{tag}_10")];
    let register = db.prepare("select api.register_worker($1, $2)")?;
    let keys = (0..QUEUE_WORKERS)
        .map(|w| {
            let r = call_as(
                &mut db,
                "service_role",
                None,
                &register,
                &[&format!("sqlbench-{tag}-{w}"), &&task_types[..]],
            )?;
            r["worker_key"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("register_worker returned {r}"))
        })
        .collect::<Result<Vec<_>>>()?;
    for (limit, task_type) in [1, 10].into_iter().zip(&task_types) {
        let value = measure_queue(db_url, &mut db, &keys, task_type, limit)
            .with_context(|| format!("claim+complete, p_limit {limit}"))?;
        let jobs = format!("public.sqlbench_jobs_{tag}_{limit}");
        let baseline = measure_bare_queue(db_url, &mut db, &jobs, limit.into())
            .with_context(|| format!("bare SKIP LOCKED queue, limit {limit}"))?;
        rows.push(row(
            format!("queue: claim+complete, {QUEUE_WORKERS} workers, p_limit {limit}"),
            value,
            "jobs/s",
            format!("bare SKIP LOCKED claim + done, {QUEUE_WORKERS} workers, limit {limit}"),
            baseline,
        ));
    }
    Ok(rows)
}

fn row(name: String, value: f64, unit: &str, baseline_name: String, baseline: f64) -> BenchRow {
    eprintln!(
        "sqlbench: {name}: {value:.0} {unit}; {baseline_name}: {baseline:.0}/s ({:.1}%)",
        100.0 * value / baseline
    );
    BenchRow {
        name,
        value,
        unit: unit.to_string(),
        baseline_name,
        baseline,
    }
}

fn connect(db_url: &str) -> Result<Client> {
    Client::connect(db_url, NoTls).with_context(|| "connecting to the bench database")
}

/// Creates `n` auth users (the triggers open their profiles and credit accounts) and grants
/// each `credits`.
fn create_users(db: &mut Client, tag: &str, n: usize, credits: i64) -> Result<Vec<uuid::Uuid>> {
    let ids: Vec<uuid::Uuid> = db
        .query(
            "insert into auth.users (email, raw_user_meta_data)
             select format('sqlbench-%s-%s@example.com', $1::text, g), '{}'::jsonb
             from generate_series(1, $2::int) g
             returning id",
            &[&tag, &(n as i32)],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    db.execute(
        "select count(*) from (
           select private.change_credits(u, 'grant', $1::bigint, 'sqlbench-grant', null, 'sqlbench grant')
           from unnest($2::uuid[]) u) granted",
        &[&credits, &ids],
    )?;
    Ok(ids)
}

/// Runs `threads` clients for WARMUP + MEASURE, each preparing its state once and then calling
/// `op` in a loop; `op` returns how many units it completed, 0 when there is nothing left to
/// do. Returns units per second over the measured window (cut short if the work ran out). An
/// error in any client stops all of them and is returned.
fn measure<S>(
    db_url: &str,
    threads: usize,
    init: impl Fn(usize, &mut Client) -> Result<S> + Sync,
    op: impl Fn(&mut S, &mut Client) -> Result<u64> + Sync,
) -> Result<f64> {
    let barrier = Barrier::new(threads);
    let stop = AtomicBool::new(false);
    let results: Vec<Result<(u64, Instant, Instant)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (barrier, stop, init, op) = (&barrier, &stop, &init, &op);
                scope.spawn(move || -> Result<(u64, Instant, Instant)> {
                    let ready = connect(db_url).and_then(|mut c| init(i, &mut c).map(|s| (c, s)));
                    // Everyone waits for everyone, ready or not, so no client blocks forever.
                    barrier.wait();
                    let (mut client, mut state) =
                        ready.inspect_err(|_| stop.store(true, Ordering::SeqCst))?;
                    let measured_from = Instant::now() + WARMUP;
                    let until = measured_from + MEASURE;
                    let mut done = 0;
                    let mut last = measured_from;
                    while !stop.load(Ordering::SeqCst) {
                        let now = Instant::now();
                        if now >= until {
                            break;
                        }
                        let n = op(&mut state, &mut client)
                            .inspect_err(|_| stop.store(true, Ordering::SeqCst))?;
                        last = Instant::now();
                        if n == 0 {
                            if last < measured_from {
                                stop.store(true, Ordering::SeqCst);
                                bail!("the work ran out during the warm-up: queue more rows");
                            }
                            break;
                        }
                        if now >= measured_from {
                            done += n;
                        }
                    }
                    Ok((done, measured_from, last.max(measured_from)))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a bench client panicked")))
            })
            .collect()
    });
    let mut total = 0;
    let (mut from, mut to): (Option<Instant>, Option<Instant>) = (None, None);
    for r in results {
        let (done, f, t) = r?;
        total += done;
        from = Some(from.map_or(f, |x| x.min(f)));
        to = Some(to.map_or(t, |x| x.max(t)));
    }
    let seconds = (to.unwrap() - from.unwrap()).as_secs_f64();
    if seconds <= 0.0 {
        bail!("nothing was measured");
    }
    Ok(total as f64 / seconds)
}

/// Flushes dirty pages so a checkpoint does not land in one measurement only.
fn settle(db: &mut Client) -> Result<()> {
    db.batch_execute("checkpoint")?;
    Ok(())
}

struct MoneyClient {
    create: Statement,
    submit: Statement,
    webhook: Statement,
    seq: u64,
    thread: usize,
}

/// A generation's whole money path: create_generation reserves (as the user), the function
/// records the submission, the provider's webhook settles (as service_role). One pair per
/// iteration, with users picked at random from `users`.
fn measure_money(db_url: &str, db: &mut Client, users: &[uuid::Uuid]) -> Result<f64> {
    settle(db)?;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    measure(
        db_url,
        MONEY_CLIENTS,
        |thread, c| {
            Ok(MoneyClient {
                create: c.prepare(
                    "select api.create_generation('image', 'flux-schnell', 'a lighthouse', '{}'::jsonb)",
                )?,
                submit: c.prepare("select api.mark_generation_submitted($1, 'replicate', $2)")?,
                webhook: c.prepare(
                    "select api.handle_provider_webhook('replicate', $1, $2, 'succeeded',
                       '{\"urls\": [\"https://example.com/1.png\"]}'::jsonb, null,
                       '{\"predict_time\": 1.2}'::jsonb)",
                )?,
                seq: 0,
                thread,
            })
        },
        |s, c| {
            let user = users[rand::thread_rng().gen_range(0..users.len())];
            let r = call_as(c, "authenticated", Some(user), &s.create, &[])?;
            let id: uuid::Uuid = r["generation"]["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| anyhow!("create_generation returned {r}"))?;
            s.seq += 1;
            let prediction = format!("sqlbench-{tag}-{}-{}", s.thread, s.seq);
            call_as(c, "service_role", None, &s.submit, &[&id, &prediction])?;
            let r = call_as(
                c,
                "service_role",
                None,
                &s.webhook,
                &[&format!("w-{prediction}"), &prediction],
            )?;
            if r["generation"]["status"] != "succeeded" {
                bail!("the webhook did not settle: {r}");
            }
            Ok(1)
        },
    )
}

/// `update ... set balance = balance - 1` of one random row of the first `rows` of the plain
/// table, one statement per transaction.
fn measure_bare_update(db_url: &str, db: &mut Client, table: &str, rows: i32) -> Result<f64> {
    settle(db)?;
    let sql = format!("update {table} set balance = balance - 1 where id = $1");
    measure(
        db_url,
        MONEY_CLIENTS,
        |_, c| Ok(c.prepare(&sql)?),
        |s, c| {
            let id = rand::thread_rng().gen_range(1..=rows);
            if c.execute(s, &[&id])? != 1 {
                bail!("row {id} is missing");
            }
            Ok(1)
        },
    )
}

struct QueueClient {
    key: String,
    claim: Statement,
    complete: Statement,
}

/// Workers claim (p_limit `limit`) and complete every claimed task, each call its own RPC.
fn measure_queue(
    db_url: &str,
    db: &mut Client,
    keys: &[String],
    task_type: &str,
    limit: i32,
) -> Result<f64> {
    db.execute(
        "insert into public.tasks (task_type, params) select $1, jsonb_build_object('n', g) from generate_series(1, $2) g",
        &[&task_type, &QUEUE_ROWS],
    )?;
    db.batch_execute("vacuum analyze public.tasks")?;
    settle(db)?;
    let rate = measure(
        db_url,
        QUEUE_WORKERS,
        |w, c| {
            Ok(QueueClient {
                key: keys[w].clone(),
                claim: c.prepare(
                    "select coalesce(jsonb_agg(c -> 'id'), '[]'::jsonb)
                     from jsonb_array_elements(api.worker_claim($1, array[$2::text], $3, 60)) c",
                )?,
                complete: c
                    .prepare("select api.worker_complete($1, $2::text::uuid, '{\"ok\": true}'::jsonb, 1.5::numeric)")?,
            })
        },
        |s, c| {
            let ids = call_as(
                c,
                "service_role",
                None,
                &s.claim,
                &[&s.key, &task_type, &limit],
            )?;
            let ids = ids
                .as_array()
                .ok_or_else(|| anyhow!("worker_claim returned {ids}"))?;
            for id in ids {
                let id = id.as_str().ok_or_else(|| anyhow!("task id {id}"))?;
                let t = call_as(c, "service_role", None, &s.complete, &[&s.key, &id])?;
                if t["status"] != "succeeded" {
                    bail!("worker_complete returned {t}");
                }
            }
            Ok(ids.len() as u64)
        },
    )?;
    // What is left would sit in the claim index in front of the next measurement's tasks.
    db.execute(
        "delete from public.tasks where task_type = $1 and status = 'queued'",
        &[&task_type],
    )?;
    db.batch_execute("vacuum analyze public.tasks")?;
    Ok(rate)
}

/// The hand-rolled queue: SKIP LOCKED claim of `limit` jobs, then one UPDATE marking them done.
fn measure_bare_queue(db_url: &str, db: &mut Client, table: &str, limit: i64) -> Result<f64> {
    db.batch_execute(&format!(
        "create table {table} (
           id bigint generated always as identity primary key,
           status text not null default 'queued',
           payload jsonb not null default '{{}}'::jsonb,
           created_at timestamptz not null default now());
         create index on {table} (id) where status = 'queued';
         insert into {table} (payload) select jsonb_build_object('n', g) from generate_series(1, {QUEUE_ROWS}) g;"
    ))?;
    db.batch_execute(&format!("vacuum analyze {table}"))?;
    settle(db)?;
    let claim = format!(
        "with c as (select id from {table} where status = 'queued' order by id limit $1 for update skip locked)
         update {table} j set status = 'running' from c where j.id = c.id returning j.id"
    );
    let done = format!("update {table} set status = 'done' where id = any($1)");
    measure(
        db_url,
        QUEUE_WORKERS,
        |_, c| Ok((c.prepare(&claim)?, c.prepare(&done)?)),
        |(claim, done), c| {
            let ids: Vec<i64> = c
                .query(claim, &[&limit])?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if ids.is_empty() {
                return Ok(0);
            }
            c.execute(done, &[&ids])?;
            Ok(ids.len() as u64)
        },
    )
}
