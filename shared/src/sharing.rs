//! The members and invitations of a shareable resource (a workspace, project or flow): the
//! same eight endpoints under each kind's own path, `<base>/:id/...`, each one RPC as the
//! caller to the generic sharing functions (`api.list_members`, `api.create_invitation`, ...),
//! which find the resource's kind themselves and decide who may do what. A Worker serving a
//! shareable kind adds them with one line before its own routes:
//!
//! ```ignore
//! if let Some(answer) = sharing::serve("/v1/workspaces", req, deps).await {
//!     return answer;
//! }
//! ```
//!
//! Accepting an invitation names no resource (the token does): [`accept`] serves it, once,
//! at `POST /v1/invitations/accept`.

use crate::deps::{require_user, Caller, Deps};
use crate::error::ApiError;
use crate::http::{match_endpoint, ApiRequest, ApiResponse};
use crate::rpc::{Rpc, RpcArgs};
use crate::validate::Id;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

crate::endpoints! {
    /// The sharing endpoints, their paths relative to the resource kind's base path.
    pub enum Sharing {
        GET "/:id/members" => ListMembers { id: Id },
        PATCH "/:id/members/:user_id" => UpdateMember { id: Id, user_id: Id },
        DELETE "/:id/members/:user_id" => RemoveMember { id: Id, user_id: Id },
        POST "/:id/leave" => Leave { id: Id },
        POST "/:id/transfer" => Transfer { id: Id },
        POST "/:id/invitations" => CreateInvitation { id: Id },
        GET "/:id/invitations" => ListInvitations { id: Id },
        DELETE "/:id/invitations/:invitation_id" => RevokeInvitation { id: Id, invitation_id: Id },
    }
}

impl Sharing {
    /// The sharing endpoint `req` names under `base` (`"/v1/workspaces"`). `None` when its
    /// path is none of them, so the Worker's own routes (and their 404 and 405) take it; a
    /// sharing path under another method is the 405 naming the methods it has.
    pub fn under(base: &str, req: &ApiRequest) -> Result<Option<Sharing>, ApiError> {
        let Some(rest) = req.path.strip_prefix(base) else {
            return Ok(None);
        };
        let known = Sharing::ROUTES
            .iter()
            .any(|(method, pattern)| match_endpoint(method, pattern, method, rest).is_some());
        if !known {
            return Ok(None);
        }
        Sharing::parse(&req.method, rest).map(Some)
    }
}

/// Answers `req` when it is a sharing endpoint under `base`; `None` leaves it to the Worker.
pub async fn serve(
    base: &str,
    req: &ApiRequest,
    deps: &impl Deps,
) -> Option<Result<ApiResponse, ApiError>> {
    match Sharing::under(base, req) {
        Ok(None) => None,
        Ok(Some(endpoint)) => Some(answer(endpoint, req, deps).await),
        Err(e) => Some(Err(e)),
    }
}

async fn answer(
    endpoint: Sharing,
    req: &ApiRequest,
    deps: &impl Deps,
) -> Result<ApiResponse, ApiError> {
    let caller = require_user(req, deps).await?;
    match endpoint {
        Sharing::ListMembers { id } => Ok(items(
            call(deps, &caller, &ListMembers { resource_id: id }).await?,
        )),
        Sharing::UpdateMember { id, user_id } => {
            let RoleBody { role } = req.json_body()?;
            let args = UpdateMember {
                resource_id: id,
                user_id,
                role,
            };
            Ok(ApiResponse::ok(call(deps, &caller, &args).await?))
        }
        Sharing::RemoveMember { id, user_id } => {
            let args = RemoveMember {
                resource_id: id,
                user_id,
            };
            call(deps, &caller, &args).await?;
            Ok(ApiResponse::no_content())
        }
        Sharing::Leave { id } => {
            call(deps, &caller, &Leave { resource_id: id }).await?;
            Ok(ApiResponse::no_content())
        }
        Sharing::Transfer { id } => {
            let UserBody { user_id } = req.json_body()?;
            let args = TransferOwnership {
                resource_id: id,
                user_id: Id::parse("user_id", &user_id)?,
            };
            Ok(items(call(deps, &caller, &args).await?))
        }
        Sharing::CreateInvitation { id } => {
            // Every field has SQL's default (a week-long, single-use member link), so an
            // empty body is a complete request.
            let invitation = if req.body.iter().all(u8::is_ascii_whitespace) {
                InvitationBody::default()
            } else {
                // Through a map: serde would take `[]` for a struct of defaults.
                let fields: Map<String, Value> = req.json_body()?;
                serde_json::from_value(Value::Object(fields))
                    .map_err(|e| ApiError::validation(e.to_string()))?
            };
            let args = CreateInvitation {
                resource_id: id,
                invitation,
            };
            Ok(ApiResponse::created(call(deps, &caller, &args).await?))
        }
        Sharing::ListInvitations { id } => Ok(items(
            call(deps, &caller, &ListInvitations { resource_id: id }).await?,
        )),
        Sharing::RevokeInvitation { id, invitation_id } => {
            let args = RevokeInvitation {
                resource_id: id,
                id: invitation_id,
            };
            Ok(ApiResponse::ok(call(deps, &caller, &args).await?))
        }
    }
}

