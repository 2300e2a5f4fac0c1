//! The OpenAPI document (openapi/README.md): `cargo xtask openapi` merges `openapi/base.json`
//! and `openapi/paths/*.json` into `openapi/openapi.json`; `cargo xtask test` fails when that
//! file is stale, when the document misses something every operation must have, and when the
//! routes the Workers declare and the document's operations differ either way.

pub mod lint;
pub mod merge;
pub mod routes;
pub mod stub;

use anyhow::{bail, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The spec folder, and the merged document in it (served by the router, read by the
/// end-to-end tests' response validation).
pub const DIR: &str = "openapi";
pub const MERGED: &str = "openapi/openapi.json";

/// Routes deliberately left out of the document: `(METHOD, path, why)`. Empty: every route a
/// Worker declares is documented.
pub const UNDOCUMENTED: &[(&str, &str, &str)] = &[];

/// The merged document, from the sources under `root`.
pub fn document(root: &Path) -> Result<Value> {
    merge::merge(&root.join(DIR))
}

/// Writes `openapi/openapi.json` from the sources; returns its path.
pub fn write(root: &Path) -> Result<PathBuf> {
    let path = root.join(MERGED);
    std::fs::write(&path, merge::render(&document(root)?))?;
    Ok(path)
}

/// Every problem with the document under `root`, one line each.
pub fn problems(root: &Path) -> Result<Vec<String>> {
    let doc = document(root)?;
    let mut out = lint::problems(&doc);
    out.extend(route_problems(&doc, &routes::declared(root)?));
    let committed = std::fs::read_to_string(root.join(MERGED)).unwrap_or_default();
    if committed != merge::render(&doc) {
        out.push(format!(
            "{MERGED} is stale: run `cargo xtask openapi` and commit it"
        ));
    }
    Ok(out)
}

/// Routes the document lacks, and operations no Worker serves.
pub fn route_problems(doc: &Value, declared: &[routes::Route]) -> Vec<String> {
    let undocumented = |method: &str, path: &str| {
        UNDOCUMENTED
            .iter()
            .any(|(m, p, _)| m.eq_ignore_ascii_case(method) && *p == path)
    };
    let mut out = Vec::new();
    for r in declared {
        let documented = !doc["paths"][&r.path][r.method.to_ascii_lowercase()].is_null();
        if !documented && !undocumented(&r.method, &r.path) {
            out.push(format!(
                "{} {} ({}) is not in the spec: document it in {DIR}/paths/",
                r.method, r.path, r.source
            ));
        }
    }
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in merge::METHODS {
            if item[method].is_null() {
                continue;
            }
            let served = declared
                .iter()
                .any(|r| r.path == *path && r.method.eq_ignore_ascii_case(method));
            if !served {
                out.push(format!(
                    "{} {path} is in the spec but no Worker declares it",
                    method.to_ascii_uppercase()
                ));
            }
        }
    }
    out
}

/// Fails with every problem listed.
pub fn check(root: &Path) -> Result<()> {
    let found = problems(root)?;
    if !found.is_empty() {
        bail!(
            "the OpenAPI document and the code disagree:\n  {}",
            found.join("\n  ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn route(method: &str, path: &str) -> routes::Route {
        routes::Route {
            method: method.into(),
            path: path.into(),
            source: "functions/x/src/lib.rs".into(),
        }
    }

    #[test]
    fn a_route_missing_from_the_spec_and_an_operation_without_a_route_are_both_named() {
        let doc = json!({"paths": {
            "/v1/x/{id}": {"get": {"operationId": "getX"}},
            "/v1/gone": {"post": {"operationId": "old"}}}});
        let declared = [route("GET", "/v1/x/{id}"), route("DELETE", "/v1/x/{id}")];
        assert_eq!(
            route_problems(&doc, &declared),
            [
                "DELETE /v1/x/{id} (functions/x/src/lib.rs) is not in the spec: document it in openapi/paths/",
                "POST /v1/gone is in the spec but no Worker declares it",
            ]
        );
    }
}
