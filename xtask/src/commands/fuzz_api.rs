//! Schemathesis (pinned in xtask/schemathesis/requirements.txt) against a stack's
//! `GET /v1/openapi.json`: every operation with generated and malformed input, in three runs:
//! as a user (with a second user as its peer, whose reads of the first one's objects must
//! fail), as that second user, and without a token. Checks: no 5xx, every response as the spec
//! documents it (status, content type, headers, body), no credentials ignored, and no response
//! carrying the other user's data (xtask/schemathesis/hooks.py).
//!
//! `cargo xtask test` runs it with a small budget; `cargo xtask fuzz-api [--examples N]` runs
//! it on a throwaway stack of its own with a large one, stateful phase included.

use super::accounts::Account;
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use xtask::paths;
use xtask::stack::{Options, Ports, RateLimits, Stack, StackEnv};
use xtask::tools;

/// How much each run generates.
pub struct Budget {
    /// Schemathesis's `max-examples`: generated cases per operation in the fuzzing phase.
    pub examples: u32,
    /// The phases of the run as a user. `coverage` is not bounded by `examples`: it walks
    /// every parameter and field of the schema through its boundaries and wrong types
    /// (about 40 requests per operation here).
    pub user_phases: &'static str,
    /// The phases of the other two runs, which mostly see the same answers (401s, 404s).
    pub other_phases: &'static str,
    /// A fixed seed makes CI's cases the same on every run, so a failure reproduces.
    pub seed: Option<u64>,
}

/// What `cargo xtask test` spends.
pub const CI: Budget = Budget {
    examples: 4,
    user_phases: "coverage,fuzzing",
    other_phases: "fuzzing",
    seed: Some(14),
};

/// Requests in flight at once: the API's latency through wrangler, not Schemathesis's own
/// work, bounds one worker.
const WORKERS: u32 = 2;

/// `cargo xtask fuzz-api` without `--examples`.
const LONG_EXAMPLES: u32 = 100;

/// Checks left out, each with its reason. `positive_data_acceptance` expects every input the
/// schema allows to be accepted, but the spec cannot state what only the database knows (a
/// model that exists, a generation that belongs to the caller, credits that suffice), so
/// schema-valid input is rightly refused with a 4xx there.
const EXCLUDED_CHECKS: [&str; 1] = ["positive_data_acceptance"];

/// Credits of each user: enough that generations and replies get past the money check and
/// exercise what comes after it.
const CREDITS: i64 = 1_000_000;

/// `cargo xtask fuzz-api [--examples N]`: builds everything, starts a throwaway stack and runs
/// the three runs with the long budget. Reports go to target/test-logs/schemathesis.
pub fn run(args: &[String]) -> Result<()> {
    let examples = match args.iter().position(|a| a == "--examples") {
        Some(i) => args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("--examples needs a number"))?,
        None => LONG_EXAMPLES,
    };
    let budget = Budget {
        examples,
        user_phases: "examples,coverage,fuzzing,stateful",
        other_phases: "examples,coverage,fuzzing,stateful",
        seed: None,
    };
    let tools = tools::ensure_all()?;
    let schemathesis = tools::ensure_schemathesis()?;
    xtask::keys::Keys::load_or_create()?;
    let stack = Stack::start(
        &tools,
        Options {
            ports: Ports::free()?,
            data_dir: paths::state().join("fuzz-api-db"),
            ephemeral: true,
            echo: false,
            with_functions: true,
            bench: false,
            prebuilt_services: false,
            provider_files_expire: None,
            rate_limits: RateLimits::Raised,
        },
    )?;
    let mut failed = Vec::new();
    for (name, mut cmd) in commands(&stack.env, &schemathesis, &budget, &report_dir())? {
        eprintln!("\n==> Schemathesis {name}");
        if !cmd.status()?.success() {
            failed.push(name);
        }
    }
    if !failed.is_empty() {
        bail!("Schemathesis failed {failed:?}: see the output above and target/test-logs/schemathesis");
    }
    Ok(())
}

pub fn report_dir() -> PathBuf {
    paths::root().join("target/test-logs/schemathesis")
}

