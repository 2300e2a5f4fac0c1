//! Every answer the end-to-end tests get from the API, held to the OpenAPI document the router
//! serves (`openapi/openapi.json`): its status is one the operation documents, it carries the
//! headers that response requires (`x-request-id` always, `allow` on a 405), its content type
//! is a documented one (`text/event-stream` for a streamed reply), and a JSON body validates
//! against the documented schema (JSON Schema 2020-12, `$ref`s into `components`). A request to
//! a path the document lacks must be the shared 404, one with a method the path does not take
//! the shared 405. The request helpers call [`check`] and fail the test that made the request.

use jsonschema::{Draft, Validator};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// While some groups' paths are not in the document yet, a request to a path (or a method of a
/// path) it lacks is let through unchecked. Set to `false` once every group is documented.
pub const SKIP_UNDOCUMENTED: bool = false;

/// What a request got, as far as the document speaks of it.
pub struct Answer<'a> {
    pub status: u16,
    /// Names lower-cased.
    pub headers: &'a [(String, String)],
    /// The parsed JSON body (`null` when empty); `None` when it was not read (a stream).
    pub body: Option<&'a Value>,
}

/// Checks `answer` to `method path` (the path may carry a query) against the document;
/// `Err` names the operation, the status and what does not match.
pub fn check(method: &str, path: &str, answer: &Answer) -> Result<(), String> {
    spec().check(method, path, answer)
}

/// Panics with [`check`]'s complaint: the request helpers' way to fail the calling test.
pub fn assert_documented(method: &str, path: &str, answer: &Answer) {
    if let Err(problem) = check(method, path, answer) {
        panic!("{problem}");
    }
}

fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        // `cargo xtask test` names a copy that also has its temporary demo group.
        let file = std::env::var_os(xtask::openapi::stub::DOCUMENT_VAR)
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| xtask::paths::root().join(xtask::openapi::MERGED));
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        Spec::new(serde_json::from_str(&text).expect("openapi.json is JSON"))
    })
}

struct Spec {
    doc: Value,
    /// `(path template split in segments, path template)`.
    templates: Vec<(Vec<String>, String)>,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

/// Statuses every path may answer without an operation documenting them.
const METHOD_NOT_ALLOWED: &str = "MethodNotAllowed";
const NOT_FOUND: &str = "NotFound";

impl Spec {
    fn new(doc: Value) -> Spec {
        let templates = doc["paths"]
            .as_object()
            .map(|paths| paths.keys().map(|t| (segments(t), t.clone())).collect())
            .unwrap_or_default();
        Spec {
            doc,
            templates,
            validators: Mutex::new(HashMap::new()),
        }
    }

    fn check(&self, method: &str, path: &str, answer: &Answer) -> Result<(), String> {
        let method = method.to_ascii_lowercase();
        // Preflights and HEAD are the runtime's, not operations.
        if method == "options" || method == "head" {
            return Ok(());
        }
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let Some(template) = self.template(path) else {
            if SKIP_UNDOCUMENTED {
                return Ok(());
            }
            let what = format!("{} {path} (no such path)", method.to_ascii_uppercase());
            return self.check_shared(&what, NOT_FOUND, 404, answer);
        };
        let op = &self.doc["paths"][template][&method];
        if op.is_null() {
            if SKIP_UNDOCUMENTED {
                return Ok(());
            }
            let what = format!(
                "{} {template} (no such operation)",
                method.to_ascii_uppercase()
            );
            return self.check_shared(&what, METHOD_NOT_ALLOWED, 405, answer);
        }
        let id = op["operationId"].as_str().unwrap_or("?");
        let what = format!("{} {template} ({id})", method.to_ascii_uppercase());
        let responses = &op["responses"];
        let family = format!("{}XX", answer.status / 100);
        let response = [answer.status.to_string(), family, "default".into()]
            .iter()
            .map(|key| &responses[key])
            .find(|r| !r.is_null())
            .ok_or_else(|| {
                let documented: Vec<&String> =
                    responses.as_object().map(|r| r.keys().collect()).unwrap_or_default();
                format!(
                    "openapi: {what} answered {}, which it does not document (it documents {documented:?}); body: {}",
                    answer.status,
                    body_text(answer)
                )
            })?;
        self.check_response(&what, &format!("{id} {}", answer.status), response, answer)
    }

    /// An answer no operation documents: the shared response `name` with `status`.
    fn check_shared(
        &self,
        what: &str,
        name: &str,
        status: u16,
        answer: &Answer,
    ) -> Result<(), String> {
        if answer.status != status {
            return Err(format!(
                "openapi: {what} answered {} where only the shared {status} is documented; body: {}",
                answer.status,
                body_text(answer)
            ));
        }
        let response = json!({"$ref": format!("#/components/responses/{name}")});
        self.check_response(what, name, &response, answer)
    }

