//! The API's description as the router serves it: the committed OpenAPI document and the
//! reference page with its script, both from the router's static assets.

use genbase_tests::Stack;
use serde_json::Value;

#[test]
fn the_router_serves_this_trees_openapi_document() {
    let stack = Stack::from_env();
    let r = stack.get("/v1/openapi.json", None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("openapi/openapi.json")).unwrap())
            .unwrap();
    assert_eq!(
        r.body, committed,
        "the served document is not the committed one"
    );
}

#[test]
fn the_reference_page_loads_its_script_from_the_router() {
    let stack = Stack::from_env();
    let page = stack.get("/v1/docs", None);
    assert_eq!(page.status, 200);
    let html = page.body["raw"].as_str().expect("an HTML page");
    assert!(html.contains(r#"src="/v1/docs/redoc.standalone.js""#));
    let script = stack.get("/v1/docs/redoc.standalone.js", None);
    assert_eq!(script.status, 200, "{:?}", script.header("content-type"));
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let js = script.body["raw"].as_str().expect("a script");
    assert!(
        js.len() > 100_000 && js.contains("Redoc"),
        "not Redoc's bundle"
    );
}
