//! The profile Worker's `PATCH /v1/me` through its handler: any bytes or JSON are a 4xx with
//! the one error body, refused before SQL unless SQL refuses them (never a panic or a 5xx),
//! and a patch that names a field its owner may not set never reaches SQL.

use crate::handle;
use genbase_shared::props::{body, send};
use genbase_shared::testing::block_on;
use proptest::prelude::*;
use serde_json::Value;

const FIELDS: &[&str] = &[
    "display_name",
    "avatar_url",
    "telegram_username",
    "preferred_model_provider",
    "preferred_model_name",
    "settings",
    "role",
    "credits",
    "is_active",
];
const WORDS: &[&str] = &[
    "Ada",
    "https://example.com/a.png",
    "javascript:alert(1)",
    "admin",
    "openai",
    "",
];
/// What the Worker itself refuses to pass on, whatever the value.
const PRIVILEGED: &[&str] = &["role", "credits", "is_active"];

proptest! {
    #[test]
    fn any_patch_is_refused_by_the_worker_or_by_sql(bytes in body(FIELDS, WORDS)) {
        let privileged = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .is_some_and(|o| PRIVILEGED.iter().any(|k| o.contains_key(*k)));
        let reached = send(("PATCH", "/v1/me"), "update_my_profile", bytes, |req, deps| {
            block_on(handle(req, deps))
        })?;
        if privileged {
            prop_assert!(reached.is_none(), "a privileged field reached SQL: {reached:?}");
        }
    }
}