    fn check_response(
        &self,
        what: &str,
        key: &str,
        response: &Value,
        answer: &Answer,
    ) -> Result<(), String> {
        let fail = |problem: String| {
            Err(format!(
                "openapi: {what} answered {}: {problem}",
                answer.status
            ))
        };
        let response = self.deref(response);
        for (name, header) in response["headers"].as_object().into_iter().flatten() {
            let required = self.deref(header)["required"] == true;
            if required && header_value(answer.headers, name).is_none() {
                return fail(format!("the {name} header is missing"));
            }
        }
        let Some(content) = response["content"].as_object().filter(|c| !c.is_empty()) else {
            return match answer.body {
                Some(body) if !body.is_null() => fail(format!("no body is documented, got {body}")),
                _ => Ok(()),
            };
        };
        let got = header_value(answer.headers, "content-type")
            .and_then(|t| t.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let Some((media, documented)) = content.iter().find(|(m, _)| media_matches(m, &got)) else {
            let types: Vec<&String> = content.keys().collect();
            return fail(format!("content type {got:?} is not among {types:?}"));
        };
        let is_json = got == "application/json" || got.ends_with("+json");
        let (Some(body), true) = (answer.body, is_json) else {
            return Ok(());
        };
        let validator = self.validator(&format!("{key} {media}"), &documented["schema"])?;
        let problems: Vec<String> = validator
            .iter_errors(body)
            .take(5)
            .map(|e| format!("{e} (at {})", e.instance_path()))
            .collect();
        if problems.is_empty() {
            return Ok(());
        }
        fail(format!(
            "the body does not match its schema: {}; body: {body}",
            problems.join("; ")
        ))
    }

    /// The validator of `schema` (a response's), compiled once: the schema beside the
    /// document's components, so its `#/components/...` references resolve.
    fn validator(&self, key: &str, schema: &Value) -> Result<Arc<Validator>, String> {
        let mut cache = self.validators.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = cache.get(key) {
            return Ok(v.clone());
        }
        let root = json!({"components": self.doc["components"], "allOf": [schema]});
        let validator = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .map_err(|e| format!("openapi: the schema of {key} does not compile: {e}"))?;
        let validator = Arc::new(validator);
        cache.insert(key.to_string(), validator.clone());
        Ok(validator)
    }

    /// The path template `path` is an instance of: the one with the most literal segments
    /// when several match (`/v1/generations/delete` before `/v1/generations/{id}`).
    fn template(&self, path: &str) -> Option<&str> {
        let got = segments(path);
        self.templates
            .iter()
            .filter(|(want, _)| {
                want.len() == got.len()
                    && want
                        .iter()
                        .zip(&got)
                        .all(|(w, g)| (w.starts_with('{') && !g.is_empty()) || w == g)
            })
            .max_by_key(|(want, _)| want.iter().filter(|w| !w.starts_with('{')).count())
            .map(|(_, t)| t.as_str())
    }

    fn deref<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
            Some(pointer) => self.doc.pointer(pointer).unwrap_or(value),
            None => value,
        }
    }
}

/// A path's segments, a trailing `/` ignored as the Workers ignore it.
fn segments(path: &str) -> Vec<String> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    path.split('/').map(str::to_string).collect()
}

fn media_matches(documented: &str, got: &str) -> bool {
    let documented = documented.to_ascii_lowercase();
    documented == got
        || documented == "*/*"
        || documented
            .strip_suffix("/*")
            .is_some_and(|family| got.starts_with(&format!("{family}/")))
}

fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn body_text(answer: &Answer) -> String {
    answer
        .body
        .map(|b| b.to_string())
        .unwrap_or_else(|| "(not read)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        let error = json!({"type": "object", "required": ["error"], "additionalProperties": false,
            "properties": {"error": {"type": "object", "required": ["code"], "properties": {"code": {"type": "string"}}}}});
        let xrid = json!({"x-request-id": {"$ref": "#/components/headers/XRequestId"}});
        let shared = |d: &str| {
            json!({"description": d, "headers": xrid,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
        };
        Spec::new(json!({
            "paths": {
                "/v1/things/{id}": {"get": {"operationId": "getThing", "responses": {
                    "200": {"description": "ok", "headers": xrid, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                    "404": {"$ref": "#/components/responses/NotFound"}}},
                    "delete": {"operationId": "deleteThing", "responses": {"204": {"description": "gone", "headers": xrid}}}},
                "/v1/things/count": {"get": {"operationId": "countThings", "responses": {
                    "200": {"description": "ok", "headers": xrid, "content": {"text/event-stream": {"schema": {"type": "string"}}}}}}}
            },
            "components": {
                "schemas": {"Error": error, "Thing": {"type": "object", "required": ["id", "at"], "additionalProperties": false,
                    "properties": {"id": {"type": "string", "format": "uuid"}, "at": {"type": "string", "format": "date-time"}}}},
                "headers": {"XRequestId": {"required": true, "schema": {"type": "string"}}},
                "responses": {"NotFound": shared("nf"), "MethodNotAllowed": shared("mna")}
            }
        }))
    }

    fn headers(content_type: Option<&str>) -> Vec<(String, String)> {
        let mut h = vec![("x-request-id".to_string(), "r".to_string())];
        h.extend(content_type.map(|t| ("content-type".to_string(), t.to_string())));
        h
    }

    fn answer<'a>(status: u16, headers: &'a [(String, String)], body: &'a Value) -> Answer<'a> {
        Answer {
            status,
            headers,
            body: Some(body),
        }
    }

    #[test]
    fn every_response_schema_of_the_document_compiles() {
        let s = super::spec();
        let mut compiled = 0;
        for (path, item) in s.doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                for (status, response) in op["responses"].as_object().into_iter().flatten() {
                    let response = s.deref(response);
                    for (media, content) in response["content"].as_object().into_iter().flatten() {
                        let key = format!("{method} {path} {status} {media}");
                        s.validator(&key, &content["schema"]).unwrap();
                        compiled += 1;
                    }
                }
            }
        }
        assert!(compiled > 100, "only {compiled} schemas");
    }

    #[test]
    fn a_documented_answer_passes_and_each_kind_of_mismatch_is_named() {
        let s = spec();
        let json_h = headers(Some("application/json; charset=utf-8"));
        let thing = json!({"id": "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11", "at": "2026-01-02T03:04:05.5+00:00"});
        let path = "/v1/things/7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11?x=1";
        assert_eq!(s.check("GET", path, &answer(200, &json_h, &thing)), Ok(()));
        let not_found = json!({"error": {"code": "not_found"}});
        assert_eq!(
            s.check("GET", path, &answer(404, &json_h, &not_found)),
            Ok(())
        );
        let none = Value::Null;
        assert_eq!(
            s.check("DELETE", path, &answer(204, &headers(None), &none)),
            Ok(())
        );

        let fails = |r: Result<(), String>, expected: &str| {
            let e = r.unwrap_err();
            assert!(e.contains(expected), "{expected:?} not in {e}");
        };
        fails(
            s.check("GET", path, &answer(409, &json_h, &not_found)),
            "getThing) answered 409, which it does not document",
        );
        let extra = json!({"id": "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11", "at": "2026-01-02T03:04:05Z", "x": 1});
        fails(
            s.check("GET", path, &answer(200, &json_h, &extra)),
            "does not match its schema",
        );
        let bad_format = json!({"id": "nope", "at": "2026-01-02T03:04:05Z"});
        fails(
            s.check("GET", path, &answer(200, &json_h, &bad_format)),
            "at /id",
        );
        fails(
            s.check("GET", path, &answer(200, &[], &thing)),
            "the x-request-id header is missing",
        );
        fails(
            s.check(
                "GET",
                path,
                &answer(200, &headers(Some("text/html")), &thing),
            ),
            "content type \"text/html\"",
        );
        fails(
            s.check("DELETE", path, &answer(204, &headers(None), &thing)),
            "no body is documented",
        );
    }

    #[test]
    fn a_literal_path_wins_over_a_template_and_streams_are_checked_by_their_head() {
        let s = spec();
        let stream = headers(Some("text/event-stream"));
        let unread = Answer {
            status: 200,
            headers: &stream,
            body: None,
        };
        assert_eq!(s.check("GET", "/v1/things/count", &unread), Ok(()));
        let json_h = headers(Some("application/json"));
        let unread = Answer {
            status: 200,
            headers: &json_h,
            body: None,
        };
        assert!(s.check("GET", "/v1/things/count", &unread).is_err());
    }

    #[test]
    fn undocumented_paths_and_methods_are_the_shared_404_and_405() {
        let s = spec();
        let json_h = headers(Some("application/json"));
        let err = json!({"error": {"code": "x"}});
        let unknown = s.check("GET", "/v1/nothing", &answer(404, &json_h, &err));
        let wrong_method = s.check("PATCH", "/v1/things/1", &answer(405, &json_h, &err));
        let wrong_status = s.check("PATCH", "/v1/things/1", &answer(200, &json_h, &err));
        if SKIP_UNDOCUMENTED {
            assert_eq!(
                (unknown, wrong_method, wrong_status.is_ok()),
                (Ok(()), Ok(()), true)
            );
        } else {
            assert_eq!((unknown, wrong_method), (Ok(()), Ok(())));
            assert!(wrong_status.unwrap_err().contains("only the shared 405"));
        }
        assert_eq!(
            s.check("OPTIONS", "/v1/anything", &answer(204, &[], &Value::Null)),
            Ok(())
        );
    }
}
