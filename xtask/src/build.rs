//! Builds each function crate to a Worker bundle (`functions/<name>/build/worker/shim.mjs`)
//! with worker-build, using the project-local wasm-bindgen and the npm esbuild/binaryen so
//! nothing is downloaded. Skips a function whose bundle is newer than all of its inputs,
//! because wrangler runs the build command twice on every start.

use crate::paths;
use crate::process::run;
use anyhow::{bail, Result};
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

pub fn bundle_dir(name: &str) -> PathBuf {
    paths::root()
        .join("functions")
        .join(name)
        .join("build/worker")
}

pub fn wasm_file(name: &str) -> PathBuf {
    paths::root()
        .join("functions")
        .join(name)
        .join("build/index_bg.wasm")
}

/// Builds the named functions (all when empty). `optimize` runs wasm-opt (slow, ~13% smaller raw,
/// same gzip), which deploys want and local runs do not.
pub fn build(names: &[String], optimize: bool) -> Result<()> {
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
        // worker-build sets this for wasm-bindgen's macros; the same value here lets its own
        // cargo run reuse this build instead of compiling everything again.
        .env("WASM_BINDGEN_USE_JS_SYS", "1")
        .current_dir(paths::root());
    for n in &stale {
        cargo.args(["-p", &format!("fn-{n}")]);
    }
    run(&mut cargo)?;
    for n in stale {
        let mut wb = Command::new(paths::tools_bin().join("worker-build"));
        wb.arg("--release")
            .current_dir(paths::root().join("functions").join(n))
            .env("WASM_BINDGEN_BIN", paths::tools_bin().join("wasm-bindgen"))
            .env("ESBUILD_BIN", paths::node_bin("esbuild"))
            .env("WASM_OPT_BIN", paths::node_bin("wasm-opt"));
        if !optimize {
            wb.arg("--no-opt");
        }
        run(&mut wb)?;
    }
    Ok(())
}

fn is_fresh(name: &str) -> bool {
    let Ok(built) = std::fs::metadata(bundle_dir(name).join("shim.mjs")).and_then(|m| m.modified())
    else {
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
