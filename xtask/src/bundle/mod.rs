//! One function's Worker bundle from its compiled wasm, the way worker-build 0.8.7 makes it
//! (same options, shim and esbuild step), without installing worker-build or the
//! wasm-bindgen CLI. What `functions/<name>/build/` then holds:
//!
//! - `index.js`: esbuild's minified bundle of the shim and wasm-bindgen's glue;
//! - `index_bg.wasm`: the module, without function names (wasm-opt'ed with `--optimize`);
//! - `worker/shim.mjs`: re-exports `index.js`; `main` in every wrangler.toml points here;
//! - `names.wasm`: the module with function names, for [`attribute`]; never deployed.

mod attribute;
mod bindgen;
mod shim;
mod strip;

pub use attribute::attribute;

use crate::paths;
use crate::process::run;
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// worker-build's `worker/shim.mjs`, word for word.
const SHIM_MJS: &str = "// Use index.js directly, this file provided for backwards compat
// with former shim.mjs only.
export * from '../index.js';
export { default } from '../index.js';
";

/// The wasm features wasm-opt may use: rustc's defaults for wasm32-unknown-unknown and the
/// exception handling of wasm-bindgen's catch wrappers. Listed rather than `--all-features`
/// so that no encoding workerd does not know yet is emitted (worker-build's list).
const WASM_FEATURES: [&str; 7] = [
    "mutable-globals",
    "sign-ext",
    "nontrapping-float-to-int",
    "bulk-memory",
    "multivalue",
    "reference-types",
    "exception-handling",
];

pub fn build_dir(name: &str) -> PathBuf {
    paths::root().join("functions").join(name).join("build")
}

pub fn names_file(name: &str) -> PathBuf {
    build_dir(name).join("names.wasm")
}

/// Bundles `wasm` (rustc's output for the function `name`) into `functions/<name>/build/`.
/// The bundle is made in a staging folder and renamed into place whole, so a reader never
/// sees half of one.
pub fn bundle(name: &str, wasm: &Path, optimize: bool) -> Result<()> {
    let staging = paths::root()
        .join("target/bundle")
        .join(format!("{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging)?;
    bindgen::generate(wasm, &staging)?;

    let module = staging.join("index_bg.wasm");
    let named = fs::read(&module)?;
    fs::write(&module, strip::without_names(&named)?)?;
    fs::write(staging.join("names.wasm"), named)?;
    if optimize {
        wasm_opt(&module)?;
    }

    let index = staging.join("index.js");
    fs::write(
        staging.join("shim.js"),
        shim::render(&fs::read_to_string(&index)?),
    )?;
    esbuild(&staging)?;
    // As worker-build does: wrangler loads the module through a plain import.
    let js = fs::read_to_string(&index)?.replace("import source ", "import ");
    fs::write(&index, js)?;
    fs::remove_file(staging.join("shim.js"))?;
    if staging.join("snippets").exists() {
        fs::remove_dir_all(staging.join("snippets"))?;
    }
    fs::create_dir(staging.join("worker"))?;
    fs::write(staging.join("worker/shim.mjs"), SHIM_MJS)?;

    let out = build_dir(name);
    if out.exists() {
        fs::remove_dir_all(&out)?;
    }
    fs::rename(&staging, &out)
        .with_context(|| format!("moving {} to {}", staging.display(), out.display()))
}

/// The shim and everything it imports (the glue, its snippets) in one minified `index.js`.
fn esbuild(dir: &Path) -> Result<()> {
    run(Command::new(paths::node_bin("esbuild"))
        .args([
            "--external:./index_bg.wasm",
            "--external:cloudflare:*",
            "--format=esm",
            "--bundle",
            "./shim.js",
            "--outfile=index.js",
            "--allow-overwrite",
            "--minify",
            "--log-level=warning",
        ])
        .current_dir(dir))
}

fn wasm_opt(module: &Path) -> Result<()> {
    let optimized = module.with_extension("opt.wasm");
    run(Command::new(paths::node_bin("wasm-opt"))
        .arg(module)
        .arg("-o")
        .arg(&optimized)
        .arg("-O")
        .args(WASM_FEATURES.map(|f| format!("--enable-{f}"))))?;
    fs::rename(&optimized, module)?;
    Ok(())
}
