use anyhow::Result;
use xtask::{build, tools};

/// `cargo xtask build [names] [--optimize]`; also wrangler's `[build].command`.
pub fn run(args: &[String]) -> Result<()> {
    // `wrangler dev` under `cargo xtask dev` runs after everything is built already.
    if std::env::var_os("GENBASE_PREBUILT").is_some() {
        return Ok(());
    }
    let optimize = args.iter().any(|a| a == "--optimize");
    let names: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .collect();
    tools::ensure_build()?;
    build::build(&names, optimize)
}