/// The three runs against the stack of `env`, named; their configs and reports go to `dir`.
pub fn commands(
    env: &StackEnv,
    schemathesis: &Path,
    budget: &Budget,
    dir: &Path,
) -> Result<Vec<(&'static str, Command)>> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let alice = Seeded::create(env, "fuzz-alice")?;
    let bob = Seeded::create(env, "fuzz-bob")?;
    let auth = dir.join("auth.json");
    std::fs::write(
        &auth,
        serde_json::to_string_pretty(&json!({
            "auth": [alice.wfc_entry("alice"), bob.wfc_entry("bob")]
        }))?,
    )?;
    let runs = [
        ("as a user", Some("alice"), markers(&[&bob])),
        ("as another user", Some("bob"), markers(&[&alice])),
        ("without a token", None, markers(&[&alice, &bob])),
    ];
    let mut cmds = Vec::new();
    for (name, user, foreign) in runs {
        let slug = name.replace(' ', "-");
        let phases = match user {
            Some("alice") => budget.user_phases,
            _ => budget.other_phases,
        };
        let config = dir.join(format!("{slug}.toml"));
        std::fs::write(
            &config,
            config_toml(env, budget, user.map(|u| (u, &auth)), dir, &slug),
        )?;
        let mut cmd = Command::new(schemathesis);
        // Its caches (`.schemathesis/`, Hypothesis's examples) go beside the reports, made
        // anew by each run: a run must not replay the last one's cases.
        cmd.current_dir(dir)
            .env("HYPOTHESIS_STORAGE_DIRECTORY", dir.join(".hypothesis"))
            .arg("--config-file")
            .arg(&config)
            .arg("run")
            .arg(format!("{}/v1/openapi.json", env.get("API_URL")))
            .args(["--no-color", "--phases", phases])
            .env("GENBASE_FOREIGN_MARKERS", serde_json::to_string(&foreign)?);
        cmds.push((name, cmd));
    }
    Ok(cmds)
}

fn config_toml(
    env: &StackEnv,
    budget: &Budget,
    user: Option<(&str, &PathBuf)>,
    dir: &Path,
    slug: &str,
) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let hooks = paths::root().join("xtask/schemathesis/hooks.py");
    let mut toml = format!(
        "base-url = {}\nhooks = {}\ncontinue-on-failure = true\nworkers = {WORKERS}\n",
        quote(env.get("API_URL")),
        quote(&hooks.display().to_string()),
    );
    if let Some(seed) = budget.seed {
        toml += &format!("seed = {seed}\n");
    }
    toml += &format!("\n[generation]\nmax-examples = {}\n", budget.examples);
    toml += &format!(
        "\n[reports]\ndirectory = {}\n[reports.junit]\nenabled = true\npath = {}\n",
        quote(&dir.display().to_string()),
        quote(&dir.join(format!("{slug}.junit.xml")).display().to_string()),
    );
    toml += "\n[checks]\n";
    for check in EXCLUDED_CHECKS {
        toml += &format!("{check}.enabled = false\n");
    }
    // A body over the size limit is refused before it is parsed: 413 is a rejection too.
    toml += "\n[checks.negative_data_rejection]\nexpected-statuses = [\"400\", \"401\", \"403\", \
             \"404\", \"405\", \"406\", \"409\", \"413\", \"415\", \"422\", \"428\", \"429\", \"5xx\"]\n";
    if let Some((user, auth)) = user {
        toml += &format!(
            "\n[auth.wfc]\npath = {}\nuser = {}\npeers = [\"alice\", \"bob\"]\n",
            quote(&auth.display().to_string()),
            quote(user),
        );
    }
    toml
}

/// A user with one object of each kind it can own, and the ids that name them.
struct Seeded {
    account: Account,
    ids: Vec<String>,
}

impl Seeded {
    fn create(env: &StackEnv, label: &str) -> Result<Seeded> {
        let account = Account::create(env, label, CREDITS, 4)?;
        let name = format!("private-{label}");
        let m = name.as_str();
        let objects: [(&str, Value); 7] = [
            (
                "/v1/generations",
                json!({"kind": "image", "model": "flux-schnell", "prompt": m}),
            ),
            ("/v1/conversations", json!({"title": m})),
            ("/v1/memories", json!({"content": m})),
            ("/v1/projects", json!({"name": m})),
            ("/v1/flows", json!({"name": m})),
            ("/v1/workspaces", json!({"name": m})),
            (
                "/v1/uploads",
                json!({"purpose": "document", "content_type": "text/plain", "bytes": 5,
                       "filename": format!("{m}.txt")}),
            ),
        ];
        let mut ids = Vec::new();
        for (path, body) in objects {
            let made = account.call(env, "POST", path, Some(body))?;
            let id = [&made["id"], &made["generation"]["id"], &made["upload_id"]]
                .into_iter()
                .find_map(|v| v.as_str())
                .ok_or_else(|| anyhow::anyhow!("POST {path} answered no id: {made}"))?;
            ids.push(id.to_string());
        }
        Ok(Seeded { account, ids })
    }

    fn wfc_entry(&self, name: &str) -> Value {
        json!({
            "name": name,
            "fixedHeaders": [
                {"name": "Authorization", "value": format!("Bearer {}", self.account.token)}
            ]
        })
    }
}

/// What a run must never receive of `users`: their user ids, emails and objects' ids.
fn markers(users: &[&Seeded]) -> Vec<String> {
    users
        .iter()
        .flat_map(|u| {
            [u.account.id.to_string(), u.account.email.clone()]
                .into_iter()
                .chain(u.ids.iter().cloned())
        })
        .collect()
}
