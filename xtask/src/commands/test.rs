use anyhow::{anyhow, bail, Result};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;
use xtask::paths;
use xtask::process::run as run_cmd;
use xtask::stack::{Options, Ports, Stack};
use xtask::tools;

/// Everything CI checks, in order of cost; stops at the first failing step.
/// `--no-lint` skips fmt and clippy (for quick local loops).
pub fn run(args: &[String]) -> Result<()> {
    let started = Instant::now();
    let lint = !args.iter().any(|a| a == "--no-lint");
    let tools = tools::ensure_all()?;
    // `cargo xtask new` proves itself on every run: the demo group it makes is linted, built,
    // served and tested with everything else, and removed at the end.
    let _demo = xtask::scaffold::Temporary::create(&paths::root(), "demo")?;
    xtask::registry::check(&paths::root())?;
    // The sweeps' pg_cron schedules on Debian's PostgreSQL 15. It mostly waits for cron's next
    // minute, so it runs beside the other steps and is joined at the end.
    let mut pg_cron = Background::spawn({
        let psql = tools.pg_bin.join("psql");
        move |cancel| {
            let bin = tools::ensure_pg15_cron()?;
            xtask::pgcron::check(&bin, &psql, cancel)
        }
    });
    let cargo = || {
        let mut c = Command::new("cargo");
        c.current_dir(paths::root());
        c
    };
    let mut steps: Vec<(&str, f64)> = Vec::new();
    let mut step = |name: &'static str, f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        eprintln!("\n==> {name}");
        let t = Instant::now();
        f()?;
        steps.push((name, t.elapsed().as_secs_f64()));
        Ok(())
    };

    if lint {
        step("fmt", &mut || {
            run_cmd(cargo().args(["fmt", "--all", "--", "--check"]))
        })?;
        step("clippy (native)", &mut || {
            run_cmd(cargo().args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))
        })?;
        step("clippy (wasm32)", &mut || {
            let mut c = cargo();
            c.args([
                "clippy",
                "--target",
                "wasm32-unknown-unknown",
                "-p",
                "genbase-edge",
            ]);
            for f in xtask::build::function_names()? {
                c.args(["-p", &format!("fn-{f}")]);
            }
            run_cmd(c.args(["--", "-D", "warnings"]))
        })?;
        step("unused public items (shared)", &mut || {
            let unused = xtask::unused_pub::unused_in_shared(&paths::root())?;
            if unused.is_empty() {
                return Ok(());
            }
            for item in &unused {
                eprintln!("  {}:{} {}", item.file.display(), item.line, item.name);
            }
            bail!("public items of genbase-shared that nothing uses: remove them, or use them")
        })?;
    }
    step("unit tests (native)", &mut || {
        run_cmd(cargo().args([
            "test",
            "--workspace",
            "--exclude",
            "genbase-tests",
            "--exclude",
            "postgrest-standin",
            "--exclude",
            "fake-replicate",
        ]))
    })?;
    step("fake provider tests", &mut || {
        run_cmd(cargo().args(["test", "-p", "fake-replicate"]))
    })?;

    let mut stack = None;
    step("start stack", &mut || {
        stack = Some(Stack::start(
            &tools,
            Options {
                ports: Ports::free()?,
                data_dir: paths::state().join("test-db"),
                ephemeral: true,
                echo: std::env::var_os("GENBASE_ECHO").is_some(),
                with_functions: true,
            },
        )?);
        Ok(())
    })?;
    let Some(stack) = stack else {
        bail!("stack did not start")
    };
    let with_env = |c: &mut Command| {
        for (k, v) in &stack.env.vars {
            c.env(k, v);
        }
    };

    step("SQL tests (pgTAP)", &mut || {
        let pg_prove = tools.pgtap_root.join("usr/bin/pg_prove");
        let mut c = Command::new("perl");
        c.arg(pg_prove)
            .env("PERL5LIB", tools.pgtap_root.join("usr/share/perl5"))
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    stack.pg.psql().parent().unwrap_or(&paths::root()).display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .args([
                "--dbname",
                "postgres",
                "--host",
                "127.0.0.1",
                "--port",
                &stack.pg.port.to_string(),
                "--username",
                "postgres",
            ])
            .args(["--ext", ".sql", "-r"])
            .arg(paths::root().join("supabase/tests/database"));
        run_cmd(&mut c)
    })?;
    step("PostgREST stand-in conformance", &mut || {
        let mut c = cargo();
        with_env(&mut c);
        run_cmd(c.args(["test", "-p", "postgrest-standin"]))
    })?;
    step("end to end (workerd)", &mut || {
        let mut c = cargo();
        with_env(&mut c);
        run_cmd(c.args([
            "test",
            "--no-fail-fast",
            "-p",
            "genbase-tests",
            "--",
            "--test-threads",
            "4",
        ]))
    })?;
    drop(stack);
    step("pg_cron schedules (PostgreSQL 15)", &mut || {
        let summary = pg_cron.join()?;
        eprintln!("{summary}");
        Ok(())
    })?;

    eprintln!(
        "\nall checks passed in {:.0}s:",
        started.elapsed().as_secs_f64()
    );
    for (name, secs) in &steps {
        eprintln!("  {name:<34} {secs:>6.1}s");
    }
    Ok(())
}

/// A step running on its own thread. Dropped before being joined (an earlier step failed),
/// it asks the step to stop and waits for it, so nothing it started outlives the run.
struct Background {
    cancel: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<String>>>,
}

impl Background {
    fn spawn(f: impl FnOnce(&AtomicBool) -> Result<String> + Send + 'static) -> Background {
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        Background {
            cancel,
            handle: Some(std::thread::spawn(move || f(&flag))),
        }
    }

    fn join(&mut self) -> Result<String> {
        let handle = self
            .handle
            .take()
            .ok_or_else(|| anyhow!("background step already joined"))?;
        handle
            .join()
            .unwrap_or_else(|_| Err(anyhow!("background step panicked")))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
