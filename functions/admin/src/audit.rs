//! `GET /v1/admin/audit`: every admin change, newest first, optionally of one target user and
//! / or by one actor. SQL (RLS and `private.require_staff`) keeps it to admins.

use genbase_shared::error::ApiError;
use genbase_shared::http::Params;
use genbase_shared::keyset::NewestFirstArgs;
use genbase_shared::rpc::RpcArgs;
use genbase_shared::validate::Id;
use serde::Serialize;

const PARAMS: [&str; 4] = ["target_user_id", "actor_id", "cursor", "limit"];

/// `api.admin_list_audit`.
#[derive(Debug, PartialEq, Serialize)]
pub struct ListAudit {
    target_user_id: Option<Id>,
    actor_id: Option<Id>,
    #[serde(flatten)]
    page: NewestFirstArgs,
}

impl RpcArgs for ListAudit {
    const FUNCTION: &'static str = "admin_list_audit";
}

impl ListAudit {
    /// `?target_user_id=&actor_id=&cursor=&limit=`. The ids are parsed here: a malformed one
    /// is a 400 naming it, not a cast error from SQL.
    pub fn from_query(query: &[(String, String)]) -> Result<ListAudit, ApiError> {
        let params = Params::new(query, &PARAMS)?;
        let id = |name: &str| params.get(name).map(|v| Id::parse(name, v)).transpose();
        Ok(ListAudit {
            target_user_id: id("target_user_id")?,
            actor_id: id("actor_id")?,
            page: NewestFirstArgs::parse(params.get("cursor"), params.get("limit"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use genbase_shared::http::parse_query;
    use genbase_shared::rpc::sql_args;
    use serde_json::json;

    const ID: &str = "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11";

    #[test]
    fn the_filters_reach_sql_as_ids() {
        let args =
            ListAudit::from_query(&parse_query(&format!("target_user_id={ID}&limit=3"))).unwrap();
        assert_eq!(
            sql_args(&args).unwrap(),
            json!({"p_target_user_id": ID, "p_actor_id": null, "p_limit": 3,
                   "p_cursor_created_at": null, "p_cursor_id": null})
        );
    }

    #[test]
    fn a_malformed_id_or_an_unknown_parameter_is_refused() {
        for (query, message) in [
            ("actor_id=42", "actor_id must be a UUID"),
            ("target=x", "unknown query parameter target"),
        ] {
            let err = ListAudit::from_query(&parse_query(query)).unwrap_err();
            assert_eq!(err.status, 400, "{query}");
            assert!(err.message.contains(message), "{query}: {}", err.message);
        }
    }
}
