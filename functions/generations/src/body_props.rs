//! The generations Worker's JSON bodies through its handler: any bytes or JSON sent to
//! start, edit or delete generations are a 4xx with the one error body, refused before SQL
//! unless SQL refuses them (never a panic or a 5xx); a well-formed start reaches SQL with
//! the prompt trimmed and nothing that prices it.

use crate::handle;
use genbase_shared::props::{body, send};
use genbase_shared::testing::block_on;
use proptest::prelude::*;
use serde_json::json;

const ID: &str = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11";
const KINDS: &[&str] = &["image", "video", "audio", "music", "text", "tts"];
const WORDS: &[&str] = &["image", "video", "text", "flux-schnell", "a fox", "", " "];

proptest! {
    #[test]
    fn any_start_body_is_refused_by_the_worker_or_by_sql(
        bytes in body(&["kind", "model", "prompt", "params", "workspace_id", "units", "action"], WORDS)
    ) {
        send(("POST", "/v1/generations"), "create_generation", bytes, |req, deps| {
            block_on(handle(req, deps))
        })?;
    }

    #[test]
    fn any_edit_is_refused_by_the_worker_or_by_sql(
        bytes in body(&["is_favorite", "title"], &["", "a title", "true"])
    ) {
        let path = format!("/v1/generations/{ID}");
        send(("PATCH", &path), "update_generation", bytes, |req, deps| {
            block_on(handle(req, deps))
        })?;
    }

    #[test]
    fn any_bulk_delete_is_refused_by_the_worker_or_by_sql(bytes in body(&["ids"], &[ID])) {
        send(("POST", "/v1/generations/delete"), "delete_generations", bytes, |req, deps| {
            block_on(handle(req, deps))
        })?;
    }

    #[test]
    fn a_well_formed_start_reaches_sql_unpriced(
        kind in prop::sample::select(KINDS),
        model in "[a-z0-9][a-z0-9/._-]{0,40}",
        prompt in "[^\\p{C}]{1,200}",
        params in prop::option::of(prop::collection::btree_map("[a-z_]{1,12}", any::<i64>(), 0..4)),
    ) {
        prop_assume!(!prompt.trim().is_empty());
        let mut start = json!({"kind": kind, "model": model, "prompt": prompt});
        if let Some(params) = &params {
            start["params"] = json!(params);
        }
        let args = send(("POST", "/v1/generations"), "create_generation",
                        start.to_string().into_bytes(), |req, deps| block_on(handle(req, deps)))?
            .expect("a well-formed body reaches SQL");
        prop_assert_eq!(&args["p_kind"], &json!(kind));
        prop_assert_eq!(&args["p_prompt"], &json!(prompt.trim()));
        prop_assert_eq!(&args["p_params"], &json!(params.unwrap_or_default()));
        prop_assert!(args.get("p_units").is_none() && args.get("p_credits").is_none());
    }
}
