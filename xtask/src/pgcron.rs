//! The sweeps' pg_cron schedules, run for real. The local stack's Postgres (the embedded PG 18)
//! has no pg_cron, so its sweeps run from a thread of xtask; on a hosted project pg_cron runs
//! them. This check gives that path a real test: Debian's PostgreSQL 15 (Supabase's oldest
//! supported major) with Debian's pg_cron, a throwaway cluster per order in which an operator
//! may do things:
//!
//! - pg_cron first, then the migrations (the migration schedules the sweeps itself);
//! - the migrations first, then `create extension pg_cron` and `select private.schedule_sweeps()`.
//!
//! Both must end the same way: one job per sweep, scheduling again changes nothing, and the
//! jobs fire and succeed (an expired hold planted before is released by pg_cron itself).

use crate::paths;
use crate::process::{free_port, run};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The jobs `private.schedule_sweeps()` creates, with their schedule, by name.
pub const JOBS: [(&str, &str); 4] = [
    ("genbase-purge-deleted-generations", "17 3 * * *"),
    ("genbase-sweep-expired-holds", "* * * * *"),
    ("genbase-sweep-expired-leases", "* * * * *"),
    ("genbase-sweep-stuck-replies", "* * * * *"),
];

/// Debian's pg_cron 1.4 has no second-level schedules: a job fires at the next minute.
const FIRE_TIMEOUT: Duration = Duration::from_secs(150);

#[derive(Clone, Copy, Debug)]
pub enum Order {
    ExtensionFirst,
    MigrationsFirst,
}

impl Order {
    fn name(self) -> &'static str {
        match self {
            Order::ExtensionFirst => "pg_cron-then-migrations",
            Order::MigrationsFirst => "migrations-then-pg_cron",
        }
    }
}

/// Both orders in parallel (each waits for the next minute). `pg15_bin` is Debian's server
/// with pg_cron beside it (`tools::ensure_pg15_cron`), `psql` any psql >= 15. Returns early,
/// with an error, when `cancel` is set.
pub fn check(pg15_bin: &Path, psql: &Path, cancel: &AtomicBool) -> Result<String> {
    let results: Vec<Result<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = [Order::ExtensionFirst, Order::MigrationsFirst]
            .into_iter()
            .map(|order| {
                s.spawn(move || {
                    check_order(order, pg15_bin, psql, cancel)
                        .with_context(|| format!("pg_cron check, {}", order.name()))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| bail!("pg_cron check panicked")))
            .collect()
    });
    let mut lines = Vec::new();
    for r in results {
        lines.push(r?);
    }
    Ok(lines.join("; "))
}