/// `POST /v1/invitations/accept {token}`: the caller joins what the token invites to, with
/// its role. SQL refuses an unknown token (404), a revoked, expired or used-up one (410)
/// and one for another email (403).
pub async fn accept(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let TokenBody { token } = req.json_body()?;
    let answer = call(deps, caller, &AcceptInvitation { token }).await?;
    Ok(ApiResponse::ok(answer))
}

async fn call<A: RpcArgs>(deps: &impl Deps, caller: &Caller, args: &A) -> Result<Value, ApiError> {
    deps.rpc().invoke(args, &caller.auth).await
}

/// A whole list (members, invitations) in the shape of every list's page.
fn items(list: Value) -> ApiResponse {
    ApiResponse::ok(json!({ "items": list }))
}

/// `PATCH .../members/:user_id`. SQL checks the role (and who may give it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: String,
}

/// `POST .../transfer`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    user_id: String,
}

/// `POST .../invitations`: what SQL checks, sent only when given so SQL's defaults apply.
#[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct InvitationBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_uses: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_in_hours: Option<i32>,
}

/// `POST /v1/invitations/accept`. SQL checks the token's form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

/// `api.list_members`: owner first, then by role.
#[derive(Serialize)]
struct ListMembers {
    resource_id: Id,
}

impl RpcArgs for ListMembers {
    const FUNCTION: &'static str = "list_members";
}

/// `api.update_member`.
#[derive(Serialize)]
struct UpdateMember {
    resource_id: Id,
    user_id: Id,
    role: String,
}

impl RpcArgs for UpdateMember {
    const FUNCTION: &'static str = "update_member";
}

/// `api.remove_member` (removing oneself is leaving).
#[derive(Serialize)]
struct RemoveMember {
    resource_id: Id,
    user_id: Id,
}

impl RpcArgs for RemoveMember {
    const FUNCTION: &'static str = "remove_member";
}

/// `api.leave`.
#[derive(Serialize)]
struct Leave {
    resource_id: Id,
}

impl RpcArgs for Leave {
    const FUNCTION: &'static str = "leave";
}

/// `api.transfer_ownership`: answers the members as they are after.
#[derive(Serialize)]
struct TransferOwnership {
    resource_id: Id,
    user_id: Id,
}

impl RpcArgs for TransferOwnership {
    const FUNCTION: &'static str = "transfer_ownership";
}

/// `api.create_invitation`: answers the invitation with its token, shown this once.
#[derive(Serialize)]
struct CreateInvitation {
    resource_id: Id,
    #[serde(flatten)]
    invitation: InvitationBody,
}

impl RpcArgs for CreateInvitation {
    const FUNCTION: &'static str = "create_invitation";
}

/// `api.list_invitations`.
#[derive(Serialize)]
struct ListInvitations {
    resource_id: Id,
}

impl RpcArgs for ListInvitations {
    const FUNCTION: &'static str = "list_invitations";
}

/// `api.revoke_invitation`: only an invitation to the resource the path names.
#[derive(Serialize)]
struct RevokeInvitation {
    resource_id: Id,
    id: Id,
}

impl RpcArgs for RevokeInvitation {
    const FUNCTION: &'static str = "revoke_invitation";
}

/// `api.accept_invitation`.
#[derive(Serialize)]
struct AcceptInvitation {
    token: String,
}

impl RpcArgs for AcceptInvitation {
    const FUNCTION: &'static str = "accept_invitation";
}

#[cfg(test)]
#[path = "sharing_tests.rs"]
mod tests;
