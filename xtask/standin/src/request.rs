//! Reading a request the way PostgREST does: the schema profile headers, content negotiation,
//! `Prefer`, the JSON body of named arguments, the query string (arguments vs. filters), and
//! the headers and cookies exposed to SQL. Anything that would change the answer and is not
//! implemented is refused with 501.

use crate::config::Config;
use crate::errors::ApiError;
use axum::body::Body;
use axum::http::{header, HeaderMap};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

/// Largest request body accepted (PostgREST has none; Supabase's gateway has its own).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// How much of an oversized body is read and dropped before answering 413 (see [`read_body`]).
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The schema from `Accept-Profile` (GET/HEAD) or `Content-Profile` (POST); PGRST106 when it is
/// not exposed.
pub fn profile(headers: &HeaderMap, is_get: bool, config: &Config) -> Result<String, ApiError> {
    let name = if is_get {
        "accept-profile"
    } else {
        "content-profile"
    };
    match header_str(headers, name) {
        None => Ok(config.default_schema().to_string()),
        Some(s) if config.schemas.iter().any(|x| x == s) => Ok(s.to_string()),
        Some(s) => Err(
            ApiError::new(406, "PGRST106", format!("Invalid schema: {s}")).hint(format!(
                "Only the following schemas are exposed: {}",
                config.schemas.join(", ")
            )),
        ),
    }
}

/// Only JSON responses are implemented (not CSV, XML, singular objects, plans, ...).
pub fn check_accept(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(accept) = header_str(headers, header::ACCEPT.as_str()) else {
        return Ok(());
    };
    if accept.trim().is_empty() {
        return Ok(());
    }
    let json_ok = accept.split(',').any(|m| {
        let media = m
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        matches!(media.as_str(), "*/*" | "application/*" | "application/json")
    });
    if json_ok {
        Ok(())
    } else {
        Err(ApiError::not_implemented(format!(
            "responses of media type {accept:?} (only application/json)"
        )))
    }
}

/// Preferences that would change the answer are refused; the rest have no effect on an RPC call
/// under PostgREST's default configuration (`tx=` needs db-tx-end=commit-allow-override,
/// `return=`/`missing=`/`resolution=` concern table writes) and are ignored as PostgREST does.
pub fn check_prefer(headers: &HeaderMap) -> Result<(), ApiError> {
    for value in headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for pref in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, val) = pref.split_once('=').unwrap_or((pref, ""));
            let refused = match key.trim() {
                "params" | "count" | "timezone" | "max-affected" => true,
                "handling" => val.trim() == "strict",
                _ => false,
            };
            if refused {
                return Err(ApiError::not_implemented(format!(
                    "the `Prefer: {pref}` preference"
                )));
            }
        }
    }
    Ok(())
}

pub fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    match header_str(headers, header::CONTENT_TYPE.as_str()) {
        // PostgREST assumes JSON when no type is given.
        None => Ok(()),
        Some(ct) => {
            let media = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if media.is_empty() || media == "application/json" {
                Ok(())
            } else {
                Err(ApiError::not_implemented(format!(
                    "request bodies of type {ct:?} (only application/json named arguments)"
                )))
            }
        }
    }
}

pub async fn body_args(headers: &HeaderMap, body: Body) -> Result<Map<String, Value>, ApiError> {
    let bytes = read_body(headers, body).await?;
    parse_body(&bytes)
}

/// Reads at most [`BODY_LIMIT`] bytes. A larger body is still read (up to [`DRAIN_LIMIT`]) and
/// dropped before answering 413: most clients write the whole body before reading the reply,
/// and closing on them mid-write turns a clear 413 into a "broken pipe".
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    use axum::body::HttpBody;
    let too_large = || {
        ApiError::new(413, "STANDIN413", "Request body too large").details(format!(
            "postgrest-standin accepts at most {BODY_LIMIT} bytes"
        ))
    };
    let declared =
        header_str(headers, header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT as u64) {
        return Err(too_large());
    }
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|e| {
            ApiError::new(400, "PGRST102", "Empty or invalid json")
                .details(format!("reading the body failed: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen > DRAIN_LIMIT {
                return Err(too_large());
            }
            if seen <= BODY_LIMIT {
                bytes.extend_from_slice(&data);
            }
        }
    }
    if seen > BODY_LIMIT {
        return Err(too_large());
    }
    Ok(bytes)
}

/// The body of a POST: a JSON object whose keys are the argument names. An empty body means no
/// arguments (PostgREST reads it as `{}` for RPC).
fn parse_body(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.is_empty() {
        return Ok(Map::new());
    }
    let invalid = || ApiError::new(400, "PGRST102", "Empty or invalid json");
    match serde_json::from_slice::<Value>(bytes).map_err(|_| invalid())? {
        Value::Object(map) => Ok(map),
        Value::Array(_) => Err(ApiError::not_implemented(
            "a JSON array body (PostgREST passes it to a function with a single unnamed json/jsonb parameter)",
        )),
        _ => Err(invalid().details("The body of an RPC call must be a JSON object of named arguments")),
    }
}

