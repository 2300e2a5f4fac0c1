//! The one seam between a function and the database: call `api.<function>(args)`.
//!
//! Functions call [`Rpc::invoke`] with a typed [`RpcArgs`] struct; [`PostgrestTarget`] holds
//! what a PostgREST client needs (URL, headers per caller, how to read the answer).

mod args;
mod provider_webhook;
mod target;

pub use args::{sql_args, RpcArgs};
pub use provider_webhook::ProviderWebhook;
pub use target::{read_rpc_response, PostgrestTarget, RPC_SCHEMA};

use crate::error::ApiError;
use serde_json::Value;
use std::fmt;

/// Who the database should see as the caller.
#[derive(Clone, PartialEq, Eq)]
pub enum RpcAuth {
    /// The user's own (already verified) JWT, forwarded so Postgres applies RLS as them.
    User(String),
    /// The service-role key; only for RPCs no user drives (webhooks, GPU workers, cron).
    ServiceRole,
}

impl fmt::Debug for RpcAuth {
    /// Tokens never reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcAuth::User(_) => f.write_str("User(<jwt>)"),
            RpcAuth::ServiceRole => f.write_str("ServiceRole"),
        }
    }
}

#[allow(async_fn_in_trait)]
pub trait Rpc {
    /// `args` is a JSON object of named arguments (`{"p_id": "..."}`). A 204 yields `Null`.
    async fn call(&self, function: &str, args: Value, auth: &RpcAuth) -> Result<Value, ApiError>;

    /// Calls `A::FUNCTION` with `args` under SQL's parameter names.
    async fn invoke<A: RpcArgs>(&self, args: &A, auth: &RpcAuth) -> Result<Value, ApiError> {
        self.call(A::FUNCTION, sql_args(args)?, auth).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_user_token() {
        let auth = RpcAuth::User("eyJhbGciOi.secret.sig".into());
        assert_eq!(format!("{auth:?}"), "User(<jwt>)");
    }
}
