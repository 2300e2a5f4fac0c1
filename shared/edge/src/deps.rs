//! [`Deps`] for Workers: PostgREST over the `postgrest` crate, `worker::Fetch` for outbound
//! HTTP and JWKS, `Date.now()` for the clock. The client and the authenticator (its JWKS and
//! verified-token caches) come from the [`Isolate`], so they outlive the request.

use crate::config::read;
use crate::isolate::Isolate;
use genbase_shared::auth::{Authenticator, Claims, HttpGet};
use genbase_shared::deps::{Deps, Inbound, Outbound};
use genbase_shared::error::ApiError;
use genbase_shared::http::ApiRequest;
use genbase_shared::rpc_postgrest::PostgrestRpc;
use std::cell::Cell;
use std::rc::Rc;
use uuid::Uuid;
use wasm_bindgen::JsValue;
use worker::{web_sys, Env, Fetch, Headers, Request};

pub struct EdgeDeps {
    pub env: Env,
    pub rpc: Rc<PostgrestRpc>,
    authenticator: Rc<Authenticator>,
    /// The verified user, remembered for the request log.
    pub user_id: Cell<Option<Uuid>>,
}

impl EdgeDeps {
    /// Fails with the isolate's configuration error, if it has one.
    pub fn new(env: Env, isolate: &Isolate) -> Result<EdgeDeps, ApiError> {
        Ok(EdgeDeps {
            rpc: isolate.rpc.clone()?,
            authenticator: isolate.authenticator.clone()?,
            env,
            user_id: Cell::new(None),
        })
    }
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
        // web_sys's RequestInit rather than worker's: converting worker's drags in the
        // serializer of every Cloudflare `cf` option, a tenth of the function's code.
        let init = web_sys::RequestInit::new();
        init.set_method(out.method);
        init.set_headers(&headers.0);
        if let Some(body) = &out.body {
            init.set_body(&JsValue::from_str(body));
        }
        let req = web_sys::Request::new_with_str_and_init(&out.url, &init)
            .map_err(|e| format!("invalid request to {}: {e:?}", out.url))?;
        let mut resp = Fetch::Request(Request::from(req))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        Ok(Inbound {
            status: resp.status_code(),
            body: resp.text().await.map_err(|e| e.to_string())?,
        })
    }
}
