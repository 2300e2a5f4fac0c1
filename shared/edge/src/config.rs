//! Worker configuration from vars and secrets, read once per isolate (see [`crate::isolate`]);
//! [`read`] also serves `Deps::var`, the handlers' own settings.

use genbase_shared::http::Cors;
use worker::Env;

pub struct Config {
    pub supabase_url: String,
    pub anon_key: String,
    pub service_role_key: String,
    pub jwt_issuer: Option<String>,
    pub jwt_secret: Option<String>,
    pub jwks: Option<String>,
    pub cors_origins: Vec<String>,
}

/// A var or a secret (secrets win), empty treated as missing.
pub fn read(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|v| !v.trim().is_empty())
}

impl Config {
    pub fn from_env(env: &Env) -> Config {
        Config {
            supabase_url: read(env, "SUPABASE_URL").unwrap_or_default(),
            anon_key: read(env, "SUPABASE_ANON_KEY").unwrap_or_default(),
            service_role_key: read(env, "SUPABASE_SERVICE_ROLE_KEY").unwrap_or_default(),
            jwt_issuer: read(env, "JWT_ISSUER"),
            jwt_secret: read(env, "JWT_SECRET"),
            jwks: read(env, "JWKS"),
            cors_origins: read(env, "CORS_ORIGINS")
                .map(|v| Cors::from_list(&v).allowed_origins)
                .unwrap_or_default(),
        }
    }
}
