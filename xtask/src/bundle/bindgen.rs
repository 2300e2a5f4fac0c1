//! wasm-bindgen, as a library, with the options worker-build 0.8.7 gives its CLI for a
//! `--release` build with its default shim: ES module output named `index`, no TypeScript,
//! a reset-state function and the abort handler (the shim reinitializes the instance after
//! a trap), release defaults otherwise.

use anyhow::{Context, Result};
use std::path::Path;
use wasm_bindgen_cli_support::Bindgen;

/// Writes `index.js`, `index_bg.wasm` (function names still in) and `snippets/` into `out`.
pub fn generate(wasm: &Path, out: &Path) -> Result<()> {
    Bindgen::new()
        .module(true)?
        .input_path(wasm)
        .out_name("index")
        .typescript(false)
        // The library's default is the opposite of the CLI's, which worker-build relies on.
        .omit_default_module_path(false)
        .reset_state_function(true)
        .force_enable_abort_handler(true)
        .generate(out)
        .with_context(|| format!("wasm-bindgen on {}", wasm.display()))
}

#[cfg(test)]
mod tests {
    /// The version of `package` in Cargo.lock (the first, when several are locked).
    fn locked(lock: &str, package: &str) -> Option<String> {
        let mut lines = lock.lines();
        lines.find(|l| *l == format!("name = \"{package}\""))?;
        let version = lines.next()?.strip_prefix("version = \"")?;
        Some(version.trim_end_matches('"').to_string())
    }

    /// wasm-bindgen refuses a module whose macros came from another version than its own:
    /// both are pinned exactly, and must be pinned to the same one.
    #[test]
    fn the_bindgen_library_matches_the_wasm_bindgen_crate() {
        let lock = std::fs::read_to_string(crate::paths::root().join("Cargo.lock")).unwrap();
        let macros = locked(&lock, "wasm-bindgen").expect("wasm-bindgen in Cargo.lock");
        let library = locked(&lock, "wasm-bindgen-cli-support").expect("cli-support locked");
        assert_eq!(macros, library);
    }
}
