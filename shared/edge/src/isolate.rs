//! What a function builds once per isolate rather than per request: its configuration, the
//! PostgREST client, CORS and the authenticator (with its JWKS and verified-token caches).
//! Vars and secrets cannot change under a running isolate (a new value is a new deployment),
//! so nothing here goes stale.

use crate::config::Config;
use crate::webcrypto::WebCryptoSignatures;
use genbase_shared::auth::{Authenticator, JwksCache, Policy};
use genbase_shared::error::ApiError;
use genbase_shared::http::Cors;
use genbase_shared::rpc_postgrest::PostgrestRpc;
use std::cell::OnceCell;
use std::rc::Rc;
use worker::Env;

pub struct Isolate {
    pub cors: Cors,
    /// A configuration error is as permanent as the configuration: every request answers it.
    pub rpc: Result<Rc<PostgrestRpc>, ApiError>,
    pub authenticator: Result<Rc<Authenticator>, ApiError>,
}

thread_local! {
    static ISOLATE: OnceCell<Rc<Isolate>> = const { OnceCell::new() };
}

/// This isolate's [`Isolate`], built from `env` by the first request.
pub fn isolate(env: &Env) -> Rc<Isolate> {
    ISOLATE.with(|cell| {
        cell.get_or_init(|| Rc::new(Isolate::from_config(&Config::from_env(env))))
            .clone()
    })
}

impl Isolate {
    fn from_config(config: &Config) -> Isolate {
        Isolate {
            cors: Cors::new(config.cors_origins.clone()),
            rpc: PostgrestRpc::new(
                &format!("{}/rest/v1", config.supabase_url.trim_end_matches('/')),
                &config.anon_key,
                &config.service_role_key,
            )
            .map(Rc::new),
            authenticator: authenticator(config).map(Rc::new),
        }
    }
}

fn authenticator(config: &Config) -> Result<Authenticator, ApiError> {
    let keys = JwksCache::from_config(
        config.jwks.as_deref(),
        config.jwt_secret.as_deref().map(str::as_bytes),
        Some(JwksCache::supabase_jwks_url(&config.supabase_url)),
    )
    .map_err(|e| ApiError::internal(format!("bad JWKS configuration: {e}")))?;
    let policy = Policy {
        audience: Some("authenticated".into()),
        issuer: config.jwt_issuer.clone(),
        leeway_secs: 30,
        require_role: true,
    };
    Ok(Authenticator::with_signatures(
        keys,
        policy,
        Box::new(WebCryptoSignatures),
    ))
}
