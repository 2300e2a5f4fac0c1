//! The TypeScript client's types (clients/typescript/schema.d.ts), generated from
//! openapi/openapi.json by openapi-typescript, and the type check of the client and of the
//! example app that uses it.

use anyhow::{bail, Result};
use std::path::Path;
use std::process::Command;
use xtask::paths;
use xtask::process::run;

const SCHEMA: &str = "clients/typescript/schema.d.ts";

/// Writes clients/typescript/schema.d.ts from openapi/openapi.json.
pub fn generate() -> Result<()> {
    generate_into(&paths::root().join(SCHEMA))
}

/// `{"type": "object"}` without properties is any object in JSON Schema (free-form jsonb such
/// as `params` and `settings`); openapi-typescript's default would type it as an empty one.
fn generate_into(out: &Path) -> Result<()> {
    run(Command::new(paths::node_bin("openapi-typescript"))
        .current_dir(paths::root())
        .arg("openapi/openapi.json")
        .args(["--empty-objects-unknown", "--output"])
        .arg(out)
        .stdout(std::process::Stdio::null()))
}

/// Fails when schema.d.ts is not what [`generate`] would write, or when the client or the
/// example app does not type-check against it.
pub fn check() -> Result<()> {
    let root = paths::root();
    let fresh = root.join("target/web/schema.d.ts");
    std::fs::create_dir_all(root.join("target/web"))?;
    generate_into(&fresh)?;
    if std::fs::read(&fresh)? != std::fs::read(root.join(SCHEMA)).unwrap_or_default() {
        bail!("{SCHEMA} is stale: run `cargo xtask openapi`, which regenerates it");
    }
    for project in ["clients/typescript", "examples/web"] {
        run(Command::new(paths::node_bin("tsc"))
            .current_dir(&root)
            .args(["--project", project]))?;
    }
    Ok(())
}
