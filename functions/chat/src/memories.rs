//! Memories (000's `context_prompts`): short summaries of the caller's, fed into every
//! conversation's context while active. List, save, change (the toggle is `{active}`),
//! delete; SQL checks their content and count.

use crate::crud::Editable;
use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::Params;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::Id;
use serde::{Deserialize, Serialize};

/// `api.list_memories`: at most `memories_max` exist, so one page.
#[derive(Debug, PartialEq, Serialize)]
pub struct ListMemories {
    active: Option<bool>,
}

impl RpcArgs for ListMemories {
    const FUNCTION: &'static str = "list_memories";
}

impl ListMemories {
    /// `?active=true|false`; both when absent.
    pub fn from_query(query: &[(String, String)]) -> Result<ListMemories, ApiError> {
        let params = Params::new(query, &["active"])?;
        Ok(ListMemories {
            active: params.flag("active")?,
        })
    }
}

/// `POST /v1/memories` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    content: String,
    conversation_id: Option<String>,
}

/// `api.create_memory`: the conversation it sums up, if any, must be the caller's.
#[derive(Debug, PartialEq, Serialize)]
struct CreateMemory {
    content: String,
    conversation_id: Option<Id>,
}

impl RpcArgs for CreateMemory {
    const FUNCTION: &'static str = "create_memory";
}

impl CreateBody {
    fn validate(self) -> Result<CreateMemory, ApiError> {
        Ok(CreateMemory {
            content: self.content,
            conversation_id: self
                .conversation_id
                .map(|id| Id::parse("conversation_id", &id))
                .transpose()?,
        })
    }
}

/// `api.update_memory` and `api.delete_memory`.
pub struct Memory;

impl Editable for Memory {
    const UPDATE: &'static str = "update_memory";
    const DELETE: &'static str = "delete_memory";
    const FIELDS: &'static str = "content or active";
}

pub async fn list(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let args = ListMemories::from_query(&req.query)?;
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

pub async fn create(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let args = req.json_body::<CreateBody>()?.validate()?;
    Ok(ApiResponse::created(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use genbase_shared::http::parse_query;
    use genbase_shared::rpc::sql_args;
    use serde_json::json;

    #[test]
    fn the_active_filter_is_optional() {
        for (query, active) in [("", json!(null)), ("active=true", json!(true))] {
            let args = ListMemories::from_query(&parse_query(query)).unwrap();
            assert_eq!(sql_args(&args).unwrap(), json!({ "p_active": active }));
        }
    }

    #[test]
    fn a_memory_names_its_conversation_by_uuid() {
        let body = |conversation_id: &str| {
            serde_json::from_value::<CreateBody>(
                json!({"content": "likes foxes", "conversation_id": conversation_id}),
            )
            .unwrap()
            .validate()
        };
        let id = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11";
        assert_eq!(
            sql_args(&body(id).unwrap()).unwrap(),
            json!({"p_content": "likes foxes", "p_conversation_id": id})
        );
        assert_eq!(
            body("c1").unwrap_err().message,
            "conversation_id must be a UUID"
        );
    }
}
