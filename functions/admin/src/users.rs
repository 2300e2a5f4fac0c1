//! Users for staff: `GET /v1/admin/users` (moderators and up: search, filters, newest first)
//! and `PATCH /v1/admin/users/:id` (admins: role, is_active, plan, with a reason). SQL owns
//! every rule (the role matrix, the reason, known roles and plans) and audits each change;
//! here the query and the body only take their types.

use genbase_shared::error::ApiError;
use genbase_shared::http::Params;
use genbase_shared::keyset::NewestFirstArgs;
use genbase_shared::rpc::RpcArgs;
use genbase_shared::validate::Id;
use serde::{Deserialize, Serialize};

const LIST_PARAMS: [&str; 6] = ["q", "role", "is_active", "plan", "cursor", "limit"];

/// `api.admin_list_users`.
#[derive(Debug, PartialEq, Serialize)]
pub struct ListUsers {
    q: Option<String>,
    role: Option<String>,
    is_active: Option<bool>,
    plan: Option<String>,
    #[serde(flatten)]
    page: NewestFirstArgs,
}

impl RpcArgs for ListUsers {
    const FUNCTION: &'static str = "admin_list_users";
}

impl ListUsers {
    /// `?q=&role=&is_active=&plan=&cursor=&limit=`.
    pub fn from_query(query: &[(String, String)]) -> Result<ListUsers, ApiError> {
        let params = Params::new(query, &LIST_PARAMS)?;
        let text = |name: &str| params.get(name).map(str::to_owned);
        Ok(ListUsers {
            q: text("q"),
            role: text("role"),
            is_active: params.flag("is_active")?,
            plan: text("plan"),
            page: NewestFirstArgs::parse(params.get("cursor"), params.get("limit"))?,
        })
    }
}

/// `PATCH /v1/admin/users/:id` body: what to change (absent or null: unchanged) and why.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    role: Option<String>,
    is_active: Option<bool>,
    plan: Option<String>,
    reason: Option<String>,
}

/// `api.admin_update_user`.
#[derive(Debug, PartialEq, Serialize)]
pub struct UpdateUser {
    user_id: Id,
    reason: Option<String>,
    role: Option<String>,
    is_active: Option<bool>,
    plan: Option<String>,
}

impl RpcArgs for UpdateUser {
    const FUNCTION: &'static str = "admin_update_user";
}

impl UpdateUser {
    pub fn new(user_id: Id, patch: UserPatch) -> UpdateUser {
        UpdateUser {
            user_id,
            reason: patch.reason,
            role: patch.role,
            is_active: patch.is_active,
            plan: patch.plan,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use genbase_shared::http::parse_query;
    use genbase_shared::rpc::sql_args;
    use serde_json::json;

    #[test]
    fn every_filter_reaches_sql_under_its_parameter_name() {
        let args = ListUsers::from_query(&parse_query(
            "q=ada%40example&role=moderator&is_active=false&plan=pro&limit=5",
        ))
        .unwrap();
        assert_eq!(
            sql_args(&args).unwrap(),
            json!({"p_q": "ada@example", "p_role": "moderator", "p_is_active": false,
                   "p_plan": "pro", "p_limit": 5, "p_cursor_created_at": null, "p_cursor_id": null})
        );
    }

    #[test]
    fn unknown_repeated_and_malformed_parameters_are_refused() {
        for (query, message) in [
            ("active=true", "unknown query parameter active"),
            ("role=a&role=b", "role is given more than once"),
            ("is_active=yes", "is_active must be true or false"),
            ("limit=0", "limit must be"),
            ("cursor=garbage", "cursor is not a cursor this API issued"),
        ] {
            let err = ListUsers::from_query(&parse_query(query)).unwrap_err();
            assert_eq!(err.status, 400, "{query}");
            assert!(err.message.contains(message), "{query}: {}", err.message);
        }
    }
}
