//! [`Deps`] for Workers: PostgREST over the `postgrest` crate, `worker::Fetch` for outbound
//! HTTP and JWKS, `Date.now()` for the clock. The authenticator (and its JWKS cache) lives
//! as long as the isolate, so keys are fetched once, not per request.

use crate::config::{read, Config};
use genbase_shared::auth::{Authenticator, Claims, HttpGet, JwksCache, Policy};
use genbase_shared::deps::{Deps, Inbound, Outbound};
use genbase_shared::error::ApiError;
use genbase_shared::http::ApiRequest;
use genbase_shared::rpc_postgrest::PostgrestRpc;
use std::cell::Cell;
use std::rc::Rc;
use uuid::Uuid;
use worker::{Env, Fetch, Headers, Method, Request, RequestInit};

thread_local! {
    static AUTHENTICATOR: std::cell::OnceCell<Rc<Authenticator>> = const { std::cell::OnceCell::new() };
}

pub struct EdgeDeps {
    pub env: Env,
    /// Shared with the request logger, so one client serves the whole request.
    pub rpc: Rc<PostgrestRpc>,
    authenticator: Rc<Authenticator>,
    /// The verified user, remembered for the request log.
    pub user_id: Cell<Option<Uuid>>,
}

impl EdgeDeps {
    pub fn new(env: Env, config: &Config, rpc: Rc<PostgrestRpc>) -> Result<EdgeDeps, ApiError> {
        let authenticator = AUTHENTICATOR.with(|cell| {
            if let Some(a) = cell.get() {
                return Ok(a.clone());
            }
            let cache = JwksCache::from_config(
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
            let a = Rc::new(Authenticator::new(cache, policy));
            let _ = cell.set(a.clone());
            Ok::<_, ApiError>(a)
        })?;
        Ok(EdgeDeps {
            rpc,
            env,
            authenticator,
            user_id: Cell::new(None),
        })
    }
}

pub fn rpc_for(config: &Config) -> Result<PostgrestRpc, ApiError> {
    PostgrestRpc::new(
        &format!("{}/rest/v1", config.supabase_url.trim_end_matches('/')),
        &config.anon_key,
        &config.service_role_key,
    )
}

struct FetchGet;

impl HttpGet for FetchGet {
    async fn get_text(&self, url: &str) -> Result<String, String> {
        let mut resp = Fetch::Url(url.parse().map_err(|e| format!("{e}"))?)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !(200..300).contains(&resp.status_code()) {
            return Err(format!("GET {url}: {}", resp.status_code()));
        }
        resp.text().await.map_err(|e| e.to_string())
    }
}

impl Deps for EdgeDeps {
    type Rpc = PostgrestRpc;

    fn rpc(&self) -> &PostgrestRpc {
        &self.rpc
    }

    fn now_unix(&self) -> i64 {
        (worker::Date::now().as_millis() / 1000) as i64
    }

    fn var(&self, name: &str) -> Option<String> {
        read(&self.env, name)
    }

    async fn authenticate(&self, req: &ApiRequest) -> Result<Claims, ApiError> {
        let claims = self
            .authenticator
            .authenticate(req.header("authorization"), self.now_unix(), &FetchGet)
            .await?;
        self.user_id.set(claims.user_id());
        Ok(claims)
    }

    async fn send(&self, out: Outbound) -> Result<Inbound, String> {
        let headers = Headers::new();
        for (k, v) in &out.headers {
            headers.set(k, v).map_err(|e| e.to_string())?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::from(out.method.to_string()))
            .with_headers(headers);
        if let Some(body) = &out.body {
            init.with_body(Some(body.as_str().into()));
        }
        let req = Request::new_with_init(&out.url, &init).map_err(|e| e.to_string())?;
        let mut resp = Fetch::Request(req)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        Ok(Inbound {
            status: resp.status_code(),
            body: resp.text().await.map_err(|e| e.to_string())?,
        })
    }
}
