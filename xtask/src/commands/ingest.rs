use anyhow::{bail, Result};
use std::process::Command;
use xtask::paths;
use xtask::process::run as run_cmd;
use xtask::stack::{register_worker, StackEnv};

/// `cargo xtask ingest [--once] [--concurrency N] [--max-bytes N] [--key gw_...]`: runs the
/// ingest worker (xtask/ingest) in the foreground against the running dev stack, with a key
/// registered for it (service role, local stack only) unless given one. `cargo xtask dev`
/// runs one already; this one is for watching a run, or a second worker.
pub fn run(args: &[String]) -> Result<()> {
    let env = StackEnv::read_dev()?;
    let mut key = None;
    let mut passed = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--key" => key = it.next().cloned(),
            "--once" => passed.push(a.clone()),
            "--concurrency" | "--max-bytes" => {
                passed.push(a.clone());
                passed.extend(it.next().cloned());
            }
            other => bail!("unexpected argument {other:?}"),
        }
    }
    let key = match key {
        Some(k) => k,
        None => {
            let key = register_worker(
                env.get("SUPABASE_URL"),
                env.get("SUPABASE_SERVICE_ROLE_KEY"),
                "ingest-worker",
                &["ingest.file", "embed.messages"],
            )?;
            eprintln!("ingest: registered a worker for ingest.file, embed.messages");
            key
        }
    };
    run_cmd(
        Command::new("cargo")
            .args(["run", "--quiet", "-p", "genbase-ingest", "--"])
            .args(["--api-url", env.get("API_URL"), "--worker-key", &key])
            .args(passed)
            .current_dir(paths::root()),
    )
}
