//! `ApiRequest::json_body`, the one way every Worker reads a JSON body: any bytes are the
//! value they spell or a 400 (`invalid_json` for bad syntax, `validation_failed` for the
//! wrong shape) or a 413, answered with the one error body; nesting deeper than serde_json
//! follows is a 400, not a stack overflow.

use super::{body, json_value, refused};
use crate::http::{ApiRequest, ApiResponse, MAX_BODY_BYTES};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{Map, Value};

/// A body like the Workers': required and optional fields, a typed list, unknown fields
/// refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Only parsed: what matters is whether it parses.
struct Strict {
    name: String,
    count: u32,
    tags: Option<Vec<String>>,
    params: Option<Map<String, Value>>,
}

/// A body that takes a known field and keeps the rest (`#[serde(flatten)]`, as the flow
/// graph's), which serde buffers and reads differently.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // Only parsed.
struct Flattened {
    version: i64,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

const FIELDS: &[&str] = &["name", "count", "tags", "params", "version"];
const WORDS: &[&str] = &["a", "1", "0", "-1", "4294967296"];

fn request(body: Vec<u8>) -> ApiRequest {
    ApiRequest::new("POST", "/v1/things", Vec::new(), Vec::new(), body)
}

/// Parses as `T`; a refusal must be the one error body and say which kind of mistake it is.
fn parse<T: serde::de::DeserializeOwned>(req: &ApiRequest) -> Result<(), TestCaseError> {
    let Err(err) = req.json_body::<T>() else {
        return Ok(());
    };
    let err = refused(req, Err::<ApiResponse, _>(err))?;
    prop_assert!(
        matches!(
            (err.status, err.code.as_str()),
            (400, "invalid_json" | "validation_failed") | (413, "payload_too_large")
        ),
        "{}",
        err
    );
    Ok(())
}

proptest! {
    #[test]
    fn any_body_is_parsed_or_refused_with_the_one_error_body(bytes in body(FIELDS, WORDS)) {
        let req = request(bytes);
        parse::<Value>(&req)?;
        parse::<Strict>(&req)?;
        parse::<Flattened>(&req)?;
        parse::<Vec<Strict>>(&req)?;
    }

    #[test]
    fn any_json_value_is_read_back_as_sent(value in json_value()) {
        let text = value.to_string();
        // serde_json's own reading of its text (floats may round in the last place).
        let expected: Value = serde_json::from_str(&text).expect("valid JSON");
        let req = request(text.into_bytes());
        prop_assert_eq!(req.json_body::<Value>().expect("valid JSON"), expected);
    }

    #[test]
    fn deep_nesting_is_a_400_not_a_stack_overflow(depth in 1usize..100_000, object in any::<bool>()) {
        let (open, close) = if object { ("{\"a\":", "}") } else { ("[", "]") };
        let mut text = open.repeat(depth);
        text.push('1');
        text.push_str(&close.repeat(depth));
        let req = request(text.into_bytes());
        let outcome = req.json_body::<Value>();
        if req.body.len() > MAX_BODY_BYTES {
            prop_assert_eq!(outcome.expect_err("over the limit").status, 413);
        } else if depth > 127 {
            // serde_json stops at 128 levels.
            let err = outcome.expect_err("too deep");
            prop_assert_eq!((err.status, err.code.as_str()), (400, "invalid_json"));
        } else {
            prop_assert!(outcome.is_ok());
        }
    }

    #[test]
    fn a_body_over_the_limit_is_a_413_whatever_it_holds(extra in 1usize..4096, fill in any::<u8>()) {
        let req = request(vec![fill; MAX_BODY_BYTES + extra]);
        let err = refused(&req, req.json_body::<Value>().map(ApiResponse::ok))?;
        prop_assert_eq!((err.status, err.code.as_str()), (413, "payload_too_large"));
    }
}
