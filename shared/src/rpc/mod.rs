//! The one seam between a function and the database: call `api.<function>(args)`.
//!
//! Functions call [`Rpc::invoke`] with a typed [`RpcArgs`] struct; [`PostgrestTarget`] holds
//! what a PostgREST client needs (URL, headers per caller, how to read the answer).

mod args;
mod provider_webhook;
mod request_log;
mod target;

pub use args::{sql_args, RpcArgs};
pub use provider_webhook::ProviderWebhook;
pub use request_log::{AnsweredRequest, LogRequests, RequestLog};
pub use target::{read_rpc_response, PostgrestTarget, RPC_SCHEMA};

use crate::error::ApiError;
use serde_json::Value;
use std::fmt;
use std::future::Future;

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
    fn invoke<'a, A: RpcArgs>(
        &'a self,
        args: &A,
        auth: &'a RpcAuth,
    ) -> impl Future<Output = Result<Value, ApiError>> + 'a {
        // Only the naming depends on `A`: the call itself is one future for every RPC a
        // function makes, not one per argument type, each with the whole call inlined.
        call_named(self, A::FUNCTION, sql_args(args), auth)
    }
}

async fn call_named<R: Rpc + ?Sized>(
    rpc: &R,
    function: &'static str,
    args: Result<Value, ApiError>,
    auth: &RpcAuth,
) -> Result<Value, ApiError> {
    rpc.call(function, args?, auth).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::block_on;
    use serde::Serialize;
    use serde_json::json;
    use std::cell::RefCell;

    /// Records the one call it gets.
    #[derive(Default)]
    struct Recorder(RefCell<Vec<(String, Value, RpcAuth)>>);

    impl Rpc for Recorder {
        async fn call(
            &self,
            function: &str,
            args: Value,
            auth: &RpcAuth,
        ) -> Result<Value, ApiError> {
            self.0
                .borrow_mut()
                .push((function.into(), args, auth.clone()));
            Ok(json!("answer"))
        }
    }

    #[derive(Serialize)]
    struct Cancel {
        id: u32,
    }
    impl RpcArgs for Cancel {
        const FUNCTION: &'static str = "cancel";
    }

    #[derive(Serialize)]
    struct NotAStruct(u32);
    impl RpcArgs for NotAStruct {
        const FUNCTION: &'static str = "bad";
    }

    #[test]
    fn invoke_calls_the_function_with_named_arguments_and_refuses_bad_ones_without_a_call() {
        let rpc = Recorder::default();
        let answer = block_on(rpc.invoke(&Cancel { id: 7 }, &RpcAuth::ServiceRole)).unwrap();
        assert_eq!(answer, json!("answer"));
        assert_eq!(
            rpc.0.borrow().as_slice(),
            [(
                "cancel".to_string(),
                json!({"p_id": 7}),
                RpcAuth::ServiceRole
            )]
        );
        let err = block_on(rpc.invoke(&NotAStruct(1), &RpcAuth::ServiceRole)).unwrap_err();
        assert_eq!(err.status, 500);
        assert_eq!(rpc.0.borrow().len(), 1);
    }

    #[test]
    fn debug_output_hides_the_user_token() {
        let auth = RpcAuth::User("eyJhbGciOi.secret.sig".into());
        assert_eq!(format!("{auth:?}"), "User(<jwt>)");
    }
}
