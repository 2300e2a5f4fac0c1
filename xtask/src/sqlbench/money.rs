//! The money path: reserve (create_generation), submission, settlement (the provider's
//! webhook), three transactions per generation, beside a minimal two-phase implementation on
//! plain tables with the same three: reserve (lock the account with a conditional UPDATE,
//! insert a hold), submit (mark the hold), settle (update the account, insert a ledger row,
//! mark the hold).

use super::interleave::{self, Op, Side};
use super::{connect, settle, Pair};
use crate::pgrpc::call_as;
use anyhow::{anyhow, bail, Result};
use postgres::Client;
use rand::Rng;
use std::time::Instant;

const CLIENTS: usize = 16;
const ACCOUNTS: usize = 10_000;
/// What the baseline reserves and charges per generation: about an image's price.
const PRICE: i64 = 3;

pub fn run(db_url: &str, db: &mut Client, tag: &str) -> Result<Vec<Pair>> {
    let started = Instant::now();
    let hot = create_users(db, &format!("{tag}-hot"), 1, 1_000_000_000_000)?;
    let users = create_users(db, tag, ACCOUNTS, 1_000_000_000)?;
    let plain = Plain::create(db, tag)?;
    eprintln!(
        "sqlbench: {} users with credits and {ACCOUNTS} plain accounts in {:.1?}",
        ACCOUNTS + 1,
        started.elapsed()
    );
    let mut pairs = Vec::new();
    for (label, users) in [
        ("1 hot account".to_string(), &hot),
        (format!("{ACCOUNTS} accounts"), &users),
    ] {
        settle(
            db,
            &[
                "public.credit_accounts",
                "public.credit_holds",
                "public.generations",
                &plain.accounts,
                &plain.holds,
            ],
        )?;
        let real =
            |i: usize| real_client(db_url, users, None, &format!("{tag}-{}-{i}", users.len()));
        let accounts = users.len() as i32;
        let base = |_: usize| plain.client(db_url, accounts);
        let measured = interleave::measure(
            db,
            [
                Side {
                    clients: CLIENTS,
                    connect: &real,
                },
                Side {
                    clients: CLIENTS,
                    connect: &base,
                },
            ],
        )?;
        pairs.push(
            Pair {
                name: format!("money: reserve+settle, {label}, {CLIENTS} clients"),
                unit: "pairs/s",
                baseline_name: format!("two-phase on plain tables, {label}"),
                measured,
            }
            .logged(),
        );
    }
    pairs.push(workspace_pair(db_url, db, tag, &hot)?);
    Ok(pairs)
}

/// The same path billed to one workspace by CLIENTS members (the role check, and the
/// workspace's account as the one hot row) beside one user's hot personal account: what
/// sharing costs a generation.
fn workspace_pair(db_url: &str, db: &mut Client, tag: &str, hot: &[uuid::Uuid]) -> Result<Pair> {
    let members = create_users(db, &format!("{tag}-ws"), CLIENTS, 1)?;
    let workspace: uuid::Uuid = db
        .query_one(
            "insert into public.workspaces (name, slug, created_by)
             values ('sqlbench', 'sqlbench-' || $1::text, $2) returning id",
            &[&tag, &members[0]],
        )?
        .get(0);
    db.execute(
        "insert into public.memberships (resource_id, resource_type, user_id, role)
         select $1, 'workspace', u, 'member' from unnest($2::uuid[]) u
         on conflict (resource_id, user_id) do nothing",
        &[&workspace, &members],
    )?;
    db.execute(
        "select private.post_entry(id, 'grant', 1000000000000, 0, 'sqlbench-grant')
         from public.credit_accounts where workspace_id = $1",
        &[&workspace],
    )?;
    settle(
        db,
        &[
            "public.credit_accounts",
            "public.memberships",
            "public.generations",
        ],
    )?;
    let real = |i: usize| real_client(db_url, &members, Some(workspace), &format!("{tag}-ws-{i}"));
    let base = |i: usize| real_client(db_url, hot, None, &format!("{tag}-wsbase-{i}"));
    let measured = interleave::measure(
        db,
        [
            Side {
                clients: CLIENTS,
                connect: &real,
            },
            Side {
                clients: CLIENTS,
                connect: &base,
            },
        ],
    )?;
    Ok(Pair {
        name: format!("money: reserve+settle in 1 workspace, {CLIENTS} members"),
        unit: "pairs/s",
        baseline_name: "the same on 1 hot personal account".to_string(),
        measured,
    }
    .logged())
}

/// Creates `n` auth users (the triggers open their profiles and credit accounts) on the
/// unlimited plan and grants each `credits`.
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
    // 16 clients on one account keep up to 16 generations in flight: past the free plan's
    // concurrency, which is not what this bench measures (its check still runs).
    db.execute(
        "update public.profiles set plan = 'unlimited' where id = any($1)",
        &[&ids],
    )?;
    Ok(ids)
}

