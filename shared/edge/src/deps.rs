//! [`Deps`] for Workers: PostgREST over the `postgrest` crate, `worker::Fetch` for outbound
//! HTTP and JWKS, `Date.now()` for the clock. The client and the authenticator (its JWKS and
//! verified-token caches) come from the [`Isolate`], so they outlive the request.

use crate::config::read;
use crate::isolate::Isolate;
use crate::stream::FetchBody;
use genbase_shared::auth::{Authenticator, Claims, HttpGet};
use genbase_shared::deps::{CopyError, Deps, Inbound, Opened, Outbound, SourceHead};
use genbase_shared::error::ApiError;
use genbase_shared::http::ApiRequest;
use genbase_shared::rpc_postgrest::PostgrestRpc;
use std::cell::RefCell;
use std::rc::Rc;
use uuid::Uuid;
use wasm_bindgen::JsValue;
use worker::{web_sys, Env, Fetch, Headers, Request};

pub struct EdgeDeps {
    pub env: Env,
    pub rpc: Rc<PostgrestRpc>,
    authenticator: Rc<Authenticator>,
    /// The request's verified claims: the rate-limit check verifies the token before the
    /// handler does, and the handler and the request log read them from here.
    claims: RefCell<Option<Claims>>,
}

impl EdgeDeps {
    /// Fails with the isolate's configuration error, if it has one.
    pub fn new(env: Env, isolate: &Isolate) -> Result<EdgeDeps, ApiError> {
        Ok(EdgeDeps {
            rpc: isolate.rpc.clone()?,
            authenticator: isolate.authenticator.clone()?,
            env,
            claims: RefCell::new(None),
        })
    }

    /// The verified user, for the request log (none when no token was verified).
    pub fn user_id(&self) -> Option<Uuid> {
        self.claims.borrow().as_ref().and_then(Claims::user_id)
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
    type Reader = FetchBody;

    fn rpc(&self) -> &PostgrestRpc {
        &self.rpc
    }

    fn now_unix(&self) -> i64 {
        (worker::Date::now().as_millis() / 1000) as i64
    }

    fn now_ms(&self) -> i64 {
        worker::Date::now().as_millis() as i64
    }

    fn log_error(&self, message: &str) {
        worker::console_error!("{message}");
    }

    fn var(&self, name: &str) -> Option<String> {
        read(&self.env, name)
    }

    async fn authenticate(&self, req: &ApiRequest) -> Result<Claims, ApiError> {
        if let Some(claims) = self.claims.borrow().clone() {
            return Ok(claims);
        }
        let claims = self
            .authenticator
            .authenticate(req.header("authorization"), self.now_unix(), &FetchGet)
            .await?;
        *self.claims.borrow_mut() = Some(claims.clone());
        Ok(claims)
    }

    async fn send(&self, out: Outbound) -> Result<Inbound, String> {
        let body = out.body.as_deref().map(JsValue::from_str);
        read_whole(fetch(&out, body.as_ref()).await?).await
    }

    async fn open(&self, out: Outbound) -> Result<Opened<FetchBody>, String> {
        let body = out.body.as_deref().map(JsValue::from_str);
        let resp = fetch(&out, body.as_ref()).await?;
        let stream = match resp.body() {
            worker::ResponseBody::Stream(stream) => Some(stream.clone()),
            _ => None,
        };
        Ok(Opened {
            status: resp.status_code(),
            body: FetchBody::new(stream),
        })
    }

    async fn copy<F, Fut>(&self, source: &str, upload: F) -> Result<Inbound, CopyError>
    where
        F: FnOnce(SourceHead) -> Fut,
        Fut: std::future::Future<Output = Result<Outbound, CopyError>>,
    {
        let url = source.parse().map_err(|e| CopyError::Refused {
            message: format!("not a URL: {e}"),
            retryable: false,
        })?;
        let resp = Fetch::Url(url)
            .send()
            .await
            .map_err(|e| CopyError::Fetch(e.to_string()))?;
        let header = |name: &str| resp.headers().get(name).ok().flatten();
        let head = SourceHead {
            status: resp.status_code(),
            content_type: header("content-type"),
            content_length: header("content-length").and_then(|v| v.parse().ok()),
        };
        let stream = match resp.body() {
            worker::ResponseBody::Stream(stream) => Some(stream.clone()),
            _ => None,
        };
        let out = match upload(head).await {
            Ok(out) => out,
            Err(refused) => {
                // An unread body holds its connection, and an invocation has six: a run of
                // refused sources would leave the next fetch waiting for ever.
                if let Some(stream) = stream {
                    let _ = stream.cancel();
                }
                return Err(refused);
            }
        };
        // The source's ReadableStream becomes the upload's body: workerd pipes it through
        // without the Worker holding the file.
        let body = stream.map(JsValue::from);
        let resp = fetch(&out, body.as_ref())
            .await
            .map_err(CopyError::Upload)?;
        read_whole(resp).await.map_err(CopyError::Upload)
    }
}

/// Sends `out` with `body` (its own body is ignored); answers once the head arrives.
async fn fetch(out: &Outbound, body: Option<&JsValue>) -> Result<worker::Response, String> {
    let headers = Headers::new();
    for (k, v) in &out.headers {
        headers.set(k, v).map_err(|e| e.to_string())?;
    }
    // web_sys's RequestInit rather than worker's: converting worker's drags in the
    // serializer of every Cloudflare `cf` option, a tenth of the function's code.
    let init = web_sys::RequestInit::new();
    init.set_method(out.method);
    init.set_headers(&headers.0);
    if let Some(body) = body {
        init.set_body(body);
    }
    let req = web_sys::Request::new_with_str_and_init(&out.url, &init)
        .map_err(|e| format!("invalid request to {}: {e:?}", out.url))?;
    Fetch::Request(Request::from(req))
        .send()
        .await
        .map_err(|e| e.to_string())
}

async fn read_whole(mut resp: worker::Response) -> Result<Inbound, String> {
    Ok(Inbound {
        status: resp.status_code(),
        body: resp.text().await.map_err(|e| e.to_string())?,
    })
}
