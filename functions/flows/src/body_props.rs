//! The flows Worker's JSON bodies through its handler: any bytes or JSON sent to create,
//! rename or save a flow (the graph beside its version, read through `#[serde(flatten)]`),
//! to its comments, and to the sharing endpoints every shared thing has, are a 4xx with the
//! one error body, refused before SQL unless SQL refuses them (never a panic or a 5xx); a
//! graph of any content reaches SQL whole.

use crate::handle;
use genbase_shared::props::{body, json_value, send};
use genbase_shared::testing::block_on;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const FLOW: &str = "f0000000-0000-4000-8000-000000000001";
const WORDS: &[&str] = &[
    "a flow", "viewer", "editor", "admin", "owner", "a@b.co", "n1", "",
];

/// An endpoint that reads a JSON body, and the SQL function it calls with it.
#[derive(Debug, Clone, Copy)]
struct Endpoint {
    method: &'static str,
    path: &'static str,
    function: &'static str,
    fields: &'static [&'static str],
}

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "POST",
        path: "/v1/flows",
        function: "create_flow",
        fields: &["name", "description", "workspace_id"],
    },
    Endpoint {
        method: "PATCH",
        path: "/v1/flows/f0000000-0000-4000-8000-000000000001",
        function: "update_flow",
        fields: &["name", "description"],
    },
    Endpoint {
        method: "PUT",
        path: "/v1/flows/f0000000-0000-4000-8000-000000000001/graph",
        function: "save_flow",
        fields: &["version", "nodes", "edges", "viewport"],
    },
    Endpoint {
        method: "POST",
        path: "/v1/flows/f0000000-0000-4000-8000-000000000001/comments",
        function: "create_flow_comment",
        fields: &["content", "position", "node_id", "parent_id"],
    },
    Endpoint {
        method: "PATCH",
        path: "/v1/flows/f0000000-0000-4000-8000-000000000001/comments/c0000000-0000-4000-8000-000000000002",
        function: "update_flow_comment",
        fields: &["content"],
    },
    Endpoint {
        method: "PATCH",
        path: "/v1/flows/f0000000-0000-4000-8000-000000000001/members/a0000000-0000-4000-8000-000000000003",
        function: "update_member",
        fields: &["role"],
    },
    Endpoint {
        method: "POST",
        path: "/v1/flows/f0000000-0000-4000-8000-000000000001/transfer",
        function: "transfer_ownership",
        fields: &["user_id"],
    },
    Endpoint {
        method: "POST",
        path: "/v1/flows/f0000000-0000-4000-8000-000000000001/invitations",
        function: "create_invitation",
        fields: &["role", "email", "max_uses", "expires_in_hours"],
    },
];

fn endpoint_and_body() -> impl Strategy<Value = (Endpoint, Vec<u8>)> {
    prop::sample::select(ENDPOINTS).prop_flat_map(|e| (Just(e), body(e.fields, WORDS)))
}

proptest! {
    #[test]
    fn any_body_is_refused_by_the_worker_or_by_sql((endpoint, bytes) in endpoint_and_body()) {
        send((endpoint.method, endpoint.path), endpoint.function, bytes, |req, deps| {
            block_on(handle(req, deps))
        })?;
    }

    #[test]
    fn a_graph_of_any_content_reaches_sql_whole(
        version in any::<i64>(),
        graph in prop::collection::btree_map("[a-z_]{1,10}", json_value(), 0..4),
    ) {
        prop_assume!(!graph.contains_key("version"));
        let mut sent: Map<String, Value> = graph.clone().into_iter().collect();
        sent.insert("version".into(), version.into());
        let path = format!("/v1/flows/{FLOW}/graph");
        let text = Value::Object(sent).to_string();
        let args = send(("PUT", &path), "save_flow", text.clone().into_bytes(), |req, deps| {
            block_on(handle(req, deps))
        })?
        .expect("a graph with a version reaches SQL");
        // What serde_json itself reads back (floats may round in the last place).
        let read: Value = serde_json::from_str(&text).expect("valid JSON");
        let mut expected = read.as_object().cloned().unwrap_or_default();
        expected.remove("version");
        prop_assert_eq!(&args["p_version"], &json!(version));
        prop_assert_eq!(&args["p_graph"], &Value::Object(expected));
    }
}
