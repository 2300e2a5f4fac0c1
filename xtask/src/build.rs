//! Builds each function crate to a Worker bundle (`functions/<name>/build/`): one cargo build
//! of every stale function for wasm32, then [`bundle`](crate::bundle) for each. Skips a
//! function whose bundle is newer than all of its inputs, because wrangler runs the build
//! command twice on every start.

use crate::bundle;
use crate::paths;
use crate::phases::Phases;
use crate::process::run;
use anyhow::{anyhow, bail, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// Every function crate (a folder under functions/ with a Cargo.toml), router first.
pub fn function_names() -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(paths::root().join("functions"))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort_by_key(|n| (n != "router", n.clone()));
    Ok(names)
}

/// The deployed module of a function's bundle.
pub fn wasm_file(name: &str) -> PathBuf {
    bundle::build_dir(name).join("index_bg.wasm")
}

/// rustc's output for a function, the bundler's input.
fn compiled_wasm(name: &str) -> PathBuf {
    paths::root()
        .join("target/wasm32-unknown-unknown/release")
        .join(format!("fn_{name}.wasm"))
}

/// Builds the named functions (all when empty). `optimize` runs wasm-opt (slow, ~13% smaller raw,
/// same gzip), which deploys want and local runs do not.
pub fn build(names: &[String], optimize: bool) -> Result<()> {
    build_timed(names, optimize, &Phases::new())
}

/// [`build`], timing the cargo build and the bundling as two phases of `phases`.
pub fn build_timed(names: &[String], optimize: bool, phases: &Phases) -> Result<()> {
    let all = function_names()?;
    let names: Vec<String> = if names.is_empty() {
        all.clone()
    } else {
        names.to_vec()
    };
    for n in &names {
        if !all.contains(n) {
            bail!("unknown function {n:?}; known: {all:?}");
        }
    }
    if names.iter().any(|n| n == "router") {
        router_assets()?;
    }
    let stale: Vec<&String> = names.iter().filter(|n| optimize || !is_fresh(n)).collect();
    if stale.is_empty() {
        return Ok(());
    }
    // One cargo invocation for all crates: shared dependencies compile once, crates link in parallel.
    let mut cargo = Command::new("cargo");
    cargo
        .args([
            "build",
            "--release",
            "--lib",
            "--target",
            "wasm32-unknown-unknown",
        ])
        // As worker-build does: wasm-bindgen's macros then use js_sys::futures instead of
        // wasm_bindgen_futures (an environment variable, since --cfg misses host proc-macros).
        .env("WASM_BINDGEN_USE_JS_SYS", "1")
        .current_dir(paths::root());
    for n in &stale {
        cargo.args(["-p", &format!("fn-{n}")]);
    }
    phases.time("wasm build (cargo)", || run(&mut cargo))?;
    // One thread per function: a bundle is mostly single-threaded work.
    phases.time("bundling (wasm-bindgen, esbuild)", || {
        std::thread::scope(|s| {
            let bundles: Vec<_> = stale
                .iter()
                .map(|n| s.spawn(move || bundle::bundle(n, &compiled_wasm(n), optimize)))
                .collect();
            bundles.into_iter().try_for_each(|b| {
                b.join()
                    .unwrap_or_else(|_| Err(anyhow!("a bundling thread panicked")))
            })
        })
    })
}

/// The router's static assets (its wrangler.toml's `[assets]` folder): the OpenAPI document
/// and the reference page's script from the `redoc` npm package. Copied on every build (two
/// files), so what the router serves is always this tree's document.
pub fn router_assets() -> Result<PathBuf> {
    let root = paths::root();
    let dir = root.join("functions/router/assets");
    std::fs::create_dir_all(&dir)?;
    for (from, to) in [
        ("openapi/openapi.json", "openapi.json"),
        (
            "node_modules/redoc/bundles/redoc.standalone.js",
            "redoc.standalone.js",
        ),
    ] {
        std::fs::copy(root.join(from), dir.join(to))
            .map_err(|e| anyhow!("copying {from} into the router's assets: {e}"))?;
    }
    Ok(dir)
}

fn is_fresh(name: &str) -> bool {
    // names.wasm is in every bundle this bundler made, which is renamed into place whole.
    let Ok(built) = std::fs::metadata(bundle::names_file(name)).and_then(|m| m.modified()) else {
        return false;
    };
    let root = paths::root();
    let inputs = [
        root.join("Cargo.toml"),
        root.join("Cargo.lock"),
        root.join("shared"),
        root.join("functions").join(name).join("src"),
        root.join("functions").join(name).join("Cargo.toml"),
    ];
    inputs.iter().all(|p| newest(p) <= built)
}

fn newest(path: &Path) -> SystemTime {
    let mut t = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    if path.is_dir() {
        if let Ok(rd) = std::fs::read_dir(path) {
            for e in rd.flatten() {
                t = t.max(newest(&e.path()));
            }
        }
    }
    t
}
