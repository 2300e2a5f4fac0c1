//! The whole local stack: Postgres (+ our SQL), the PostgREST stand-in, the fake AI provider
//! and every function behind the router in `wrangler dev`. Used by `dev`, `test` and `bench`.

use crate::build;
use crate::keys::Keys;
use crate::paths;
use crate::phases::Phases;
use crate::postgres::Postgres;
use crate::process::{free_port, run, Ready, Service};
use crate::tools::Tools;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct Ports {
    pub postgres: u16,
    pub api: u16,
    pub router: u16,
    pub provider: u16,
}

impl Ports {
    /// The fixed ports of `cargo xtask dev` (the router on wrangler's usual 8787).
    pub fn dev() -> Ports {
        Ports {
            postgres: 54322,
            api: 54321,
            router: 8787,
            provider: 54329,
        }
    }

    /// Free ports, so tests never collide with a running dev stack.
    pub fn free() -> Result<Ports> {
        Ok(Ports {
            postgres: free_port()?,
            api: free_port()?,
            router: free_port()?,
            provider: free_port()?,
        })
    }
}

/// The settings a client of the stack needs, printed by `cargo xtask status`.
pub struct StackEnv {
    pub vars: Vec<(&'static str, String)>,
}

impl StackEnv {
    pub fn get(&self, key: &str) -> &str {
        self.vars
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    pub fn render(&self) -> String {
        self.vars
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    }

    /// Reads the env file a running `cargo xtask dev` wrote.
    pub fn read_dev() -> Result<StackEnv> {
        let text = std::fs::read_to_string(dev_env_file())
            .context("no running stack found: start it with `cargo xtask dev`")?;
        let vars = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .filter_map(|(k, v)| {
                KEYS.iter()
                    .find(|key| **key == k)
                    .map(|key| (*key, v.to_string()))
            })
            .collect();
        Ok(StackEnv { vars })
    }
}

const KEYS: [&str; 9] = [
    "API_URL",
    "SUPABASE_URL",
    "SUPABASE_ANON_KEY",
    "SUPABASE_SERVICE_ROLE_KEY",
    "DATABASE_URL",
    "JWT_ISSUER",
    "PROVIDER_URL",
    "REPLICATE_WEBHOOK_SECRET",
    "STACK_DIR",
];

pub fn dev_env_file() -> PathBuf {
    paths::state().join("dev.env")
}

pub struct Stack {
    // Held only to be dropped: fields drop in order, so the sweeper stops before Postgres.
    // The bench's stack runs none, so nothing lands in its measured windows.
    _sweeper: Option<Sweeper>,
    pub env: StackEnv,
    pub pg: Postgres,
    // Stopped in reverse order of start when the stack drops.
    services: Vec<Service>,
}

/// What pg_cron and the Workers' Cron Triggers do on a deployment: every few seconds, run the
/// scheduled jobs that are due (`api.run_due_jobs()` reads their registry,
/// `private.scheduled_jobs`: sweeps of expired leases and holds, purges, roll-ups,
/// retention), and (when the functions run) reconcile provider generations and run the
/// storage jobs through their admin routes.
struct Sweeper {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Where the sweeper reaches the reconciliation route, and how it signs its admin token.
struct Reconcile {
    api_url: String,
    issuer: String,
    keys: Keys,
}

impl Reconcile {
    /// The operator account the local sweeper acts as. Reconciliation needs the provider
    /// tokens, which only the generations Worker holds, so it is an HTTP call; the route takes
    /// an admin's token (what an operator would use), minted the way `cargo xtask token`
    /// does. The service-role key would not do: it is not a user token (no `aud`), and
    /// functions accept user tokens only.
    const ADMIN_EMAIL: &'static str = "reconciler@genbase.local";

    fn token(&self, db: &mut postgres::Client) -> Result<String> {
        let id = crate::users::ensure_user(db, Self::ADMIN_EMAIL)?;
        db.execute(
            "update public.profiles set role = 'admin' where id = $1 and role <> 'admin'",
            &[&id],
        )?;
        let claims = crate::keys::access_token_claims(
            &self.issuer,
            &id.to_string(),
            Self::ADMIN_EMAIL,
            "authenticated",
            crate::keys::now() + 3600,
        );
        self.keys.sign_es256(&claims)
    }