/// One generation's whole money path per operation, for a user picked at random: the user
/// creates it (reserve; in `workspace` when given), the function records the submission, the
/// provider's webhook settles it (as service_role). `prefix` makes this client's prediction
/// ids unique.
fn real_client<'a>(
    db_url: &str,
    users: &'a [uuid::Uuid],
    workspace: Option<uuid::Uuid>,
    prefix: &str,
) -> Result<Op<'a>> {
    let mut c = connect(db_url)?;
    let create = c.prepare(&format!(
        "select api.create_generation('image', 'flux-schnell', 'a lighthouse', '{{}}'::jsonb, null, {})",
        workspace.map_or("null".to_string(), |w| format!("'{w}'"))
    ))?;
    let submit = c.prepare("select api.mark_generation_submitted($1, 'replicate', $2)")?;
    let webhook = c.prepare(
        "select api.handle_provider_webhook('replicate', $1, $2, 'succeeded',
           '{\"urls\": [\"https://example.com/1.png\"]}'::jsonb, null,
           '{\"predict_time\": 1.2}'::jsonb)",
    )?;
    let prefix = format!("sqlbench-{prefix}");
    let mut seq = 0u64;
    Ok(Box::new(move || {
        let user = users[rand::thread_rng().gen_range(0..users.len())];
        let r = call_as(&mut c, "authenticated", Some(user), &create, &[])?;
        let id: uuid::Uuid = r["generation"]["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("create_generation returned {r}"))?;
        seq += 1;
        let prediction = format!("{prefix}-{seq}");
        call_as(&mut c, "service_role", None, &submit, &[&id, &prediction])?;
        let webhook_id = format!("w-{prediction}");
        let r = call_as(
            &mut c,
            "service_role",
            None,
            &webhook,
            &[&webhook_id, &prediction],
        )?;
        if r["generation"]["status"] != "succeeded" {
            bail!("the webhook did not settle: {r}");
        }
        Ok(1)
    }))
}

/// The baseline's tables: accounts with the same no-overdraft CHECK, holds, a ledger.
struct Plain {
    accounts: String,
    holds: String,
    ledger: String,
}

impl Plain {
    fn create(db: &mut Client, tag: &str) -> Result<Plain> {
        let p = Plain {
            accounts: format!("public.sqlbench_accounts_{tag}"),
            holds: format!("public.sqlbench_holds_{tag}"),
            ledger: format!("public.sqlbench_ledger_{tag}"),
        };
        let Plain {
            accounts,
            holds,
            ledger,
        } = &p;
        db.batch_execute(&format!(
            "create table {accounts} (
               id int primary key,
               balance bigint not null,
               held bigint not null default 0,
               check (held >= 0 and balance >= held));
             create table {holds} (
               id bigint generated always as identity primary key,
               account_id int not null references {accounts},
               amount bigint not null check (amount > 0),
               status text not null default 'open',
               prediction text,
               charged bigint);
             create table {ledger} (
               id bigint generated always as identity primary key,
               account_id int not null references {accounts},
               hold_id bigint not null references {holds},
               amount bigint not null,
               balance_after bigint not null,
               created_at timestamptz not null default now());
             insert into {accounts} (id, balance) select g, 1000000000000 from generate_series(1, {ACCOUNTS}) g;"
        ))?;
        Ok(p)
    }

    /// Reserve, submit, settle: one transaction each, on account 1 to `accounts`.
    fn client<'a>(&self, db_url: &str, accounts: i32) -> Result<Op<'a>> {
        let Plain {
            accounts: a,
            holds: h,
            ledger: l,
        } = self;
        let mut c = connect(db_url)?;
        let reserve = c.prepare(&format!(
            "with a as (update {a} set held = held + $2 where id = $1 and balance - held >= $2 returning id)
             insert into {h} (account_id, amount) select id, $2 from a returning id"
        ))?;
        let submit = c.prepare(&format!(
            "update {h} set status = 'submitted', prediction = $2 where id = $1 and status = 'open'"
        ))?;
        let settle = c.prepare(&format!(
            "with h as (update {h} set status = 'settled', charged = amount
                        where id = $1 and status = 'submitted' returning id, account_id, amount),
                  a as (update {a} c set balance = c.balance - h.amount, held = c.held - h.amount
                        from h where c.id = h.account_id returning c.id, c.balance)
             insert into {l} (account_id, hold_id, amount, balance_after)
             select a.id, h.id, -h.amount, a.balance from a, h"
        ))?;
        Ok(Box::new(move || {
            let account = rand::thread_rng().gen_range(1..=accounts);
            let hold: i64 = c.query_one(&reserve, &[&account, &PRICE])?.get(0);
            let prediction = format!("p-{hold}");
            if c.execute(&submit, &[&hold, &prediction])? != 1 {
                bail!("hold {hold} was not open");
            }
            if c.execute(&settle, &[&hold])? != 1 {
                bail!("hold {hold} did not settle");
            }
            Ok(1)
        }))
    }
}
