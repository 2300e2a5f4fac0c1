//! [`Rpc`] over the `postgrest` crate (reqwest; `fetch` on wasm32). Behind the `postgrest`
//! feature: natively it drags in hyper and rustls, which only this module needs.

use crate::error::ApiError;
use crate::rpc::{read_rpc_response, PostgrestTarget, Rpc, RpcAuth, RPC_SCHEMA};
use postgrest::Postgrest;
use serde_json::Value;
use std::fmt;

pub struct PostgrestRpc {
    target: PostgrestTarget,
    as_user: Postgrest,
    as_service: Postgrest,
}

impl PostgrestRpc {
    /// `rest_url` is `<SUPABASE_URL>/rest/v1`. Fails (500, key not quoted) if a key cannot
    /// be sent as a header, where the `postgrest` crate would panic instead.
    pub fn new(
        rest_url: &str,
        anon_key: &str,
        service_role_key: &str,
    ) -> Result<PostgrestRpc, ApiError> {
        Self::from_target(PostgrestTarget::new(rest_url, anon_key, service_role_key))
    }

    pub fn from_target(target: PostgrestTarget) -> Result<PostgrestRpc, ApiError> {
        target.headers(&RpcAuth::ServiceRole)?;
        target.headers(&RpcAuth::User("x".into()))?;
        let client = |key: &str| {
            Postgrest::new(target.rest_url.clone())
                .schema(RPC_SCHEMA)
                .insert_header("apikey", key)
        };
        Ok(PostgrestRpc {
            as_user: client(&target.anon_key),
            as_service: client(&target.service_role_key),
            target,
        })
    }
}

impl fmt::Debug for PostgrestRpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgrestRpc")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Rpc for PostgrestRpc {
    async fn call(&self, function: &str, args: Value, auth: &RpcAuth) -> Result<Value, ApiError> {
        self.target.rpc_url(function)?;
        // Also proves every header value is sendable, so `.auth()` below cannot panic.
        let headers = self.target.headers(auth)?;
        let body = match args {
            Value::Null => "{}".to_owned(),
            Value::Object(_) => args.to_string(),
            _ => {
                return Err(ApiError::internal(format!(
                    "rpc {function}: args must be an object"
                )))
            }
        };
        let client = match auth {
            RpcAuth::User(_) => &self.as_user,
            RpcAuth::ServiceRole => &self.as_service,
        };
        let mut request = client.rpc(function, body);
        if let Some((_, value)) = headers.iter().find(|(n, _)| n == "authorization") {
            request = request.auth(value.trim_start_matches("Bearer "));
        }
        let response = request.execute().await.map_err(|err| {
            ApiError::unavailable(self.target.redact(&format!("rpc {function}: {err}")))
        })?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|err| {
            ApiError::bad_gateway(self.target.redact(&format!("rpc {function} body: {err}")))
        })?;
        read_rpc_response(status, &text).map_err(|mut err| {
            err.cause = err
                .cause
                .map(|c| self.target.redact(&format!("rpc {function}: {c}")));
            err
        })
    }
}

#[cfg(test)]
#[path = "rpc_postgrest_tests.rs"]
mod tests;