/// Splits the query string as PostgREST does (PostgREST.ApiRequest.QueryParams): reserved
/// parameters (select, order, limit, ...) and filters (`col=eq.1`, `a.b=...`) shape a
/// table-valued result, which the stand-in does not implement; the rest are named arguments
/// (used by GET, ignored by POST as in PostgREST). Parameters without `=` are ignored.
pub fn classify_query(query: &str) -> Result<Map<String, Value>, ApiError> {
    let mut args = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        let (k, v) = (decode_component(k), decode_component(v));
        let last = k.rsplit('.').next().unwrap_or("");
        if k == "select" && v == "*" {
            continue; // the default, harmless
        }
        if matches!(k.as_str(), "select" | "columns" | "on_conflict")
            || matches!(last, "order" | "limit" | "offset" | "and" | "or")
        {
            return Err(ApiError::not_implemented(format!(
                "the `{k}=` query parameter"
            )));
        }
        if k.contains('.') || is_filter_value(&v) {
            return Err(ApiError::not_implemented(format!(
                "filters on function results (`{k}={v}`; PostgREST reads values like `eq.x` as filters)"
            )));
        }
        if args.contains_key(&k) {
            return Err(ApiError::not_implemented(format!(
                "repeated query parameters (`{k}`, variadic arguments)"
            )));
        }
        args.insert(k, Value::String(v));
    }
    Ok(args)
}

/// `+` is a space and `%xx` an escape, as in PostgREST's `parseQueryReplacePlus True`.
fn decode_component(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

const OPERATORS: &[&str] = &[
    "eq", "gte", "gt", "lte", "lt", "neq", "like", "ilike", "cs", "cd", "ov", "sl", "sr", "nxr",
    "nxl", "adj", "match", "imatch",
];
const FTS_OPERATORS: &[&str] = &["fts", "plfts", "phfts", "wfts"];

/// PostgREST's `hasOperator || hasFtsOperator` test on a query parameter value.
fn is_filter_value(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    let has_operator = match parts.as_slice() {
        ["not", _, ..] => true,
        ["is", ..] | ["in", ..] => true,
        [first, ..] => OPERATORS.contains(first) || FTS_OPERATORS.contains(first),
        [] => false,
    };
    let fts_with_language = match v.split_once('(') {
        Some((op, _)) => FTS_OPERATORS.contains(&op),
        None => false,
    };
    has_operator || fts_with_language
}

/// `request.headers`: every header, names lowercased (the http crate stores them so); the last
/// of repeated headers wins, as in PostgREST's JSON object.
pub fn headers_json(headers: &HeaderMap) -> Value {
    let mut map = Map::new();
    for (name, value) in headers {
        map.insert(
            name.as_str().to_string(),
            Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        );
    }
    Value::Object(map)
}

/// `request.cookies`: the `Cookie` header(s) as a JSON object.
pub fn cookies_json(headers: &HeaderMap) -> Value {
    let mut map = Map::new();
    for value in headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for pair in value.split(';') {
            if let Some((k, v)) = pair.split_once('=') {
                map.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
            }
        }
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    #[test]
    fn query_params_split_like_postgrest() {
        assert_eq!(
            Value::Object(classify_query("a=1&b=x+y&c=%7B1,2%7D&flag&select=*").unwrap()),
            json!({"a": "1", "b": "x y", "c": "{1,2}"})
        );
        for refused in [
            "select=id",
            "order=id",
            "limit=1",
            "x.offset=2",
            "or=(a.eq.1)",
            "id=eq.1",
            "a=not.is.null",
            "a=in.(1,2)",
            "t=fts(english).cat",
            "a.b=1",
            "a=1&a=2",
            "columns=a",
        ] {
            let e = classify_query(refused).unwrap_err();
            assert_eq!(e.status, 501, "{refused}");
        }
        assert!(!is_filter_value("hello.world"));
        assert!(is_filter_value("eq"));
    }

    #[test]
    fn body_is_an_object_of_named_args() {
        assert_eq!(parse_body(b"").unwrap(), Map::new());
        assert_eq!(parse_body(b" ").unwrap_err().code, "PGRST102");
        assert_eq!(
            parse_body(b" {\"a\": 1} ").unwrap().get("a"),
            Some(&json!(1))
        );
        assert_eq!(parse_body(b"{nope").unwrap_err().code, "PGRST102");
        assert_eq!(parse_body(b"5").unwrap_err().code, "PGRST102");
        assert_eq!(parse_body(b"[1]").unwrap_err().status, 501);
    }

    #[test]
    fn negotiation() {
        let mut h = HeaderMap::new();
        assert!(check_accept(&h).is_ok());
        h.insert("accept", HeaderValue::from_static("text/csv"));
        assert_eq!(check_accept(&h).unwrap_err().status, 501);
        h.insert(
            "accept",
            HeaderValue::from_static("text/csv, application/json;q=0.9"),
        );
        assert!(check_accept(&h).is_ok());
        h.insert(
            "accept",
            HeaderValue::from_static("application/vnd.pgrst.object+json"),
        );
        assert_eq!(check_accept(&h).unwrap_err().status, 501);

        let mut p = HeaderMap::new();
        p.insert(
            "prefer",
            HeaderValue::from_static("return=minimal, tx=commit"),
        );
        assert!(check_prefer(&p).is_ok());
        for refused in [
            "params=single-object",
            "count=exact",
            "handling=strict",
            "timezone=UTC",
        ] {
            p.insert("prefer", HeaderValue::from_str(refused).unwrap());
            assert_eq!(check_prefer(&p).unwrap_err().status, 501, "{refused}");
        }

        let mut c = HeaderMap::new();
        assert!(check_content_type(&c).is_ok());
        c.insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(check_content_type(&c).is_ok());
        c.insert("content-type", HeaderValue::from_static("text/plain"));
        assert_eq!(check_content_type(&c).unwrap_err().status, 501);
    }

    #[test]
    fn cookies_and_headers_as_json() {
        let mut h = HeaderMap::new();
        h.insert("cookie", HeaderValue::from_static("a=1; b = two"));
        h.insert("X-Thing", HeaderValue::from_static("v"));
        assert_eq!(cookies_json(&h), json!({"a": "1", "b": "two"}));
        assert_eq!(headers_json(&h)["x-thing"], json!("v"));
    }
}
