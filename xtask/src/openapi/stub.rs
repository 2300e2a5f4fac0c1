//! The fragment of a scaffolded function group (`cargo xtask new`): its one endpoint,
//! `GET /v1/<group>`, documented as the templates write it. `cargo xtask test` serves a
//! temporary demo group; [`Temporary`] gives the end-to-end tests a document that has it, so
//! the demo's answers are checked like any other's, while `openapi/` stays as committed.

use super::{document, merge};
use anyhow::Result;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The variable naming the document the end-to-end tests check answers against, when it is
/// not `openapi/openapi.json`.
pub const DOCUMENT_VAR: &str = "GENBASE_OPENAPI_DOCUMENT";

/// The fragment of a scaffolded group: `GET /v1/<name>` answers `{user_id}`.
pub fn fragment(name: &str) -> Value {
    let mut words = name.split('-');
    let mut id = words.next().unwrap_or_default().to_string();
    for word in words {
        let mut chars = word.chars();
        id.extend(chars.next().map(|c| c.to_ascii_uppercase()));
        id.push_str(chars.as_str());
    }
    let xrid = json!({"x-request-id": {"$ref": "#/components/headers/XRequestId"}});
    json!({"paths": {format!("/v1/{name}"): {"get": {
        "operationId": format!("{id}Hello"),
        "tags": [name],
        "summary": "The caller as Postgres sees them (scaffolded: describe the group's endpoints here)",
        "security": [{"userJwt": []}],
        "responses": {
            "200": {"description": "The caller's id.", "headers": xrid, "content": {"application/json": {"schema": {
                "type": "object", "required": ["user_id"], "additionalProperties": false,
                "properties": {"user_id": {"type": ["string", "null"], "format": "uuid"}}}}}},
            "401": {"$ref": "#/components/responses/Unauthorized"}
        }
    }}}})
}

/// The merged document with the scaffolded group `name` in it, written under `target/` and
/// named in [`DOCUMENT_VAR`] for every process this one starts, for as long as this value
/// exists.
pub struct Temporary {
    file: PathBuf,
}

impl Temporary {
    pub fn add(root: &Path, name: &str) -> Result<Temporary> {
        let mut doc = document(root)?;
        merge::add_fragment(&mut doc, &format!("{name}.json"), fragment(name))?;
        let file = root
            .join("target/openapi")
            .join(format!("with-{name}.json"));
        std::fs::create_dir_all(file.parent().unwrap_or(root))?;
        std::fs::write(&file, merge::render(&merge::sorted(doc)))?;
        std::env::set_var(DOCUMENT_VAR, &file);
        Ok(Temporary { file })
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        std::env::remove_var(DOCUMENT_VAR);
        let _ = std::fs::remove_file(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scaffolded_group_is_documented_and_passes_the_lint() {
        let frag = fragment("media-kit");
        let op = &frag["paths"]["/v1/media-kit"]["get"];
        assert_eq!(op["operationId"], "mediaKitHello");
        let mut doc: Value = serde_json::from_str(
            &std::fs::read_to_string(crate::paths::root().join("openapi/base.json")).unwrap(),
        )
        .unwrap();
        doc["paths"] = json!({});
        merge::add_fragment(&mut doc, "media-kit.json", frag).unwrap();
        assert_eq!(super::super::lint::problems(&doc), Vec::<String>::new());
    }
}
