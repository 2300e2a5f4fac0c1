//! The queue: workers claim tasks and complete them, one task per call or in batches, beside
//! a plain SKIP LOCKED queue doing the same transactions: one claim, then one completion per
//! task (or one for the whole batch).

use super::interleave::{self, Op, Side};
use super::{connect, settle, Pair};
use crate::pgrpc::call_as;
use anyhow::{anyhow, bail, Result};
use postgres::Client;
use serde_json::{json, Value};

const WORKERS: usize = 8;
const BATCH: i32 = 10;
/// Queued before each measurement, more than the fastest side gets through in its slices.
const TASKS: i32 = 100_000;
const JOBS: i32 = 300_000;

pub fn run(db_url: &str, db: &mut Client, tag: &str) -> Result<Vec<Pair>> {
    let task_type = format!("sqlbench_{tag}");
    let register = db.prepare("select api.register_worker($1, $2)")?;
    let keys = (0..WORKERS)
        .map(|w| {
            let r = call_as(
                db,
                "service_role",
                None,
                &register,
                &[&format!("sqlbench-{tag}-{w}"), &vec![task_type.clone()]],
            )?;
            r["worker_key"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("register_worker returned {r}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let jobs = format!("public.sqlbench_jobs_{tag}");
    db.batch_execute(&format!(
        "create table {jobs} (
           id bigint generated always as identity primary key,
           status text not null default 'queued',
           payload jsonb not null default '{{}}'::jsonb,
           result jsonb,
           created_at timestamptz not null default now());
         create index on {jobs} (id) where status = 'queued';"
    ))?;

    let mut pairs = Vec::new();
    for limit in [1, BATCH] {
        top_up(db, &task_type, &jobs)?;
        settle(db, &["public.tasks", &jobs])?;
        let real = |w: usize| real_worker(db_url, &keys[w], &task_type, limit);
        let base = |_: usize| plain_worker(db_url, &jobs, limit);
        let measured = interleave::measure(
            db,
            [
                Side {
                    clients: WORKERS,
                    connect: &real,
                },
                Side {
                    clients: WORKERS,
                    connect: &base,
                },
            ],
        )?;
        let (name, baseline_name) = if limit == 1 {
            (
                format!("queue: claim+complete, {WORKERS} workers, one task per call"),
                "SKIP LOCKED claim, then one transaction per completion".to_string(),
            )
        } else {
            (
                format!("queue: claim+complete, {WORKERS} workers, batches of {limit}"),
                format!("SKIP LOCKED claim of {limit}, then one transaction completing them"),
            )
        };
        pairs.push(
            Pair {
                name,
                unit: "tasks/s",
                baseline_name,
                measured,
            }
            .logged(),
        );
    }
    let [single, batched] = [&pairs[0], &pairs[1]].map(|p| p.measured[0].per_second);
    eprintln!(
        "sqlbench: queue batches of {BATCH} run {:.1}x one task per call",
        batched / single
    );
    Ok(pairs)
}

/// Queues tasks and plain jobs up to [`TASKS`] and [`JOBS`].
fn top_up(db: &mut Client, task_type: &str, jobs: &str) -> Result<()> {
    db.execute(
        "insert into public.tasks (task_type, params)
         select $1, jsonb_build_object('n', g)
         from generate_series(1, $2 - (select count(*)::int from public.tasks where task_type = $1 and status = 'queued')) g",
        &[&task_type, &TASKS],
    )?;
    db.execute(
        &format!(
            "insert into {jobs} (payload) select jsonb_build_object('n', g)
             from generate_series(1, $1 - (select count(*)::int from {jobs} where status = 'queued')) g"
        ),
        &[&JOBS],
    )?;
    Ok(())
}

/// A worker claiming `limit` tasks per call and completing them through worker_complete, one
/// call each, or (`limit` > 1) through one worker_complete_batch.
fn real_worker<'a>(db_url: &str, key: &'a str, task_type: &'a str, limit: i32) -> Result<Op<'a>> {
    let mut c = connect(db_url)?;
    let claim = c.prepare("select api.worker_claim($1, array[$2::text], $3, 60)")?;
    let complete = c.prepare(
        "select api.worker_complete($1, $2::text::uuid, '{\"ok\": true}'::jsonb, 1.5::numeric)",
    )?;
    let complete_batch = c.prepare("select api.worker_complete_batch($1, $2)")?;
    Ok(Box::new(move || {
        let tasks = call_as(
            &mut c,
            "service_role",
            None,
            &claim,
            &[&key, &task_type, &limit],
        )?;
        let ids: Vec<&str> = tasks
            .as_array()
            .ok_or_else(|| anyhow!("worker_claim returned {tasks}"))?
            .iter()
            .map(|t| t["id"].as_str().ok_or_else(|| anyhow!("task {t}")))
            .collect::<Result<_>>()?;
        if limit == 1 {
            for id in &ids {
                let t = call_as(&mut c, "service_role", None, &complete, &[&key, id])?;
                if t["status"] != "succeeded" {
                    bail!("worker_complete returned {t}");
                }
            }
        } else if !ids.is_empty() {
            let results: Value = ids
                .iter()
                .map(|id| json!({"task_id": id, "output": {"ok": true}, "duration_seconds": 1.5}))
                .collect();
            let out = call_as(
                &mut c,
                "service_role",
                None,
                &complete_batch,
                &[&key, &results],
            )?;
            let done = out.as_array().map_or(0, |o| {
                o.iter().filter(|r| r["status"] == "succeeded").count()
            });
            if done != ids.len() {
                bail!("worker_complete_batch returned {out}");
            }
        }
        Ok(ids.len() as u64)
    }))
}

/// The plain queue: a SKIP LOCKED claim of `limit` jobs, then one UPDATE per job, or one for
/// them all, each in its own transaction, storing the same result.
fn plain_worker<'a>(db_url: &str, jobs: &str, limit: i32) -> Result<Op<'a>> {
    let mut c = connect(db_url)?;
    let claim = c.prepare(&format!(
        "update {jobs} set status = 'running'
         where id in (select id from {jobs} where status = 'queued' order by id limit $1 for update skip locked)
         returning id"
    ))?;
    let complete = c.prepare(&format!(
        "update {jobs} set status = 'done', result = '{{\"ok\": true}}' where id = $1 and status = 'running'"
    ))?;
    let complete_all = c.prepare(&format!(
        "update {jobs} set status = 'done', result = '{{\"ok\": true}}' where id = any($1) and status = 'running'"
    ))?;
    let limit = i64::from(limit);
    Ok(Box::new(move || {
        let ids: Vec<i64> = c
            .query(&claim, &[&limit])?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let done = if limit == 1 {
            ids.iter()
                .map(|id| c.execute(&complete, &[id]))
                .sum::<Result<u64, _>>()?
        } else if ids.is_empty() {
            0
        } else {
            c.execute(&complete_all, &[&ids])?
        };
        if done != ids.len() as u64 {
            bail!("{done} of {} jobs completed", ids.len());
        }
        Ok(done)
    }))
}
