use crate::patch::ProfilePatch;
use genbase_shared::deps::{require_user, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::{Rpc, RpcArgs};
use serde::Serialize;

genbase_shared::endpoints! {
    enum Endpoint {
        GET "/v1/me" => Get,
        PATCH "/v1/me" => Update,
        GET "/v1/me/quotas" => Quotas,
    }
}

/// `api.get_my_profile()`.
#[derive(Serialize)]
struct GetMyProfile;

impl RpcArgs for GetMyProfile {
    const FUNCTION: &'static str = "get_my_profile";
}

/// `api.get_my_quotas()`: the caller's plan, its limits and their use of each.
#[derive(Serialize)]
struct GetMyQuotas;

impl RpcArgs for GetMyQuotas {
    const FUNCTION: &'static str = "get_my_quotas";
}

/// `api.update_my_profile(patch)`: the validated fields to change.
#[derive(Serialize)]
struct UpdateMyProfile {
    patch: ProfilePatch,
}

impl RpcArgs for UpdateMyProfile {
    const FUNCTION: &'static str = "update_my_profile";
    const PREFIX: &'static str = "";
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let endpoint = Endpoint::parse(&req.method, &req.path)?;
    let caller = require_user(req, deps).await?;
    let profile = match endpoint {
        Endpoint::Get => deps.rpc().invoke(&GetMyProfile, &caller.auth).await?,
        Endpoint::Quotas => deps.rpc().invoke(&GetMyQuotas, &caller.auth).await?,
        Endpoint::Update => {
            let patch = ProfilePatch::parse(req.json_body()?)?;
            deps.rpc()
                .invoke(&UpdateMyProfile { patch }, &caller.auth)
                .await?
        }
    };
    Ok(ApiResponse::ok(profile))
}

#[cfg(test)]
mod tests {
    use super::handle;
    use genbase_shared::testing::{block_on, ScriptedDeps};
    use serde_json::json;

    #[test]
    fn a_patch_is_validated_then_forwarded_with_the_callers_token() {
        let deps =
            ScriptedDeps::default().answer("update_my_profile", Ok(json!({"display_name": "Ada"})));
        let req = ScriptedDeps::request("PATCH", "/v1/me", r#"{"display_name":" Ada "}"#, &[]);
        let resp = block_on(handle(&req, &deps)).unwrap();
        assert_eq!(resp.status, 200);
        let calls = deps.upstream.calls.borrow();
        assert_eq!(calls[0].1, json!({"patch": {"display_name": "Ada"}}));
        assert_eq!(
            calls[0].2,
            genbase_shared::rpc::RpcAuth::User(ScriptedDeps::user_token())
        );
    }

    #[test]
    fn refused_patches_never_reach_the_database() {
        for body in [r#"{"role":"admin"}"#, r#"{"x":1}"#, "nope"] {
            let deps = ScriptedDeps::default();
            let req = ScriptedDeps::request("PATCH", "/v1/me", body, &[]);
            assert!(block_on(handle(&req, &deps)).is_err());
            assert!(deps.called().is_empty(), "{body}");
        }
    }

    #[test]
    fn no_token_is_a_401_without_any_rpc() {
        let deps = ScriptedDeps::default();
        let mut req = ScriptedDeps::request("GET", "/v1/me", "", &[]);
        req.headers.retain(|(k, _)| k != "authorization");
        assert_eq!(block_on(handle(&req, &deps)).unwrap_err().status, 401);
        assert!(deps.called().is_empty());
    }
}
