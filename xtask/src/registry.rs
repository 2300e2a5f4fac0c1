//! Where a function is registered, and the check that the places agree. A function `x` is:
//! the folder `functions/x` (crate `fn-x`, Worker `genbase-x` built by `cargo xtask build x`),
//! at least one path prefix in the router's `ROUTES` mapped to binding `X`, and one
//! `[[services]]` entry in the top-level wrangler.toml binding `X` to `genbase-x`. Nothing at
//! runtime checks these against each other, so `cargo xtask test` does.

use anyhow::{bail, Result};
use std::path::Path;

pub const ROUTER_SOURCE: &str = "functions/router/src/lib.rs";
pub const ROUTER_CONFIG: &str = "wrangler.toml";

/// The binding a function is reached through.
pub fn binding(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

/// `(prefix, binding)` rows of the router's `ROUTES` table.
pub fn router_routes(source: &str) -> Vec<(String, String)> {
    let Some(start) = source.find("pub const ROUTES") else {
        return Vec::new();
    };
    let table = &source[start..];
    let table = &table[..table.find("];").unwrap_or(table.len())];
    table
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("(\""))
        .filter_map(|l| {
            let mut quoted = l.split('"').skip(1).step_by(2);
            Some((quoted.next()?.to_string(), quoted.next()?.to_string()))
        })
        .collect()
}

/// `(binding, service)` of each `[[services]]` entry of a wrangler.toml.
pub fn services(config: &str) -> Vec<(String, String)> {
    let value = |block: &str, key: &str| {
        block
            .lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().trim_matches('"').to_string())
    };
    config
        .split("[[services]]")
        .skip(1)
        .map(|block| block.split("\n[").next().unwrap_or(block))
        .filter_map(|block| Some((value(block, "binding")?, value(block, "service")?)))
        .collect()
}

/// Every disagreement between the function folders, the router table and the router's
/// wrangler.toml under `root`; empty when they agree.
pub fn problems(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut folders: Vec<String> = std::fs::read_dir(root.join("functions"))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n != "router")
        .collect();
    folders.sort();
    let routes = router_routes(&std::fs::read_to_string(root.join(ROUTER_SOURCE))?);
    let services = services(&std::fs::read_to_string(root.join(ROUTER_CONFIG))?);

    for name in &folders {
        let dir = root.join("functions").join(name);
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))?;
        if !manifest.contains(&format!("name = \"fn-{name}\"")) {
            out.push(format!(
                "functions/{name}/Cargo.toml: the crate must be fn-{name}"
            ));
        }
        let config = std::fs::read_to_string(dir.join("wrangler.toml")).unwrap_or_default();
        if !config.contains(&format!("name = \"genbase-{name}\"")) {
            out.push(format!(
                "functions/{name}/wrangler.toml: name must be genbase-{name}"
            ));
        }
        if !config.contains(&format!("command = \"cargo xtask build {name}\"")) {
            out.push(format!(
                "functions/{name}/wrangler.toml: the build command must be `cargo xtask build {name}`"
            ));
        }
        let b = binding(name);
        if !services.contains(&(b.clone(), format!("genbase-{name}"))) {
            out.push(format!(
                "{ROUTER_CONFIG}: no [[services]] entry binding {b} to genbase-{name}"
            ));
        }
        if !routes.iter().any(|(_, rb)| *rb == b) {
            out.push(format!(
                "{ROUTER_SOURCE}: no route reaches {b} (functions/{name})"
            ));
        }
    }
    for (b, service) in &services {
        let known = service
            .strip_prefix("genbase-")
            .is_some_and(|n| folders.iter().any(|f| f == n) && binding(n) == *b);
        if !known {
            out.push(format!(
                "{ROUTER_CONFIG}: [[services]] {b} -> {service} names no function folder"
            ));
        }
    }
    for (prefix, b) in &routes {
        if !services.iter().any(|(sb, _)| sb == b) {
            out.push(format!(
                "{ROUTER_SOURCE}: {prefix} goes to {b}, which has no [[services]] entry"
            ));
        }
    }
    Ok(out)
}

/// Fails with every disagreement listed.
pub fn check(root: &Path) -> Result<()> {
    let found = problems(root)?;
    if !found.is_empty() {
        bail!(
            "functions are registered inconsistently:\n  {}",
            found.join("\n  ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_agrees_with_itself() {
        check(&crate::paths::root()).unwrap();
    }

    #[test]
    fn a_missing_service_or_route_is_reported() {
        let dir = std::env::temp_dir().join(format!("registry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for name in ["alpha", "beta"] {
            let f = dir.join("functions").join(name);
            std::fs::create_dir_all(&f).unwrap();
            std::fs::write(f.join("Cargo.toml"), format!("name = \"fn-{name}\"")).unwrap();
            std::fs::write(
                f.join("wrangler.toml"),
                format!("name = \"genbase-{name}\"\ncommand = \"cargo xtask build {name}\""),
            )
            .unwrap();
        }
        std::fs::create_dir_all(dir.join("functions/router/src")).unwrap();
        std::fs::write(
            dir.join(ROUTER_SOURCE),
            "pub const ROUTES: &[(&str, &str)] = &[\n    (\"/v1/alpha\", \"ALPHA\"),\n    (\"/v1/gamma\", \"GAMMA\"),\n];\n",
        )
        .unwrap();
        std::fs::write(
            dir.join(ROUTER_CONFIG),
            "name = \"genbase\"\n\n[[services]]\nbinding = \"ALPHA\"\nservice = \"genbase-alpha\"\n",
        )
        .unwrap();
        let found = problems(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            found.iter().any(|p| p.contains("binding BETA")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|p| p.contains("no route reaches BETA")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|p| p.contains("GAMMA, which has no")),
            "{found:?}"
        );
        assert_eq!(found.len(), 3, "{found:?}");
    }

    #[test]
    fn routes_and_services_are_read_from_their_files() {
        assert_eq!(
            router_routes("x\npub const ROUTES: &[(&str, &str)] = &[\n    // c\n    (\"/v1/me\", \"PROFILE\"),\n];\n(\"/v1/no\", \"NO\")"),
            vec![("/v1/me".to_string(), "PROFILE".to_string())]
        );
        assert_eq!(
            services("[[services]]\nbinding = \"A\"\nservice = \"genbase-a\"\n\n[vars]\nbinding = \"x\"\n"),
            vec![("A".to_string(), "genbase-a".to_string())]
        );
    }
}
