//! What a handler needs from its runtime, as one trait: the RPC upstream, the clock, config
//! vars, token verification and outbound HTTP. Workers implement it in `genbase-edge`; native
//! tests implement it with a recording upstream, so handler logic runs under `cargo test`.

use crate::auth::Claims;
use crate::error::ApiError;
use crate::http::ApiRequest;
use crate::rpc::{Rpc, RpcAuth};
use uuid::Uuid;

/// An outbound HTTP request (to an AI provider).
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// Its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    pub status: u16,
    pub body: String,
}

/// What a copy's source answered, before any of its body is read.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceHead {
    pub status: u16,
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
}

/// Why a copy did not happen.
#[derive(Debug, Clone, PartialEq)]
pub enum CopyError {
    /// The source could not be fetched (network, timeout): worth another try.
    Fetch(String),
    /// The caller refused what the source answered (status, type, size).
    Refused { message: String, retryable: bool },
    /// The upload could not be sent: worth another try.
    Upload(String),
}

/// A response body read as it arrives (a provider's token stream).
#[allow(async_fn_in_trait)]
pub trait BodyReader {
    /// The next bytes; `None` at the end; `Err` when the connection broke.
    async fn next_chunk(&mut self) -> Option<Result<Vec<u8>, String>>;
    /// Stops reading and closes the connection, so the sender stops producing.
    async fn cancel(self);
}

/// An answer whose body is still arriving.
pub struct Opened<R> {
    pub status: u16,
    pub body: R,
}

/// Where a streamed response's bytes go while the client reads them.
#[allow(async_fn_in_trait)]
pub trait EventSink {
    /// Writes `text`, waiting while the client reads slower than we write. `false` once the
    /// client has gone; later writes are dropped.
    async fn write(&mut self, text: &str) -> bool;
    /// Ends the response.
    async fn close(self);
}

#[allow(async_fn_in_trait)]
pub trait Deps {
    type Rpc: Rpc;
    type Reader: BodyReader;
    fn rpc(&self) -> &Self::Rpc;
    fn now_unix(&self) -> i64;
    /// Milliseconds since the epoch. On Workers the clock only moves across I/O, which is
    /// all a stream's pacing needs.
    fn now_ms(&self) -> i64;
    /// Logs what went wrong in work no response reports (a stream already under way).
    fn log_error(&self, message: &str);
    /// A configuration var or secret; `None` when unset or empty.
    fn var(&self, name: &str) -> Option<String>;
    /// Verifies the request's bearer token (signature, exp/nbf, aud, iss, role).
    async fn authenticate(&self, req: &ApiRequest) -> Result<Claims, ApiError>;
    async fn send(&self, req: Outbound) -> Result<Inbound, String>;
    /// Sends `req` and answers once the head arrives; the body is read as it comes.
    async fn open(&self, req: Outbound) -> Result<Opened<Self::Reader>, String>;
    /// Copies the body of `GET source` into the request `upload` makes from the source's
    /// head (its `body` is ignored: the source's bytes are streamed into it, never held
    /// whole). `upload` may refuse the source, and may ask others (where to put it) while
    /// the source waits. Returns the upload's answer.
    async fn copy<F, Fut>(&self, source: &str, upload: F) -> Result<Inbound, CopyError>
    where
        F: FnOnce(SourceHead) -> Fut,
        Fut: std::future::Future<Output = Result<Outbound, CopyError>>;
}

/// A verified signed-in user, and the auth to forward so Postgres (RLS) decides.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: Uuid,
    pub claims: Claims,
    pub auth: RpcAuth,
}

/// For endpoints that act for a user: 401 unless the request carries a valid user token.
pub async fn require_user(req: &ApiRequest, deps: &impl Deps) -> Result<Caller, ApiError> {
    let claims = deps.authenticate(req).await?;
    let user_id = claims.require_user_id()?;
    if claims.role.as_deref() != Some("authenticated") {
        return Err(ApiError::unauthorized(
            "this endpoint requires a signed-in user",
        ));
    }
    let token = req
        .bearer_token()
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
    Ok(Caller {
        user_id,
        claims,
        auth: RpcAuth::User(token.to_string()),
    })
}
