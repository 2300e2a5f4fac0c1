//! What a request's line carries before any body: the query string and the path. Any query
//! string splits into pairs (what a client form-encoded comes back as it was), and any method
//! and path are an endpoint or a 400 (a bad id), 404 or 405 with the one error body.

use super::{refused, text};
use crate::http::{parse_query, ApiRequest, ApiResponse};
use crate::validate::Id;
use proptest::prelude::*;

crate::endpoints! {
    enum Endpoint {
        GET "/v1/things" => List,
        POST "/v1/things/delete" => DeleteMany,
        GET "/v1/things/:id" => Get { id: Id },
        PATCH "/v1/things/:id" => Update { id: Id },
        POST "/v1/things/:id/parts/:part_id" => AddPart { id: Id, part_id: Id },
    }
}

/// `application/x-www-form-urlencoded`: every byte but the unreserved ones as `%XX`.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Paths near the routes: their segments, ids good and bad, encoded bytes, empty segments.
fn path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        prop::sample::select(
            &[
                "v1",
                "things",
                "delete",
                "parts",
                "",
                "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11",
                "%37d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11",
                "%zz",
                "%FF",
                "..",
            ][..]
        )
        .prop_map(str::to_owned),
        text(),
    ];
    prop_oneof![
        prop::collection::vec(segment, 0..6).prop_map(|s| format!("/{}", s.join("/"))),
        text(),
    ]
}

proptest! {
    #[test]
    fn any_query_string_splits_and_form_encoded_pairs_come_back(
        raw in prop_oneof![text(), "[a-z=&%+0-9A-F]{0,40}"],
        pairs in prop::collection::vec((text().prop_filter("named", |n| !n.is_empty()), text()), 0..5),
    ) {
        parse_query(&raw);
        let encoded: Vec<String> = pairs
            .iter()
            .map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value)))
            .collect();
        prop_assert_eq!(parse_query(&encoded.join("&")), pairs);
    }

    #[test]
    fn any_method_and_path_is_an_endpoint_or_a_4xx(
        method in prop_oneof![
            prop::sample::select(&["GET", "get", "POST", "PATCH", "PUT", "DELETE", "OPTIONS", ""][..])
                .prop_map(str::to_owned),
            text(),
        ],
        path in path(),
    ) {
        let req = ApiRequest::new(&method, &path, Vec::new(), Vec::new(), Vec::new());
        if let Err(err) = Endpoint::parse(&req.method, &req.path) {
            let err = refused(&req, Err::<ApiResponse, _>(err))?;
            prop_assert!(matches!(err.status, 400 | 404 | 405), "{}", err);
            prop_assert_eq!(err.status == 405, err.headers.iter().any(|(n, _)| n == "allow"));
        }
    }
}
