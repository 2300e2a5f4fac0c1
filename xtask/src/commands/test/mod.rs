use anyhow::{anyhow, bail, Result};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;
use xtask::paths;
use xtask::process::run as run_cmd;
use xtask::stack::{Options, Ports, RateLimits, Stack};
use xtask::tools;

mod browser;
mod suites;
use super::fuzz_api;
use suites::{run_side_by_side, Suite};

/// The fake provider's output files last this long in the tests' stacks (an hour at
/// Replicate): well past the storage jobs' first run (the sweeper's tick), so a test can
/// watch a copy land and then the provider's files disappear.
const PROVIDER_FILES_EXPIRE: std::time::Duration = std::time::Duration::from_secs(30);

/// Everything CI checks, in order of cost; stops at the first failing step.
/// `--no-lint` skips fmt and clippy (for quick local loops); `--only <test>` runs the SQL
/// tests and that one end-to-end test binary (tests/tests/<test>.rs) instead of every suite,
/// or (`--only browser`, `--only schemathesis`) that suite.
pub fn run(args: &[String]) -> Result<()> {
    let started = Instant::now();
    let lint = !args.iter().any(|a| a == "--no-lint");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .map(|i| {
            args.get(i + 1)
                .cloned()
                .ok_or_else(|| anyhow!("--only needs a test name"))
        })
        .transpose()?;
    let tools = tools::ensure_all()?;
    // The browser test's Chromium and Schemathesis: fetched on the first run, then found.
    let chromium = tools::ensure_chromium()?;
    let schemathesis = tools::ensure_schemathesis()?;
    // The OpenAPI document: fresh, complete, and one operation per declared route. Checked
    // before the demo group below exists (what a killed run left of it removed first, as
    // creating it does), since only the groups of the repository are documented.
    xtask::scaffold::remove(&paths::root(), "demo")?;
    xtask::openapi::check(&paths::root())?;
    // `cargo xtask new` proves itself on every run: the demo group it makes is linted, built,
    // served and tested with everything else, and removed at the end. The end-to-end tests
    // check its answers against a copy of the document that has it.
    let _demo = xtask::scaffold::Temporary::create(&paths::root(), "demo")?;
    let _demo_spec = xtask::openapi::stub::Temporary::add(&paths::root(), "demo")?;
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
        lint_while_compiling()?;
    }
    // One build of everything, linted as it compiles: every native test binary, with the
    // stand-in and the fake provider the stacks run (their integration tests need them), then
    // every function's WASM. The suites run the test binaries this build made, not cargo:
    // a cargo run selecting fewer packages or targets resolves other features and would
    // compile dozens of crates again.
    let mut binaries = Vec::new();
    step("build native (tests, services)", &mut || {
        binaries = TestBinary::build_all()?;
        Ok(())
    })?;
    step("build wasm32 (every function)", &mut || {
        xtask::build::build(&[], false)
    })?;
    step("TypeScript client (fresh types, tsc)", &mut || {
        super::tsclient::check()
    })?;
    if lint {
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

    // The crash test takes its database away from everything else, so it gets a stack of its
    // own and runs beside the other suites instead of after them.
    let mut stacks = None;
    step("start stacks", &mut || {
        let start = |dir: &str| {
            Stack::start(
                &tools,
                Options {
                    ports: Ports::free()?,
                    data_dir: paths::state().join(dir),
                    ephemeral: true,
                    echo: std::env::var_os("GENBASE_ECHO").is_some(),
                    with_functions: true,
                    bench: false,
                    prebuilt_services: true,
                    provider_files_expire: Some(PROVIDER_FILES_EXPIRE),
                    rate_limits: RateLimits::AsConfigured,
                },
            )
        };
        // The dev keys are created on first use: once, before two stacks race to make them.
        xtask::keys::Keys::load_or_create()?;
        let (main, crash) = std::thread::scope(|s| {
            let crash = s.spawn(|| start("test-db-crash"));
            (start("test-db"), crash.join())
        });
        let crash = crash.map_err(|_| anyhow!("starting the crash stack panicked"))?;
        stacks = Some((main?, crash?));
        Ok(())
    })?;
    let Some((stack, crash_stack)) = stacks else {
        bail!("stacks did not start")
    };
    let with_env = |c: &mut Command, stack: &Stack| {
        for (k, v) in &stack.env.vars {
            c.env(k, v);
        }
    };

    // Counts in the SQL tests assume nothing else writes meanwhile: they go first, alone.
    step("SQL tests (pgTAP)", &mut || {
        run_cmd(&mut pg_prove(&tools, &stack))
    })?;

    let pick = |dir: &str, keep: &dyn Fn(&TestBinary) -> bool, stack: Option<&Stack>| {
        binaries
            .iter()
            .filter(|b| b.dir == paths::root().join(dir) && keep(b))
            .map(|b| {
                let mut c = b.command();
                if let Some(stack) = stack {
                    with_env(&mut c, stack);
                }
                c
            })
            .collect::<Vec<_>>()
    };
    // Unit tests of every crate, and the fake provider's own tests (each starts its own fake).
    let mut unit: Vec<Command> = binaries
        .iter()
        .filter(|b| b.kind != "test")
        .map(TestBinary::command)
        .collect();
    unit.extend(pick("xtask/fake-replicate", &|b| b.kind == "test", None));
    unit.extend(pick("xtask/ingest", &|b| b.kind == "test", None));
    let mut conformance = pick("xtask/standin", &|b| b.kind == "test", Some(&stack));
    let mut e2e = pick(
        "tests",
        &|b| b.kind == "test" && b.name != CRASH_TEST,
        Some(&stack),
    );
    let mut crash = pick("tests", &|b| b.name == CRASH_TEST, Some(&crash_stack));
    // The browser test and Schemathesis: in every full run, or alone with `--only browser` /
    // `--only schemathesis`.
    let wants = |suite: &str| only.is_none() || only.as_deref() == Some(suite);
    // The example app is served while the suites run.
    let (browser, _web_app) = match wants("browser") {
        true => browser::commands(&stack, &chromium).map(|(c, app)| (c, Some(app)))?,
        false => (Vec::new(), None),
    };
    let mut fuzz = Vec::new();
    if wants("schemathesis") {
        let runs = fuzz_api::commands(
            &stack.env,
            &schemathesis,
            &fuzz_api::CI,
            &fuzz_api::report_dir(),
        )?;
        fuzz = runs.into_iter().map(|(_, cmd)| cmd).collect();
    }
    if let Some(only) = &only {
        e2e = pick(
            "tests",
            &|b| b.kind == "test" && &b.name == only,
            Some(&stack),
        );
        if e2e.is_empty() && browser.is_empty() && fuzz.is_empty() {
            bail!("--only {only}: no end-to-end test binary tests/tests/{only}.rs");
        }
        unit.clear();
        conformance.clear();
        crash.clear();
    }
    for c in &mut e2e {
        c.args(["--test-threads", "4"]);
    }
    let mut suites = vec![
        Suite {
            name: "unit tests (native)",
            cmds: unit,
        },
        Suite {
            name: "PostgREST stand-in conformance",
            cmds: conformance,
        },
        Suite {
            name: "end to end (workerd)",
            cmds: e2e,
        },
        Suite {
            name: "end to end, Postgres crash",
            cmds: crash,
        },
    ];
    if wants("browser") {
        suites.push(Suite {
            name: "browser (example app)",
            cmds: browser,
        });
    }
    if wants("schemathesis") {
        suites.push(Suite {
            name: "API fuzzing (Schemathesis)",
            cmds: fuzz,
        });
    }
    // An empty suite fails (a lost test binary must not pass quietly), except those --only leaves out.
    let suites: Vec<Suite> = suites
        .into_iter()
        .filter(|s| only.is_none() || !s.cmds.is_empty())
        .collect();
    let mut suites = Some(suites);
    let mut timed = Vec::new();
    step("test suites, side by side", &mut || {
        let logs = paths::root().join("target/test-logs");
        eprintln!("(each suite's output: {})", logs.display());
        timed = run_side_by_side(suites.take().unwrap_or_default(), &logs)?;
        Ok(())
    })?;
    drop((stack, crash_stack));
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
    for (name, secs) in &timed {
        eprintln!("    {name:<32} {secs:>6.1}s");
    }
    Ok(())
}

