//! Prompt templates (001's `system_prompt_templates`): the public ones (admins write them)
//! and the caller's private ones, a conversation's system prompt to start from. SQL checks
//! every field and who may write which; RLS hides others' private templates.

use crate::crud::Editable;
use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::Params;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::keyset::{self, Keyset, Position};
use genbase_shared::limits;
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::{Id, Limit, ShortText};
use serde::{Deserialize, Serialize};

/// Where the next page starts (by name, id to break ties), as SQL reports it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatesPosition {
    pub name: String,
    pub id: String,
}

impl Position for TemplatesPosition {
    fn id(&self) -> &str {
        &self.id
    }
}

/// `api.list_prompt_templates`.
#[derive(Debug, PartialEq, Serialize)]
pub struct ListTemplates {
    category: Option<ShortText>,
    limit: Limit,
    cursor_name: Option<String>,
    cursor_id: Option<Id>,
}

impl RpcArgs for ListTemplates {
    const FUNCTION: &'static str = "list_prompt_templates";
}

impl ListTemplates {
    /// `?category=&cursor=&limit=`.
    pub fn from_query(query: &[(String, String)]) -> Result<ListTemplates, ApiError> {
        let params = Params::new(query, &["category", "cursor", "limit"])?;
        let page = Keyset::<TemplatesPosition>::parse(params.get("cursor"), params.get("limit"))?;
        Ok(ListTemplates {
            category: params
                .get("category")
                // Bounded like any search text: SQL checks a category's own limit where one
                // is saved, and a longer filter would only match nothing.
                .map(|c| ShortText::parse("category", c, limits::Q_CHARS))
                .transpose()?,
            limit: page.limit,
            cursor_id: page.after_id()?,
            cursor_name: page.after.map(|c| c.name),
        })
    }
}

/// `POST /v1/prompt-templates` body; `public` (admins only) makes it every user's.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct CreateTemplate {
    name: String,
    content: String,
    description: Option<String>,
    category: Option<String>,
    #[serde(default)]
    public: bool,
}

impl RpcArgs for CreateTemplate {
    const FUNCTION: &'static str = "create_prompt_template";
}

/// `api.update_prompt_template` and `api.delete_prompt_template`.
pub struct Template;

impl Editable for Template {
    const UPDATE: &'static str = "update_prompt_template";
    const DELETE: &'static str = "delete_prompt_template";
    const FIELDS: &'static str = "name, content, description or category";
}

pub async fn list(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let args = ListTemplates::from_query(&req.query)?;
    keyset::page_response(keyset::fetch::<_, TemplatesPosition>(deps, &args, &caller.auth).await?)
}

pub async fn create(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let args: CreateTemplate = req.json_body()?;
    Ok(ApiResponse::created(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use genbase_shared::http::parse_query;
    use genbase_shared::rpc::sql_args;
    use genbase_shared::validate::Cursor;
    use serde_json::json;

    #[test]
    fn the_list_query_reaches_sql_with_its_cursor_unpacked() {
        let id = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11";
        let cursor = Cursor::new(TemplatesPosition {
            name: "Coder".into(),
            id: id.into(),
        })
        .encode();
        let q = parse_query(&format!("category=dev&limit=3&cursor={cursor}"));
        assert_eq!(
            sql_args(&ListTemplates::from_query(&q).unwrap()).unwrap(),
            json!({"p_category": "dev", "p_limit": 3, "p_cursor_name": "Coder", "p_cursor_id": id})
        );
        let err = ListTemplates::from_query(&parse_query("category=")).unwrap_err();
        assert_eq!(err.message, "category must be 1 to 200 characters");
    }

    #[test]
    fn a_template_is_private_unless_said_public() {
        let t: CreateTemplate =
            serde_json::from_value(json!({"name": "Coder", "content": "You write Rust."})).unwrap();
        assert_eq!(
            sql_args(&t).unwrap(),
            json!({"p_name": "Coder", "p_content": "You write Rust.", "p_description": null,
                   "p_category": null, "p_public": false})
        );
    }
}