fn check_order(order: Order, bin: &Path, psql: &Path, cancel: &AtomicBool) -> Result<String> {
    let started = Instant::now();
    let cluster = Cluster::start(bin, order.name())?;
    let sql = |file: &Path| cluster.apply_file(psql, file);
    let mut db = cluster.client()?;

    if let Order::ExtensionFirst = order {
        db.batch_execute("create extension pg_cron")?;
    }
    let supabase = paths::root().join("supabase");
    sql(&without_pgvector(
        &supabase.join("local/bootstrap.sql"),
        &cluster.dir,
    )?)?;
    let mut migrations: Vec<PathBuf> = std::fs::read_dir(supabase.join("migrations"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    migrations.sort();
    for file in applicable_without_pgvector(&migrations)? {
        sql(file)?;
    }
    if let Order::MigrationsFirst = order {
        // Without pg_cron the migration schedules nothing, and says so rather than failing.
        let cron_schema = db
            .query_one(
                "select count(*) from pg_namespace where nspname = 'cron'",
                &[],
            )?
            .get::<_, i64>(0);
        if cron_schema != 0 {
            bail!("the cron schema exists before pg_cron was installed");
        }
        db.batch_execute("create extension pg_cron; select private.schedule_sweeps();")?;
    }
    expect_jobs(&mut db, "after the migrations")?;
    db.batch_execute("select private.schedule_sweeps(); select private.schedule_sweeps();")?;
    expect_jobs(&mut db, "after scheduling twice more")?;

    // An expired hold for the hold sweep to release: proof that the job ran the sweep.
    let user = uuid::Uuid::new_v4();
    db.execute(
        "insert into auth.users (id, email) values ($1, 'pgcron-check@example.test')",
        &[&user],
    )
    .context("creating a user")?;
    db.execute(
        "select private.change_credits($1, 'grant', 10, 'pgcron-check', null, 'pg_cron check')",
        &[&user],
    )
    .context("granting credits")?;
    let hold: uuid::Uuid = db
        .query_one(
            "select (private.place_hold(a.id, 5, null, now() - interval '1 minute', null)).id
             from public.credit_accounts a where a.owner_user_id = $1",
            &[&user],
        )
        .context("planting an expired hold")?
        .get(0);

    let deadline = Instant::now() + FIRE_TIMEOUT;
    loop {
        if cancel.load(Ordering::SeqCst) {
            bail!("canceled");
        }
        let failed = db.query(
            "select j.jobname, d.return_message from cron.job_run_details d
             join cron.job j using (jobid) where d.status = 'failed' limit 1",
            &[],
        )?;
        if let Some(row) = failed.first() {
            bail!(
                "job {} failed: {}",
                row.get::<_, String>(0),
                row.get::<_, Option<String>>(1).unwrap_or_default()
            );
        }
        let succeeded = db
            .query_one(
                "select count(distinct j.jobname) from cron.job_run_details d
                 join cron.job j using (jobid) where d.status = 'succeeded'",
                &[],
            )?
            .get::<_, i64>(0);
        if succeeded == every_minute() as i64 {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "the sweeps did not run within {}s ({succeeded} of {} jobs succeeded); server log:\n{}",
                FIRE_TIMEOUT.as_secs(),
                every_minute(),
                cluster.log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let status: String = db
        .query_one(
            "select status from public.credit_holds where id = $1",
            &[&hold],
        )?
        .get(0);
    if status != "released" {
        bail!("the expired hold is {status} after the hold sweep job ran, not released");
    }
    audit(&mut db)?;
    Ok(format!(
        "{}: {} jobs, fired in {:.0}s",
        order.name(),
        every_minute(),
        started.elapsed().as_secs_f64()
    ))
}

/// The jobs that fire within the wait (the daily purge does not).
fn every_minute() -> usize {
    JOBS.iter().filter(|(_, s)| *s == "* * * * *").count()
}

/// Exactly one job per sweep, with its schedule, and no other genbase job.
fn expect_jobs(db: &mut postgres::Client, when: &str) -> Result<()> {
    let rows = db.query(
        "select jobname, schedule from cron.job where jobname like 'genbase-%' order by jobname",
        &[],
    )?;
    let found: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let expected: Vec<(String, String)> = JOBS
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
    if found != expected {
        bail!("cron.job {when}: expected {expected:?}, found {found:?}");
    }
    Ok(())
}

fn audit(db: &mut postgres::Client) -> Result<()> {
    let problems: serde_json::Value = db.query_one("select api.audit_credits()", &[])?.get(0);
    if problems != serde_json::json!([]) {
        bail!("audit_credits() after the sweeps: {problems}");
    }
    Ok(())
}

/// The migrations up to the first that needs pgvector, which Debian does not package for
/// PostgreSQL 15 (Supabase has it). What this check is about, how the registry
/// (`private.scheduled_jobs`) becomes pg_cron jobs, must be settled before then: a later
/// migration that touches pg_cron itself fails it, so the check never passes by leaving its
/// subject out. A later migration may still register a job through the registry (an insert
/// into `private.scheduled_jobs`, then `private.schedule_sweeps()`), the path checked here;
/// that its function exists is pgTAP's (26_activity).
fn applicable_without_pgvector(migrations: &[PathBuf]) -> Result<&[PathBuf]> {
    let mut first_vector = migrations.len();
    for (i, file) in migrations.iter().enumerate() {
        let text = std::fs::read_to_string(file)?;
        if i >= first_vector {
            if touches_pg_cron(&text) {
                bail!(
                    "{} touches the pg_cron schedule but comes after the first migration that needs \
                     pgvector, which the PostgreSQL 15 check cannot apply",
                    file.display()
                );
            }
        } else if text.contains("extensions.vector")
            || text.contains("extension if not exists vector")
        {
            first_vector = i;
        }
    }
    Ok(&migrations[..first_vector])
}

/// Whether SQL text names pg_cron's schema (`cron.schedule`, `cron.job`, ...): `cron.`
/// not preceded by an identifier character, so `pg_cron.` in a sentence does not count.
fn touches_pg_cron(text: &str) -> bool {
    text.match_indices("cron.").any(|(i, _)| {
        !text[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// The local bootstrap without `create extension vector`: Debian has no pgvector for
/// PostgreSQL 15 (see [`applicable_without_pgvector`]).
fn without_pgvector(bootstrap: &Path, dir: &Path) -> Result<PathBuf> {
    let text = std::fs::read_to_string(bootstrap)?;
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            !l.trim_start()
                .starts_with("create extension if not exists vector")
        })
        .collect();
    let out = dir.join("bootstrap-pg15.sql");
    std::fs::write(&out, kept.join("\n"))?;
    Ok(out)
}

/// A throwaway cluster under the system's temp folder; stopped and removed on drop.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Cluster {
    fn start(bin: &Path, name: &str) -> Result<Cluster> {
        let dir = std::env::temp_dir().join(format!("genbase-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let data = dir.join("data");
        std::fs::create_dir_all(&data)?;
        crate::postgres::chown_to_server_user(&dir)?;
        if is_root() {
            // The binaries sit in the checkout's `.genbase/`, maybe under a private folder.
            crate::postgres::let_server_user_through(bin)?;
        }
        let cluster = Cluster {
            bin: bin.to_path_buf(),
            dir,
            port: free_port()?,
        };
        run(cluster
            .server_cmd("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"])
            .stdout(Stdio::null()))?;
        let conf = "\n# genbase pg_cron check\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = ''\nshared_preload_libraries = 'pg_cron'\n\
             cron.database_name = 'postgres'\ncron.host = '127.0.0.1'\n";
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))?;
        std::io::Write::write_all(&mut f, conf.as_bytes())?;
        let log = cluster.dir.join("server.log");
        run(cluster
            .server_cmd("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args([
                "-o",
                &format!("-p {}", cluster.port),
                "-w",
                "-t",
                "60",
                "start",
            ])
            .stdout(Stdio::null()))
        .with_context(|| format!("starting PostgreSQL 15: {}", cluster.log_tail()))?;
        Ok(cluster)
    }

    /// Postgres refuses to run as root; as root, the server runs as the `postgres` OS user.
    fn server_cmd(&self, program: &str) -> Command {
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(program));
            c
        } else {
            Command::new(self.bin.join(program))
        }
    }

    /// The end of the server log, for errors: the cluster folder goes away on drop.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn client(&self) -> Result<postgres::Client> {
        Ok(postgres::Client::connect(&self.url(), postgres::NoTls)?)
    }

    fn apply_file(&self, psql: &Path, file: &Path) -> Result<()> {
        run(Command::new(psql)
            .arg(self.url())
            .args(["-q", "-X", "-v", "ON_ERROR_STOP=1", "-f"])
            .arg(file)
            .env("PGOPTIONS", "-c client_min_messages=warning"))
        .with_context(|| format!("applying {} on PostgreSQL 15", file.display()))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .server_cmd("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    #[test]
    fn only_the_cron_schema_counts_as_touching_pg_cron() {
        assert!(super::touches_pg_cron(
            "select cron.schedule('a', '* * * * *', 'select 1')"
        ));
        assert!(super::touches_pg_cron("delete from cron.job"));
        assert!(!super::touches_pg_cron(
            "-- when pg_cron. is there\nperform private.schedule_sweeps();"
        ));
        assert!(!super::touches_pg_cron(
            "insert into private.scheduled_jobs values ('x')"
        ));
    }

    /// The check alone, without the rest of `cargo xtask test` (which runs it too):
    /// `cargo test -p xtask --lib pgcron -- --ignored --nocapture`. Takes a minute or two.
    #[test]
    #[ignore = "downloads Debian packages and waits for pg_cron's next minute"]
    fn pg_cron_schedules_the_sweeps_and_they_fire() {
        let bin = crate::tools::ensure_pg15_cron().expect("PostgreSQL 15 with pg_cron");
        let summary = super::check(&bin, std::path::Path::new("psql"), &AtomicBool::new(false))
            .unwrap_or_else(|e| panic!("{e:#}"));
        eprintln!("{summary}");
    }
}
