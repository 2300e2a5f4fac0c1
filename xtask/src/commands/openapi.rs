//! `cargo xtask openapi [--check]`: writes `openapi/openapi.json` from its sources (see
//! openapi/README.md) and the TypeScript client's types from it, then reports what
//! `cargo xtask test` would fail on; `--check` writes nothing.

use anyhow::Result;
use xtask::{openapi, paths};

pub fn run(args: &[String]) -> Result<()> {
    let root = paths::root();
    if !args.iter().any(|a| a == "--check") {
        let written = openapi::write(&root)?;
        eprintln!("xtask: wrote {}", written.display());
        super::tsclient::generate()?;
        eprintln!("xtask: wrote the TypeScript client's types from it");
    }
    openapi::check(&root)?;
    eprintln!("xtask: the OpenAPI document agrees with the code");
    Ok(())
}