    /// The Workers' Cron Trigger jobs: reconciliation with the provider, then the storage
    /// jobs (copies of provider outputs, removals of deleted files).
    const ROUTES: [&'static str; 2] = ["/v1/admin/reconcile", "/v1/admin/storage-jobs"];

    fn run(&self, db: &mut postgres::Client) -> Result<()> {
        let token = self.token(db)?;
        for route in Self::ROUTES {
            let answer = ureq::post(&format!("{}{route}", self.api_url))
                .set("authorization", &format!("Bearer {token}"))
                .timeout(Duration::from_secs(60))
                .call();
            match answer {
                Ok(_) => {}
                Err(ureq::Error::Status(status, r)) => anyhow::bail!(
                    "{route} answered {status}: {}",
                    r.into_string().unwrap_or_default()
                ),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

impl Sweeper {
    const EVERY: Duration = Duration::from_secs(5);
    /// Jobs one tick runs at most: more than the registry holds, so a tick ends even if a
    /// job were somehow due again at once.
    const MAX_JOBS_PER_TICK: usize = 50;

    /// The jobs the registry (private.scheduled_jobs) says are due, one transaction each:
    /// `api.run_due_jobs()` runs one per call and answers `{}` when none is left.
    fn run_due_jobs(db: &mut postgres::Client) -> Result<(), postgres::Error> {
        for _ in 0..Self::MAX_JOBS_PER_TICK {
            let ran: serde_json::Value = db.query_one("select api.run_due_jobs()", &[])?.get(0);
            if ran.as_object().is_none_or(|m| m.is_empty()) {
                break;
            }
        }
        Ok(())
    }

    fn start(db_url: String, reconcile: Option<Reconcile>) -> Sweeper {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut db = None;
            while !flag.load(Ordering::SeqCst) {
                if db.is_none() {
                    db = postgres::Client::connect(&db_url, postgres::NoTls).ok();
                }
                if let Some(c) = db.as_mut() {
                    let swept = Self::run_due_jobs(c);
                    if let Err(e) = swept {
                        eprintln!("xtask: sweep failed: {e}");
                        db = None;
                    } else if let Some(r) = &reconcile {
                        // A failed run (Postgres restarting, say) is retried on the next tick.
                        if let Err(e) = r.run(c) {
                            eprintln!("xtask: reconcile failed: {e}");
                        }
                    }
                }
                let until = std::time::Instant::now() + Self::EVERY;
                while !flag.load(Ordering::SeqCst) && std::time::Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        Sweeper {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub struct Options {
    pub ports: Ports,
    pub data_dir: PathBuf,
    /// Tests and benches use a throwaway cluster; dev keeps its data between runs.
    pub ephemeral: bool,
    pub echo: bool,
    pub with_functions: bool,
    /// The bench measures the stand-in and the fake provider built with optimizations, and
    /// without the sweeper's background work landing in its measured windows.
    pub bench: bool,
    /// The caller has built the stand-in, the fake provider and the ingest worker already
    /// (`cargo xtask test`, in its whole-workspace build, which builds each binary for its
    /// integration tests: building just these packages resolves other features of their
    /// dependencies and would compile about 70 crates again).
    pub prebuilt_services: bool,
    /// How long the fake provider keeps output files (`None`: an hour, as Replicate). The
    /// tests' stacks make it short, so a gallery that still leans on the provider shows.
    pub provider_files_expire: Option<Duration>,
    /// The requests per minute the Workers count with.
    pub rate_limits: RateLimits,
}

/// The phase of [`Stack::start_timed`] that builds the stand-in and the fake provider.
pub const NATIVE_BUILD: &str = "native build (stand-in, fake provider, ingest worker)";

/// Builds the stand-in and the fake provider (optimized for the bench), and the ingest worker
/// for the other stacks; returns the folder of their binaries.
pub fn build_services(release: bool) -> Result<PathBuf> {
    let (profile, folder) = if release {
        ("bench-services", "bench-services")
    } else {
        ("dev", "debug")
    };
    let mut cargo = Command::new("cargo");
    cargo
        .args(["build", "--quiet", "--profile", profile])
        .args(["-p", "postgrest-standin", "-p", "fake-replicate"]);
    // The ingest worker runs with the dev and test stacks, not the bench's.
    if !release {
        cargo.args(["-p", "genbase-ingest"]);
    }
    run(cargo.current_dir(paths::root()))?;
    Ok(paths::root().join("target").join(folder))
}

/// The Worker configs one stack serves: a copy of each function's `wrangler.toml` (the
/// router's first) with `main` made absolute and the stack's vars in a `.dev.vars` beside it
/// (with the function's [`local_rate_limits`]).
/// Two stacks at once (the test run's) would otherwise share the `.dev.vars` files of the
/// source tree and read each other's URLs. The `[build]` table is left out: the stack has
/// built every bundle already, and with it wrangler watches a `src` beside the copy, whose
/// spurious change events made it rebuild and restart every Worker while tests ran.
fn stack_configs(
    dir: &Path,
    names: &[String],
    vars: &str,
    limits: RateLimits,
) -> Result<Vec<PathBuf>> {
    let root = paths::root();
    let _ = std::fs::remove_dir_all(dir.join("configs"));
    let mut configs = Vec::new();
    for name in names {
        let source = if name == "router" {
            root.clone()
        } else {
            root.join("functions").join(name)
        };
        let source_text = std::fs::read_to_string(source.join("wrangler.toml"))?;
        let text = served_config(&source_text, &source);
        let into = dir.join("configs").join(name);
        std::fs::create_dir_all(&into)?;
        std::fs::write(into.join("wrangler.toml"), text)?;
        std::fs::write(
            into.join(".dev.vars"),
            format!("{vars}{}", local_rate_limits(&source_text, limits)),
        )?;
        configs.push(into.join("wrangler.toml"));
    }
    Ok(configs)
}

/// Waits until a request under each of the router's prefixes is answered by its function
/// (our error body carries `x-request-id`). wrangler loads the Workers of a multi-config
/// session one after another and restarts the runtime for each, so the router answering
/// first says nothing of the others; a request during a restart is answered "Your worker
/// restarted mid-request".
fn wait_for_every_function(router_url: &str, within: Duration) -> Result<()> {
    let source = std::fs::read_to_string(paths::root().join("functions/router/src/lib.rs"))?;
    let deadline = std::time::Instant::now() + within;
    for (prefix, binding) in crate::registry::router_routes(&source) {
        let url = format!("{router_url}{prefix}/__ready");
        loop {
            let answered = match ureq::get(&url).timeout(Duration::from_secs(5)).call() {
                Ok(r) | Err(ureq::Error::Status(_, r)) => r.header("x-request-id").is_some(),
                Err(_) => false,
            };
            if answered {
                break;
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!("{binding} (under {prefix}) did not answer within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    Ok(())
}

/// The limits a stack's Workers count with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateLimits {
    /// Each binding's `limit`, as deployed.
    AsConfigured,
    /// A thousand times that: for the bench and the long API fuzzing run, which send thousands
    /// of requests a minute as one user and measure the path (the limiter's check included),
    /// not the limit.
    Raised,
}

/// The vars that stand in for a function's `[[ratelimits]]` bindings, one
/// `LOCAL_RATELIMIT_<name>=<limit>/<period>` line each: the pinned wrangler gives rate limit
/// bindings only to the first Worker of a multi-config session, and genbase-edge counts
/// locally from these where the binding is missing (shared/edge/src/rate_limit.rs).
fn local_rate_limits(text: &str, limits: RateLimits) -> String {
    let scale = match limits {
        RateLimits::AsConfigured => 1,
        RateLimits::Raised => 1000,
    };
    let number_after = |line: &str, key: &str| -> Option<u64> {
        let rest = &line[line.find(&format!("{key} = "))? + key.len() + 3..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let mut out = String::new();
    let mut entry: Option<(Option<String>, Option<u64>, Option<u64>)> = None;
    let mut flush = |entry: &mut Option<(Option<String>, Option<u64>, Option<u64>)>| {
        if let Some((Some(name), Some(limit), Some(period))) = entry.take() {
            let limit = limit * scale;
            out.push_str(&format!("LOCAL_RATELIMIT_{name}={limit}/{period}\n"));
        }
    };
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') && line != "[ratelimits.simple]" {
            flush(&mut entry);
            if line == "[[ratelimits]]" {
                entry = Some((None, None, None));
            }
            continue;
        }
        let Some((name, limit, period)) = entry.as_mut() else {
            continue;
        };
        if let Some(value) = line.strip_prefix("name = \"") {
            *name = Some(value.trim_end_matches('"').to_string());
        }
        *limit = limit.or(number_after(line, "limit"));
        *period = period.or(number_after(line, "period"));
    }
    flush(&mut entry);
    out
}

/// A function's `wrangler.toml` as a stack serves it: `main` and an `[assets]` directory
/// absolute (from `source`, its folder), the `[build]` table left out.
fn served_config(text: &str, source: &Path) -> String {
    let mut in_build = false;
    text.lines()
        .filter(|line| {
            if line.starts_with('[') {
                in_build = line.trim() == "[build]";
            }
            !in_build
        })
        .map(|line| {
            // The paths a config names are relative to its folder: the served copy lives elsewhere.
            for key in ["main", "directory"] {
                if let Some(path) = line.strip_prefix(&format!("{key} = \"")) {
                    let path = source.join(path.trim_end_matches('"'));
                    return format!("{key} = \"{}\"\n", path.display());
                }
            }
            format!("{line}\n")
        })
        .collect()
}

/// The task types the ingest worker (xtask/ingest) runs: its key's capabilities.
const INGEST_TASK_TYPES: [&str; 2] = ["ingest.file", "embed.messages"];

/// Registers a worker as an operator does: `api.register_worker` through the API with the
/// service-role key. Returns the worker's key.
pub fn register_worker(
    supabase_url: &str,
    service_key: &str,
    name: &str,
    task_types: &[&str],
) -> Result<String> {
    let answer: serde_json::Value =
        ureq::post(&format!("{supabase_url}/rest/v1/rpc/register_worker"))
            .set("apikey", service_key)
            .set("authorization", &format!("Bearer {service_key}"))
            .send_json(serde_json::json!({"p_name": name, "p_capabilities": task_types}))?
            .into_json()?;
    answer["worker_key"]
        .as_str()
        .map(str::to_string)
        .context("register_worker answered no worker_key")
}

/// The ingest worker against the router, its key in a file beside the data folder (readable
/// by us only) rather than on its command line.
fn start_ingest_worker(target: &Path, api_url: &str, key: &str, opts: &Options) -> Result<Service> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let key_file = opts.data_dir.with_extension("ingest-key");
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&key_file)?
        .write_all(key.as_bytes())?;
    Service::start(
        "ingest",
        Command::new(target.join("genbase-ingest"))
            .args(["--api-url", api_url])
            .arg("--worker-key-file")
            .arg(&key_file),
        Ready::Line("polling"),
        Duration::from_secs(30),
        opts.echo,
    )
}

impl Stack {
    pub fn start(tools: &Tools, opts: Options) -> Result<Stack> {
        Stack::start_timed(tools, opts, &Phases::new())
    }

    /// [`Stack::start`], timing its phases in `phases`.
    pub fn start_timed(tools: &Tools, opts: Options, phases: &Phases) -> Result<Stack> {
        let keys = Keys::load_or_create()?;
        let Ports {
            postgres,
            api,
            router,
            provider,
        } = opts.ports;
        if opts.ephemeral {
            let _ = std::fs::remove_dir_all(&opts.data_dir);
        }
        let t0 = std::time::Instant::now();
        let pg = phases.time("Postgres start + migrations", || -> Result<Postgres> {
            let pg = Postgres::start(tools, opts.data_dir.clone(), postgres, true)?;
            pg.apply_schema()?;
            Ok(pg)
        })?;
        eprintln!(
            "xtask: postgres ready on {postgres} with migrations applied ({:.1}s)",
            t0.elapsed().as_secs_f64()
        );

        let target = if opts.prebuilt_services {
            paths::root().join("target/debug")
        } else {
            phases.time(NATIVE_BUILD, || build_services(opts.bench))?
        };
        let api_url = format!("http://127.0.0.1:{api}");
        let router_url = format!("http://127.0.0.1:{router}");
        let provider_url = format!("http://127.0.0.1:{provider}");
        let issuer = format!("{api_url}/auth/v1");
        let anon = keys.api_key("anon")?;
        let service = keys.api_key("service_role")?;

        // Storage's bytes, beside the database (whose folder belongs to Postgres): gone with
        // an ephemeral stack's data, kept with dev's.
        let storage_dir = opts.data_dir.with_extension("storage");
        if opts.ephemeral {
            let _ = std::fs::remove_dir_all(&storage_dir);
        }
        let mut services = Vec::new();
        services.push(Service::start(
            "postgrest",
            Command::new(target.join("postgrest-standin"))
                .args(["--listen", &format!("127.0.0.1:{api}")])
                .args(["--db-uri", &pg.url("authenticator")])
                .args(["--schemas", "api"])
                .args(["--anon-role", "anon"])
                .arg("--jwt-secret-file")
                .arg(keys.secret_file())
                .arg("--jwks-file")
                .arg(keys.jwks_file())
                .arg("--storage-dir")
                .arg(&storage_dir),
            Ready::Line("listening on"),
            Duration::from_secs(30),
            opts.echo,
        )?);
        services.push(Service::start(
            "provider",
            Command::new(target.join("fake-replicate"))
                .args(["--listen", &format!("127.0.0.1:{provider}")])
                .args(["--webhook-secret", &keys.webhook_secret])
                .args(
                    opts.provider_files_expire
                        .iter()
                        .flat_map(|d| ["--files-expire-ms".to_string(), d.as_millis().to_string()]),
                ),
            Ready::Line("listening on"),
            Duration::from_secs(30),
            opts.echo,
        )?);

        let env = StackEnv {
            vars: vec![
                ("API_URL", router_url.clone()),
                ("SUPABASE_URL", api_url.clone()),
                ("SUPABASE_ANON_KEY", anon.clone()),
                ("SUPABASE_SERVICE_ROLE_KEY", service.clone()),
                ("DATABASE_URL", pg.url("postgres")),
                ("JWT_ISSUER", issuer.clone()),
                ("PROVIDER_URL", provider_url.clone()),
                ("REPLICATE_WEBHOOK_SECRET", keys.webhook_secret.clone()),
                ("STACK_DIR", opts.data_dir.display().to_string()),
            ],
        };

        if opts.with_functions {
            build::build_timed(&[], false, phases)?;
            let vars = format!(
                "SUPABASE_URL={api_url}\nSUPABASE_ANON_KEY={anon}\nSUPABASE_SERVICE_ROLE_KEY={service}\n\
                 JWT_ISSUER={issuer}\nJWT_SECRET={secret}\nCORS_ORIGINS=http://localhost:3000,http://127.0.0.1:3000\n\
                 REPLICATE_API_URL={provider_url}\nREPLICATE_API_TOKEN=r8_local_dev\n\
                 OPENAI_API_URL={provider_url}\nANTHROPIC_API_URL={provider_url}\n\
                 OPENAI_API_KEY=sk-local-dev\nANTHROPIC_API_KEY=sk-ant-local-dev\n\
                 REPLICATE_WEBHOOK_SECRET={whsec}\nPUBLIC_URL={router_url}\n",
                whsec = keys.webhook_secret,
                secret = keys.jwt_secret,
            );
            let names = build::function_names()?;
            let mut wrangler = Command::new(paths::node_bin("wrangler"));
            wrangler.arg("dev").current_dir(paths::root());
            let served = opts.data_dir.with_extension("wrangler");
            for config in stack_configs(&served, &names, &vars, opts.rate_limits)? {
                wrangler.arg("-c").arg(config);
            }
            wrangler
                .args(["--ip", "127.0.0.1", "--port", &router.to_string()])
                .args(["--inspector-port", &free_port()?.to_string()])
                .args([
                    "--log-level",
                    "warn",
                    "--show-interactive-dev-session=false",
                ])
                .arg("--persist-to")
                .arg(served.join("state"))
                .env("WRANGLER_SEND_METRICS", "false")
                // Each stack its own wrangler home: its dev registry (where sessions publish
                // their Workers by name) would otherwise be shared by the test run's two
                // stacks, whose Workers have the same names, and a session seeing the other's
                // entries come and go restarts its Workers mid-request.
                .env("XDG_CONFIG_HOME", served.join("home"));
            // With --log-level warn wrangler prints no "Ready" line: poll the router instead.
            let probe = format!("{router_url}/v1/me");
            services.push(phases.time("services ready (wrangler's first answer)", || {
                Service::start(
                    "wrangler",
                    &mut wrangler,
                    Ready::Http(&probe),
                    Duration::from_secs(180),
                    opts.echo,
                )
            })?);
            phases.time("every function answering", || {
                wait_for_every_function(&router_url, Duration::from_secs(120))
            })?;
            if !opts.bench {
                let key = register_worker(&api_url, &service, "ingest-worker", &INGEST_TASK_TYPES)?;
                services.push(start_ingest_worker(&target, &router_url, &key, &opts)?);
            }
        }
        let reconcile = opts.with_functions.then(|| Reconcile {
            api_url: router_url.clone(),
            issuer: issuer.clone(),
            keys,
        });
        Ok(Stack {
            _sweeper: (!opts.bench).then(|| Sweeper::start(pg.url("postgres"), reconcile)),
            env,
            pg,
            services,
        })
    }

    /// The stack's processes by name, for CPU accounting: each service's process group id
    /// (wrangler's group holds workerd), and the postmaster's pid.
    pub fn processes(&self) -> Result<Vec<(&'static str, u32)>> {
        let mut out: Vec<(&'static str, u32)> =
            self.services.iter().map(|s| (s.name, s.pid())).collect();
        out.push(("postgres", self.pg.postmaster_pid()?));
        Ok(out)
    }

    /// True while every service is still running.
    pub fn healthy(&mut self) -> bool {
        self.services.iter_mut().all(|s| s.is_running())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        while let Some(mut s) = self.services.pop() {
            s.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{local_rate_limits, served_config, RateLimits};
    use std::path::Path;

    #[test]
    fn each_rate_limit_binding_becomes_a_local_var() {
        let text = "name = \"genbase-x\"\n\n[[ratelimits]]\nname = \"USER_RATE_LIMIT\"\n\
                    namespace_id = \"1501\"\nsimple = { limit = 1200, period = 60 }\n\n\
                    [[ratelimits]]\nname = \"IP_RATE_LIMIT\"\nnamespace_id = \"1502\"\n\
                    [ratelimits.simple]\nlimit = 300\nperiod = 60\n\n[vars]\nlimit = 5\n";
        assert_eq!(
            local_rate_limits(text, RateLimits::AsConfigured),
            "LOCAL_RATELIMIT_USER_RATE_LIMIT=1200/60\nLOCAL_RATELIMIT_IP_RATE_LIMIT=300/60\n"
        );
        assert!(local_rate_limits(text, RateLimits::Raised)
            .starts_with("LOCAL_RATELIMIT_USER_RATE_LIMIT=1200000/60\n"));
        let webhooks = "name = \"genbase-webhooks\"\n";
        assert_eq!(local_rate_limits(webhooks, RateLimits::AsConfigured), "");
    }

    #[test]
    fn a_served_config_has_an_absolute_main_and_no_build_table() {
        let text = "name = \"genbase-media\"\nmain = \"build/worker/shim.mjs\"\n\n[build]\n\
                    command = \"cargo xtask build media\"\n\n[triggers]\ncrons = [\"* * * * *\"]\n";
        let served = served_config(text, Path::new("/src/functions/media"));
        assert_eq!(
            served,
            "name = \"genbase-media\"\nmain = \"/src/functions/media/build/worker/shim.mjs\"\n\n\
             [triggers]\ncrons = [\"* * * * *\"]\n"
        );
    }

    #[test]
    fn a_served_config_names_its_assets_folder_absolutely() {
        let text = "main = \"m.mjs\"\n[assets]\ndirectory = \"functions/router/assets\"\n";
        let served = served_config(text, Path::new("/src"));
        assert!(served.contains("directory = \"/src/functions/router/assets\"\n"));
    }
}
