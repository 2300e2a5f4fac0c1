//! Property tests of what a client's bytes reach first: the JWT parser and verifier, the
//! keyset cursor, the webhook signature header, the query string and path, and JSON request
//! bodies. Every input either passes or gets a typed refusal (a 4xx with the one error body),
//! never a panic and never a 5xx. The generators and the refusal check are public (feature
//! `testing`) so each Worker runs its own bodies through its handler the same way.
//!
//! Cases per property: proptest's (256), or `PROPTEST_CASES` for a longer run.

use crate::error::ApiError;
use crate::http::{respond, ApiRequest, ApiResponse, Cors};
use crate::testing::ScriptedDeps;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Map, Value};

/// Strings parsers trip on: empty, whitespace, quotes and escapes, controls (NUL included),
/// bidi and zero-width characters, non-ASCII up to four bytes, and almost-valid values.
const NASTY: &[&str] = &[
    "",
    " ",
    "\t\n",
    "\0",
    "\"",
    "\\",
    "\u{202e}",
    "\u{200b}",
    "\u{feff}",
    "é",
    "🙂",
    "null",
    "true",
    "-1",
    "0",
    "1e999",
    "NaN",
    "{}",
    "[]",
    "%00",
    "../",
    "00000000-0000-0000-0000-000000000000",
    "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11",
    "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c1",
];

/// Any text: arbitrary characters (controls and surrogate-free Unicode alike), short words,
/// and the [`NASTY`] ones.
pub fn text() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        prop::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
        "[a-z_]{0,12}",
        prop::sample::select(NASTY).prop_map(str::to_owned),
    ]
}

/// Any JSON value up to four levels deep; numbers include the extremes of `i64`, `u64` and
/// `f64`.
pub fn json_value() -> impl Strategy<Value = Value> + Clone {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Finite, and within what a request may carry (`http::json_numbers`).
        any::<f64>().prop_filter_map("finite and at most 1e300", |f| {
            (f.abs() <= 1e300)
                .then(|| serde_json::Number::from_f64(f).map(Value::Number))
                .flatten()
        }),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// The object an endpoint reads, almost: each of `fields` absent or any JSON value (one of
/// `words`, or a UUID, often enough to get past the first checks), now and then with a field
/// the endpoint does not know.
pub fn shaped(
    fields: &'static [&'static str],
    words: &'static [&'static str],
) -> impl Strategy<Value = Value> + Clone {
    let value = prop_oneof![
        2 => json_value(),
        1 => prop::sample::select(words).prop_map(Value::from),
        1 => Just(Value::from("7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11")),
    ];
    (
        prop::collection::vec(prop::option::of(value), fields.len()),
        prop::option::weighted(0.15, (text(), json_value())),
    )
        .prop_map(move |(values, extra)| {
            let mut object = Map::new();
            for (field, value) in fields.iter().zip(values) {
                if let Some(value) = value {
                    object.insert((*field).to_owned(), value);
                }
            }
            if let Some((name, value)) = extra {
                object.insert(name, value);
            }
            Value::Object(object)
        })
}

/// Request bodies for an endpoint that reads a JSON object of `fields`: arbitrary bytes, any
/// JSON, [`shaped`] objects, such an object cut short, and nesting deeper than any parser
/// should follow.
pub fn body(
    fields: &'static [&'static str],
    words: &'static [&'static str],
) -> impl Strategy<Value = Vec<u8>> {
    let object = shaped(fields, words);
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..128),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        3 => object.clone().prop_map(|v| v.to_string().into_bytes()),
        1 => (object, any::<prop::sample::Index>()).prop_map(|(v, cut)| {
            let text = v.to_string().into_bytes();
            text[..cut.index(text.len() + 1)].to_vec()
        }),
        1 => (1usize..2000).prop_map(|depth| {
            let mut text = "[".repeat(depth);
            text.push_str(&"]".repeat(depth));
            text.into_bytes()
        }),
    ]
}

/// The refusal every bad input must get: an error (never a success) with a 4xx status (never
/// a 5xx: the mistake is the client's), a snake_case code and a message, answered as the one
/// error body carrying the request's id, as JSON. Returns the error for further checks.
pub fn refused(
    req: &ApiRequest,
    result: Result<ApiResponse, ApiError>,
) -> Result<ApiError, TestCaseError> {
    let err = match result {
        Ok(resp) => {
            return Err(TestCaseError::fail(format!(
                "accepted with {}: {:?}",
                resp.status, resp.body
            )))
        }
        Err(err) => err,
    };
    prop_assert!((400..500).contains(&err.status), "not a 4xx: {err}");
    prop_assert!(
        !err.code.is_empty()
            && err
                .code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "code {:?}",
        err.code
    );
    prop_assert!(!err.message.trim().is_empty(), "no message: {err}");
    let resp = respond(Err(err.clone()), &req.request_id, None, &Cors::default());
    prop_assert_eq!(resp.status, err.status);
    prop_assert_eq!(resp.header("x-request-id"), Some(req.request_id.as_str()));
    prop_assert_eq!(
        resp.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let expected = json!({"error": {
        "code": err.code, "message": err.message, "request_id": req.request_id
    }});
    prop_assert_eq!(resp.body, Some(expected));
    Ok(err)
}

/// The code of what SQL answers in [`send`]: no Worker refusal has it, so a refusal with it
/// shows the body got as far as the database.
const SQL_REFUSED: &str = "refused_by_sql";

/// Sends `body` to `method path` as a signed-in user through `handle` (a Worker's handler,
/// run to completion); see [`send_request`].
pub fn send(
    (method, path): (&str, &str),
    function: &str,
    body: Vec<u8>,
    handle: impl FnOnce(&ApiRequest, &ScriptedDeps) -> Result<ApiResponse, ApiError>,
) -> Result<Option<Value>, TestCaseError> {
    let mut req = ScriptedDeps::request(method, path, "", &[]);
    req.body = body;
    send_request(req, ScriptedDeps::default(), function, handle)
}

/// Runs `req` through `handle` with `deps`, whose SQL `function` answers a refusal if the
/// Worker calls it. The answer must be [`refused`]; a refusal of the Worker's own must come
/// before any call to the database (it changes nothing). `Some` of the arguments `function`
/// got when the request reached it.
pub fn send_request(
    req: ApiRequest,
    deps: ScriptedDeps,
    function: &str,
    handle: impl FnOnce(&ApiRequest, &ScriptedDeps) -> Result<ApiResponse, ApiError>,
) -> Result<Option<Value>, TestCaseError> {
    let deps = deps.answer(
        function,
        Err(ApiError::new(422, SQL_REFUSED, "refused by SQL")),
    );
    let err = refused(&req, handle(&req, &deps))?;
    let calls = deps.upstream.calls.borrow();
    if err.code == SQL_REFUSED {
        return Ok(calls.first().map(|(_, args, _)| args.clone()));
    }
    prop_assert!(
        calls.is_empty(),
        "refused ({err}) after calling {:?}",
        deps.called()
    );
    Ok(None)
}

#[cfg(test)]
mod cursor;
#[cfg(test)]
mod json_body;
#[cfg(test)]
mod jwt;
#[cfg(test)]
mod request;
#[cfg(test)]
mod webhook;
