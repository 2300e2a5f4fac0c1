//! The routes the Workers declare, read from their source as the router table is read
//! (`crate::registry`): every `genbase_shared::endpoints!` block under `functions/*/src`, and
//! the shared sharing routes (`shared/src/sharing.rs`) under each base a Worker serves them at
//! (`sharing::serve("/v1/...", ...)`, or a `const` naming the base).

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub const SHARING_SOURCE: &str = "shared/src/sharing.rs";

/// One declared route: method (upper case), path in OpenAPI's `{name}` form, and the file
/// that declares it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub source: String,
}

/// Every route the Workers under `root` declare, sorted.
pub fn declared(root: &Path) -> Result<Vec<Route>> {
    let sharing = endpoint_patterns(
        &std::fs::read_to_string(root.join(SHARING_SOURCE))
            .with_context(|| format!("reading {SHARING_SOURCE}"))?,
    );
    let mut routes = Vec::new();
    for file in rust_files(&root.join("functions"))? {
        let source = std::fs::read_to_string(&file)?;
        let name = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        for (method, pattern) in endpoint_patterns(&source) {
            routes.push(route(&method, &pattern, &name));
        }
        for base in sharing_bases(&source) {
            for (method, pattern) in &sharing {
                routes.push(route(
                    method,
                    &format!("{base}{pattern}"),
                    &format!("{SHARING_SOURCE} under {base} ({name})"),
                ));
            }
        }
    }
    routes.sort();
    routes.dedup_by(|a, b| a.method == b.method && a.path == b.path);
    Ok(routes)
}

fn route(method: &str, pattern: &str, source: &str) -> Route {
    Route {
        method: method.to_ascii_uppercase(),
        path: openapi_path(pattern),
        source: source.to_string(),
    }
}

/// `/v1/x/:id` -> `/v1/x/{id}`.
pub fn openapi_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| match seg.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => seg.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `.rs` files under `dir`, recursively, except build output.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                if name != "build" && name != "target" && name != "node_modules" {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `(METHOD, "/pattern")` of each line of every `endpoints! { ... }` block in `source`.
pub fn endpoint_patterns(source: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("endpoints! {") {
        let block = &rest[start..];
        let end = block.find("\n}").unwrap_or(block.len());
        for line in block[..end].lines().map(str::trim) {
            let Some((method, tail)) = line.split_once(' ') else {
                continue;
            };
            let is_method = ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method);
            let pattern = tail
                .trim_start()
                .strip_prefix('"')
                .and_then(|t| t.split('"').next());
            if let (true, Some(pattern)) = (is_method, pattern) {
                out.push((method.to_string(), pattern.to_string()));
            }
        }
        rest = &block[end..];
    }
    out
}

/// The bases `source` serves the sharing routes under: the first argument of each
/// `sharing::serve(` call, a string literal or the name of a `const` holding one.
pub fn sharing_bases(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in source.match_indices("sharing::serve(") {
        let arg = source[i + "sharing::serve(".len()..]
            .split(',')
            .next()
            .unwrap_or_default()
            .trim();
        let base = match arg.strip_prefix('"') {
            Some(literal) => literal.split('"').next().map(str::to_string),
            None => const_value(source, arg),
        };
        out.extend(base);
    }
    out
}

/// The string value of `const NAME: &str = "...";` in `source`.
fn const_value(source: &str, name: &str) -> Option<String> {
    let decl = format!("const {name}: &str = \"");
    let start = source.find(&decl)? + decl.len();
    source[start..].split('"').next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_blocks_are_read_with_their_methods_and_patterns() {
        let source = r#"
genbase_shared::endpoints! {
    enum Endpoint {
        GET "/v1/generations" => List,
        // Served here: a comment line is not a route.
        POST "/v1/generations/:id/cancel" => Cancel { id: Id },
    }
}
fn f() { let x = "GET \"/v1/nope\""; }
"#;
        assert_eq!(
            endpoint_patterns(source),
            [
                ("GET".to_string(), "/v1/generations".to_string()),
                ("POST".to_string(), "/v1/generations/:id/cancel".to_string())
            ]
        );
        assert_eq!(
            openapi_path("/v1/generations/:id/cancel"),
            "/v1/generations/{id}/cancel"
        );
    }

    #[test]
    fn sharing_bases_are_literals_or_consts() {
        let source = "const BASE: &str = \"/v1/workspaces\";\n\
            if let Some(a) = sharing::serve(BASE, req, deps).await {}\n\
            if let Some(a) = sharing::serve(\"/v1/flows\", req, deps).await {}";
        assert_eq!(sharing_bases(source), ["/v1/workspaces", "/v1/flows"]);
    }

    #[test]
    fn the_repository_declares_the_known_routes() {
        let routes = declared(&crate::paths::root()).unwrap();
        let has = |m: &str, p: &str| routes.iter().any(|r| r.method == m && r.path == p);
        assert!(has("GET", "/v1/generations/{id}"), "{routes:?}");
        assert!(has("POST", "/v1/webhooks/replicate"));
        assert!(has("GET", "/v1/openapi.json"));
        for (base, _) in super::super::merge::SHARING_BASES {
            assert!(has("GET", &format!("{base}/{{id}}/members")), "{base}");
        }
    }
}
