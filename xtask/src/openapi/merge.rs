//! `openapi/base.json` + `openapi/paths/*.json` -> one document (see openapi/README.md): the
//! fragments' paths and components added to the base's, the sharing template written out under
//! each shareable kind's base path.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{Map, Value};
use std::path::Path;

/// The shareable kinds: the base path their sharing routes hang under, and the word that
/// replaces `{kind}` in the template (and prefixes its operationIds).
pub const SHARING_BASES: [(&str, &str); 3] = [
    ("/v1/workspaces", "workspace"),
    ("/v1/projects", "project"),
    ("/v1/flows", "flow"),
];

/// The fragment written once and expanded under every base of [`SHARING_BASES`].
pub const SHARING_TEMPLATE: &str = "sharing.json";

/// The fragments of the functions that have no rate limit (their wrangler.toml declares no
/// `[[ratelimits]]`: shared/edge/src/rate_limit.rs); every other operation may answer 429.
pub const UNLIMITED_FRAGMENTS: [&str; 3] = ["router.json", "webhooks.json", "worker.json"];

/// The keys of a path item that are operations.
pub const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The merged document of the spec folder `dir` (`openapi/`), keys sorted.
pub fn merge(dir: &Path) -> Result<Value> {
    let mut doc = read(&dir.join("base.json"))?;
    if !doc["paths"].is_object() {
        doc["paths"] = Value::Object(Map::new());
    }
    for file in fragment_files(dir)? {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let fragment = read(&file)?;
        add_fragment(&mut doc, &name, fragment).with_context(|| format!("openapi/paths/{name}"))?;
    }
    Ok(sorted(doc))
}

/// `paths/*.json`, in name order.
fn fragment_files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("paths"))
        .with_context(|| format!("reading {}", dir.join("paths").display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    Ok(files)
}

fn read(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// Adds one fragment's paths and components to `doc`.
pub fn add_fragment(doc: &mut Value, name: &str, fragment: Value) -> Result<()> {
    let Value::Object(mut fragment) = fragment else {
        bail!("a fragment is a JSON object");
    };
    if let Some(key) = fragment
        .keys()
        .find(|k| *k != "paths" && *k != "components")
    {
        bail!("unexpected top-level key {key:?}: a fragment holds only paths and components");
    }
    let paths = match fragment.remove("paths") {
        Some(Value::Object(paths)) => paths,
        None => Map::new(),
        Some(_) => bail!("paths must be an object"),
    };
    let paths = if name == SHARING_TEMPLATE {
        expand_sharing(paths)?
    } else {
        paths.into_iter().collect()
    };
    for (path, mut item) in paths {
        if !UNLIMITED_FRAGMENTS.contains(&name) {
            add_rate_limit_response(&mut item);
        }
        add_path(doc, &path, item)?;
    }
    if let Some(components) = fragment.remove("components") {
        let components = if name == SHARING_TEMPLATE {
            replace_kind(components, "resource")
        } else {
            components
        };
        add_components(doc, components)?;
    }
    Ok(())
}

/// The template's relative paths under every base, its operationIds prefixed with the kind
/// and `{kind}` in its text replaced by it.
fn expand_sharing(paths: Map<String, Value>) -> Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for (base, kind) in SHARING_BASES {
        for (path, item) in &paths {
            if !path.starts_with('/') {
                bail!("sharing path {path:?} must start with / (it is relative to the base)");
            }
            let mut item = replace_kind(item.clone(), kind);
            for method in METHODS {
                if let Some(id) = item[method]["operationId"].as_str() {
                    let mut chars = id.chars();
                    let upper: String = chars
                        .next()
                        .map(|c| c.to_uppercase().chain(chars).collect())
                        .unwrap_or_default();
                    item[method]["operationId"] = Value::String(format!("{kind}{upper}"));
                }
            }
            out.push((format!("{base}{path}"), item));
        }
    }
    Ok(out)
}

fn replace_kind(value: Value, kind: &str) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace("{kind}", kind)),
        Value::Array(items) => items.into_iter().map(|v| replace_kind(v, kind)).collect(),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, replace_kind(v, kind)))
                .collect(),
        ),
        other => other,
    }
}

/// Every operation of a rate-limited function may be refused with the shared 429 (its
/// fragment need not say so); an operation's own 429, if it documents one, stays.
fn add_rate_limit_response(item: &mut Value) {
    for method in METHODS {
        // `get_mut`, not indexing: indexing a missing method would insert it as null.
        let responses = item
            .get_mut(method)
            .and_then(|op| op.get_mut("responses"))
            .and_then(Value::as_object_mut);
        if let Some(responses) = responses {
            responses.entry("429").or_insert_with(
                || serde_json::json!({"$ref": "#/components/responses/TooManyRequests"}),
            );
        }
    }
}

/// One path's operations; an operation (or any other key of the path item) already there
/// with another value is an error.
fn add_path(doc: &mut Value, path: &str, item: Value) -> Result<()> {
    let Value::Object(item) = item else {
        bail!("{path}: a path item is an object");
    };
    let paths = doc["paths"]
        .as_object_mut()
        .ok_or_else(|| anyhow!("paths is not an object"))?;
    let existing = paths
        .entry(path.to_string())
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| anyhow!("{path}: not an object"))?;
    for (key, value) in item {
        match existing.get(&key) {
            Some(old) if *old != value => {
                bail!("{key} {path} is defined twice (in another fragment)")
            }
            _ => {
                existing.insert(key, value);
            }
        }
    }
    Ok(())
}

