use anyhow::{bail, Result};
use xtask::{paths, registry, scaffold};

/// `cargo xtask new <group>` creates a function group; `--remove` takes it out again.
pub fn run(args: &[String]) -> Result<()> {
    let remove = args.iter().any(|a| a == "--remove");
    let names: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let [name] = names.as_slice() else {
        bail!("usage: cargo xtask new <group> [--remove]");
    };
    let root = paths::root();
    if remove {
        scaffold::remove(&root, name)?;
        eprintln!("removed the {name} group");
        return registry::check(&root);
    }
    let group = scaffold::create(&root, name)?;
    registry::check(&root)?;
    eprintln!(
        "created the {name} group: functions/{name}, GET /v1/{name} (router and wrangler.toml),\n  \
         {}, {}, {}\n  `cargo xtask dev` serves it; `cargo xtask test` runs its tests",
        rel(&group.e2e_test),
        rel(&group.migration),
        rel(&group.pgtap)
    );
    Ok(())
}

fn rel(path: &std::path::Path) -> String {
    path.strip_prefix(paths::root())
        .unwrap_or(path)
        .display()
        .to_string()
}
