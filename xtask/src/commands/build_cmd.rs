use anyhow::Result;
use xtask::{build, tools};

/// `cargo xtask build [names] [--optimize]`; also wrangler's `[build].command` (for
/// `wrangler deploy`; the local stacks serve bundles they built themselves).
pub fn run(args: &[String]) -> Result<()> {
    let optimize = args.iter().any(|a| a == "--optimize");
    let names: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .collect();
    tools::ensure_build()?;
    build::build(&names, optimize)
}