/// Components by section (`schemas`, `parameters`, ...): a name may be defined twice only
/// with the same definition.
fn add_components(doc: &mut Value, components: Value) -> Result<()> {
    let Value::Object(sections) = components else {
        bail!("components must be an object");
    };
    for (section, entries) in sections {
        let Value::Object(entries) = entries else {
            bail!("components.{section} must be an object");
        };
        if !doc["components"][&section].is_object() {
            doc["components"][&section] = Value::Object(Map::new());
        }
        let target = doc["components"][&section]
            .as_object_mut()
            .ok_or_else(|| anyhow!("components.{section}"))?;
        for (name, value) in entries {
            match target.get(&name) {
                Some(old) if *old != value => {
                    bail!("components.{section}.{name} is defined differently in two places")
                }
                _ => {
                    target.insert(name, value);
                }
            }
        }
    }
    Ok(())
}

/// `value` with every object's keys in order, whatever map serde_json was built with.
pub fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The document as `openapi/openapi.json` holds it: two-space indents and a final newline.
pub fn render(doc: &Value) -> String {
    let mut text = serde_json::to_string_pretty(doc).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"openapi": "3.1.0", "paths": {}, "components": {"schemas": {"Error": {"type": "object"}}}})
    }

    #[test]
    fn fragments_add_operations_and_components() {
        let mut doc = base();
        let get = json!({"operationId": "getMe", "responses": {}});
        let patch = json!({"operationId": "updateMe", "responses": {}});
        add_fragment(
            &mut doc,
            "profile.json",
            json!({"paths": {"/v1/me": {"get": get}}, "components": {"schemas": {"Profile": {"type": "object"}}}}),
        )
        .unwrap();
        add_fragment(
            &mut doc,
            "other.json",
            json!({"paths": {"/v1/me": {"patch": patch}}, "components": {"schemas": {"Profile": {"type": "object"}}}}),
        )
        .unwrap();
        assert_eq!(doc["paths"]["/v1/me"]["get"]["operationId"], "getMe");
        assert_eq!(doc["paths"]["/v1/me"]["patch"]["operationId"], "updateMe");
        assert!(doc["components"]["schemas"]["Error"].is_object());
        assert!(doc["components"]["schemas"]["Profile"].is_object());
    }

    #[test]
    fn an_operation_or_schema_defined_twice_differently_is_refused() {
        let mut doc = base();
        let one = json!({"paths": {"/v1/me": {"get": {"operationId": "a"}}}});
        add_fragment(&mut doc, "a.json", one).unwrap();
        let two = json!({"paths": {"/v1/me": {"get": {"operationId": "b"}}}});
        let err = add_fragment(&mut doc, "b.json", two).unwrap_err();
        assert!(
            err.to_string().contains("get /v1/me is defined twice"),
            "{err}"
        );
        let schema = json!({"components": {"schemas": {"Error": {"type": "string"}}}});
        let err = add_fragment(&mut doc, "c.json", schema).unwrap_err();
        assert!(
            err.to_string().contains("components.schemas.Error"),
            "{err}"
        );
        let stray = json!({"paths": {}, "info": {}});
        assert!(add_fragment(&mut doc, "d.json", stray).is_err());
    }

    #[test]
    fn the_sharing_template_is_written_under_each_kind() {
        let mut doc = base();
        let template = json!({"paths": {"/{id}/members": {"get": {
            "operationId": "listMembers", "summary": "The {kind}'s members"}}},
            "components": {"schemas": {"Member": {"description": "A member of a {kind}"}}}});
        add_fragment(&mut doc, SHARING_TEMPLATE, template).unwrap();
        let ops: Vec<(String, String, String)> = SHARING_BASES
            .iter()
            .map(|(base, _)| {
                let op = &doc["paths"][format!("{base}/{{id}}/members")]["get"];
                (
                    base.to_string(),
                    op["operationId"].as_str().unwrap().to_string(),
                    op["summary"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            ops,
            [
                (
                    "/v1/workspaces",
                    "workspaceListMembers",
                    "The workspace's members"
                ),
                (
                    "/v1/projects",
                    "projectListMembers",
                    "The project's members"
                ),
                ("/v1/flows", "flowListMembers", "The flow's members"),
            ]
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        );
        assert_eq!(
            doc["components"]["schemas"]["Member"]["description"],
            "A member of a resource"
        );
    }

    #[test]
    fn rendering_sorts_every_key() {
        let text = render(&sorted(
            json!({"b": 1, "a": {"d": [{"z": 1, "y": 2}], "c": 0}}),
        ));
        assert_eq!(
            text,
            "{\n  \"a\": {\n    \"c\": 0,\n    \"d\": [\n      {\n        \"y\": 2,\n        \"z\": 1\n      }\n    ]\n  },\n  \"b\": 1\n}\n"
        );
    }
}
