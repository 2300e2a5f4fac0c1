use anyhow::Result;
use xtask::stack::StackEnv;

/// Like `supabase status -o env`: KEY=VALUE lines for the running dev stack on stdout (so
/// `source <(cargo xtask status)` works), then, on stderr, how the sweeps are scheduled here
/// and how on a hosted project.
pub fn run() -> Result<()> {
    let env = StackEnv::read_dev()?;
    print!("{}", env.render());
    eprintln!("{}", sweeps_note(pg_cron_jobs(env.get("DATABASE_URL"))));
    Ok(())
}

/// The genbase jobs pg_cron has in the local database, or None when pg_cron is not installed
/// there (the embedded Postgres has none) or the database cannot be reached.
fn pg_cron_jobs(url: &str) -> Option<Vec<String>> {
    let mut db = postgres::Client::connect(url, postgres::NoTls).ok()?;
    let installed = db
        .query_one(
            "select exists (select 1 from pg_extension where extname = 'pg_cron')",
            &[],
        )
        .ok()?
        .get::<_, bool>(0);
    if !installed {
        return None;
    }
    let rows = db
        .query(
            "select jobname || ' (' || schedule || ')' from cron.job where jobname like 'genbase-%' order by 1",
            &[],
        )
        .ok()?;
    Some(rows.iter().map(|r| r.get(0)).collect())
}

fn sweeps_note(jobs: Option<Vec<String>>) -> String {
    // The interval is the sweeper's in xtask/src/stack.rs.
    let local = match jobs {
        None => "the local Postgres has no pg_cron: `cargo xtask dev` runs the due jobs of \
                 private.scheduled_jobs (api.run_due_jobs()) from a thread every 5 s"
            .to_string(),
        Some(jobs) if jobs.is_empty() => "pg_cron is installed locally but schedules no sweep: \
                 run `select private.schedule_sweeps();`; meanwhile `cargo xtask dev` sweeps every 5 s"
            .to_string(),
        Some(jobs) => format!("pg_cron runs {}; `cargo xtask dev` also sweeps every 5 s", jobs.join(", ")),
    };
    format!(
        "# sweeps, locally: {local}.\n\
         # sweeps, on a hosted project: pg_cron runs them every minute. The migration schedules them \
         when pg_cron is enabled first; if it was enabled after the migrations, run \
         `select private.schedule_sweeps();` once (idempotent); check with \
         `select jobname, schedule from cron.job;`."
    )
}

#[cfg(test)]
mod tests {
    use super::sweeps_note;

    #[test]
    fn the_note_says_how_sweeps_run_here_and_on_a_hosted_project() {
        let none = sweeps_note(None);
        assert!(none.contains("every 5 s"), "{none}");
        assert!(none.contains("select private.schedule_sweeps();"), "{none}");
        let empty = sweeps_note(Some(vec![]));
        assert!(empty.contains("schedules no sweep"), "{empty}");
        let some = sweeps_note(Some(vec!["genbase-sweep-expired-holds (* * * * *)".into()]));
        assert!(some.contains("genbase-sweep-expired-holds"), "{some}");
    }
}