/// A test executable of the one build, as cargo reported it.
struct TestBinary {
    executable: PathBuf,
    /// The package's folder: cargo runs tests from there, and some read files relative to it.
    dir: PathBuf,
    /// `lib`, `bin` (unit tests) or `test` (a file of `tests/`).
    kind: String,
    name: String,
}

impl TestBinary {
    /// `cargo test --workspace --no-run`, reading the executables from its JSON messages.
    fn build_all() -> Result<Vec<TestBinary>> {
        let out = xtask::process::output(
            Command::new("cargo")
                .current_dir(paths::root())
                .args(["test", "--workspace", "--no-run", "--quiet"])
                .args(["--message-format", "json-render-diagnostics"]),
        )?;
        let mut found = Vec::new();
        for line in out.lines() {
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let (Some(exe), Some(manifest)) =
                (msg["executable"].as_str(), msg["manifest_path"].as_str())
            else {
                continue;
            };
            if msg["reason"] != "compiler-artifact" || msg["profile"]["test"] != true {
                continue;
            }
            found.push(TestBinary {
                executable: PathBuf::from(exe),
                dir: PathBuf::from(manifest)
                    .parent()
                    .map(PathBuf::from)
                    .unwrap_or_default(),
                kind: msg["target"]["kind"][0].as_str().unwrap_or_default().into(),
                name: msg["target"]["name"].as_str().unwrap_or_default().into(),
            });
        }
        if found.is_empty() {
            bail!("cargo test --no-run reported no test executables");
        }
        Ok(found)
    }

    /// Runs it the way `cargo test` does: from the package's folder, which it also names.
    fn command(&self) -> Command {
        let mut c = Command::new(&self.executable);
        c.current_dir(&self.dir)
            .env("CARGO_MANIFEST_DIR", &self.dir);
        c
    }
}

/// The end-to-end test file that kills its stack's Postgres.
const CRASH_TEST: &str = "fault";

/// Clippy lints every workspace crate while it compiles for the build steps (clippy-driver
/// as the workspace's rustc wrapper, which is what `cargo clippy` does for a check), so each
/// crate is compiled once per target instead of once for clippy and again for the tests.
/// Every cargo this process starts inherits it, which keeps their builds fresh for each other.
fn lint_while_compiling() -> Result<()> {
    let driver = xtask::process::output(Command::new("rustup").args(["which", "clippy-driver"]))?;
    std::env::set_var("RUSTC_WORKSPACE_WRAPPER", driver.trim());
    // How cargo-clippy passes `-- -D warnings` to the driver.
    std::env::set_var(
        "CLIPPY_ARGS",
        "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
    );
    Ok(())
}

fn pg_prove(tools: &tools::Tools, stack: &Stack) -> Command {
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
    c
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
