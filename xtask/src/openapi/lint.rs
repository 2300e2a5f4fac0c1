//! What every operation of the merged document must have (openapi/README.md): a unique
//! operationId, a tag, a security requirement, its path parameters declared, responses that
//! carry `x-request-id`, and `$ref`s that point at something.

use super::merge::METHODS;
use serde_json::Value;
use std::collections::BTreeMap;

/// Every problem found, one line each; empty when there are none.
pub fn problems(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            let op = &item[method];
            if op.is_null() {
                continue;
            }
            let at = format!("{} {path}", method.to_ascii_uppercase());
            match op["operationId"].as_str() {
                Some(id) if !id.is_empty() => {
                    ids.entry(id.to_string()).or_default().push(at.clone())
                }
                _ => out.push(format!("{at}: no operationId")),
            }
            if op["tags"].as_array().is_none_or(|t| t.is_empty()) {
                out.push(format!("{at}: no tags"));
            }
            if !op["security"].is_array() {
                out.push(format!("{at}: no security (use [] for none)"));
            }
            out.extend(path_parameter_problems(doc, path, item, op, &at));
            out.extend(response_problems(doc, op, &at));
        }
    }
    for (id, places) in ids {
        if places.len() > 1 {
            out.push(format!("operationId {id} is used by {}", places.join(", ")));
        }
    }
    let mut refs = Vec::new();
    collect_refs(doc, &mut refs);
    for r in refs {
        if resolve(doc, &r).is_none() {
            out.push(format!("$ref {r} points at nothing"));
        }
    }
    out
}

/// `{name}` segments of `path` against the declared `in: path` parameters (the path item's and
/// the operation's).
fn path_parameter_problems(
    doc: &Value,
    path: &str,
    item: &Value,
    op: &Value,
    at: &str,
) -> Vec<String> {
    let in_path: Vec<&str> = path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .collect();
    let declared: Vec<String> = [&item["parameters"], &op["parameters"]]
        .into_iter()
        .flat_map(|p| p.as_array().into_iter().flatten())
        .map(|p| deref(doc, p))
        .filter(|p| p["in"] == "path")
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect();
    let mut out = Vec::new();
    for name in &in_path {
        if !declared.iter().any(|d| d == name) {
            out.push(format!("{at}: path parameter {name} is not declared"));
        }
    }
    for name in &declared {
        if !in_path.contains(&name.as_str()) {
            out.push(format!(
                "{at}: parameter {name} is declared in: path but not in the path"
            ));
        }
    }
    out
}

fn response_problems(doc: &Value, op: &Value, at: &str) -> Vec<String> {
    let Some(responses) = op["responses"].as_object().filter(|r| !r.is_empty()) else {
        return vec![format!("{at}: no responses")];
    };
    let mut out = Vec::new();
    for (status, response) in responses {
        let response = deref(doc, response);
        if response["headers"]["x-request-id"].is_null() {
            out.push(format!(
                "{at}: response {status} does not list the x-request-id header"
            ));
        }
    }
    out
}

/// `value` itself, or what its `$ref` points at (one level: components never chain refs).
pub fn deref<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(r) => resolve(doc, r).unwrap_or(value),
        None => value,
    }
}

/// A local `$ref` (`#/components/...`) in `doc`.
pub fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_complete_operation_has_no_problems_and_each_gap_is_named() {
        let good = json!({
            "paths": {"/v1/x/{id}": {"get": {
                "operationId": "getX", "tags": ["x"], "security": [],
                "parameters": [{"$ref": "#/components/parameters/Id"}],
                "responses": {"200": {"$ref": "#/components/responses/Ok"}}}}},
            "components": {
                "parameters": {"Id": {"name": "id", "in": "path", "required": true}},
                "responses": {"Ok": {"description": "ok", "headers": {"x-request-id": {}}}}}
        });
        assert_eq!(problems(&good), Vec::<String>::new());

        let mut bad = good.clone();
        bad["paths"]["/v1/y/{name}"] = json!({"post": {"operationId": "getX", "responses": {
            "204": {"description": "none"}, "400": {"$ref": "#/components/responses/Gone"}}}});
        let found = problems(&bad);
        for expected in [
            "POST /v1/y/{name}: no tags",
            "POST /v1/y/{name}: no security",
            "POST /v1/y/{name}: path parameter name is not declared",
            "POST /v1/y/{name}: response 204 does not list the x-request-id header",
            "operationId getX is used by",
            "$ref #/components/responses/Gone points at nothing",
        ] {
            assert!(
                found.iter().any(|p| p.starts_with(expected)),
                "{expected}: {found:?}"
            );
        }
    }
}
