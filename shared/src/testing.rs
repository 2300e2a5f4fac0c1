//! A scripted [`Deps`] for handler tests (feature `testing`, dev-dependencies only): RPC and
//! outbound HTTP answers come from a script and every call is recorded, while token checks use
//! the real [`Authenticator`] with an HS256 secret, so a function's own logic runs under plain
//! `cargo test` and nothing of ours is faked.

use crate::auth::{mint_hs256, Authenticator, Claims, JwksCache, KeySet, Policy};
use crate::deps::{BodyReader, CopyError, Deps, EventSink, Inbound, Opened, Outbound, SourceHead};
use crate::error::ApiError;
use crate::http::ApiRequest;
use crate::rpc::{Rpc, RpcAuth};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

/// Shared with this crate's own unit tests (one runner, one generator in the workspace).
pub use crate::test_support::{block_on, Gen};

const SECRET: &[u8] = b"handler-tests-secret-of-32-bytes!";
pub const NOW: i64 = 1_795_305_600;
/// How far [`ScriptedDeps`]'s millisecond clock moves each time it is read.
pub const TICK_MS: i64 = 100;
pub const USER_ID: &str = "a11ce000-0000-4000-8000-000000000001";

/// The upstream side, separate so [`ScriptedDeps::rpc`] can hand out a reference to it.
#[derive(Default)]
pub struct ScriptedRpc {
    answers: RefCell<VecDeque<(String, Result<Value, ApiError>)>>,
    /// Every call made: function, arguments, and who it was made as.
    pub calls: RefCell<Vec<(String, Value, RpcAuth)>>,
}

impl Rpc for ScriptedRpc {
    async fn call(&self, function: &str, args: Value, auth: &RpcAuth) -> Result<Value, ApiError> {
        self.calls
            .borrow_mut()
            .push((function.to_string(), args, auth.clone()));
        let (expected, answer) = self
            .answers
            .borrow_mut()
            .pop_front()
            .unwrap_or_else(|| panic!("unscripted RPC call: {function}"));
        assert_eq!(expected, function, "RPCs called out of order");
        answer
    }
}

pub struct ScriptedDeps {
    pub upstream: ScriptedRpc,
    pub sent: RefCell<Vec<Outbound>>,
    /// What was logged with [`Deps::log_error`].
    pub logged: RefCell<Vec<String>>,
    http_answers: RefCell<VecDeque<Result<Inbound, String>>>,
    streams: RefCell<VecDeque<Result<(u16, ScriptedBody), String>>>,
    clock_ms: Cell<i64>,
    sources: RefCell<VecDeque<Result<SourceHead, String>>>,
    vars: Vec<(String, String)>,
    authenticator: Authenticator,
}

impl Default for ScriptedDeps {
    fn default() -> Self {
        let keys = JwksCache::new(KeySet::empty().with_hs256_secret(SECRET), None);
        let policy = Policy {
            audience: Some("authenticated".into()),
            ..Policy::default()
        };
        ScriptedDeps {
            upstream: ScriptedRpc::default(),
            sent: RefCell::new(Vec::new()),
            logged: RefCell::new(Vec::new()),
            http_answers: RefCell::new(VecDeque::new()),
            streams: RefCell::new(VecDeque::new()),
            clock_ms: Cell::new(NOW * 1000),
            sources: RefCell::new(VecDeque::new()),
            vars: Vec::new(),
            authenticator: Authenticator::new(keys, policy),
        }
    }
}

impl ScriptedDeps {
    /// The next RPC must be `function`, and gets `answer`.
    pub fn answer(self, function: &str, answer: Result<Value, ApiError>) -> Self {
        self.upstream
            .answers
            .borrow_mut()
            .push_back((function.into(), answer));
        self
    }

    /// The next outbound HTTP request gets `answer`.
    pub fn http(self, answer: Result<Inbound, String>) -> Self {
        self.http_answers.borrow_mut().push_back(answer);
        self
    }

    /// The next [`open`](Deps::open)ed request gets `status` and a body arriving as `body`'s
    /// items, in order (an `Err` item is a broken connection); or cannot connect (`Err`).
    pub fn stream(self, answer: Result<(u16, ScriptedBody), String>) -> Self {
        self.streams.borrow_mut().push_back(answer);
        self
    }

    /// The next copy's source answers `head` (or cannot be fetched); its upload then takes
    /// the next [`http`](Self::http) answer.
    pub fn source(self, head: Result<SourceHead, String>) -> Self {
        self.sources.borrow_mut().push_back(head);
        self
    }

    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.into(), value.into()));
        self
    }

    /// Names of the RPCs called, in order.
    pub fn called(&self) -> Vec<String> {
        self.upstream
            .calls
            .borrow()
            .iter()
            .map(|(f, ..)| f.clone())
            .collect()
    }

    /// A valid user token for [`USER_ID`].
    pub fn user_token() -> String {
        let claims = json!({"sub": USER_ID, "role": "authenticated", "aud": "authenticated",
                            "exp": NOW + 3600, "iat": NOW, "email": "alice@example.com"});
        mint_hs256(&claims, SECRET, None)
    }

    /// A request as the caller with `body`.
    pub fn request(method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> ApiRequest {
        let mut all = vec![(
            "authorization".to_string(),
            format!("Bearer {}", Self::user_token()),
        )];
        all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        ApiRequest::new(method, path, Vec::new(), all, body.as_bytes().to_vec())
    }
}

impl Deps for ScriptedDeps {
    type Rpc = ScriptedRpc;
    type Reader = ScriptedBody;

    fn rpc(&self) -> &ScriptedRpc {
        &self.upstream
    }

    fn now_unix(&self) -> i64 {
        NOW
    }

    /// Starts at [`NOW`] and moves [`TICK_MS`] each time it is read, so code that paces
    /// itself by the clock sees time pass.
    fn now_ms(&self) -> i64 {
        self.clock_ms.replace(self.clock_ms.get() + TICK_MS)
    }

    fn log_error(&self, message: &str) {
        self.logged.borrow_mut().push(message.to_string());
    }

    fn var(&self, name: &str) -> Option<String> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    async fn authenticate(&self, req: &ApiRequest) -> Result<Claims, ApiError> {
        self.authenticator
            .authenticate(req.header("authorization"), NOW, &NoHttp)
            .await
    }

    async fn send(&self, req: Outbound) -> Result<Inbound, String> {
        self.sent.borrow_mut().push(req);
        self.http_answers
            .borrow_mut()
            .pop_front()
            .unwrap_or_else(|| panic!("unscripted outbound request"))
    }

    async fn open(&self, req: Outbound) -> Result<Opened<ScriptedBody>, String> {
        self.sent.borrow_mut().push(req);
        let (status, body) = self
            .streams
            .borrow_mut()
            .pop_front()
            .unwrap_or_else(|| panic!("unscripted streamed request"))?;
        Ok(Opened { status, body })
    }

    async fn copy<F, Fut>(&self, source: &str, upload: F) -> Result<Inbound, CopyError>
    where
        F: FnOnce(SourceHead) -> Fut,
        Fut: std::future::Future<Output = Result<Outbound, CopyError>>,
    {
        self.sent.borrow_mut().push(Outbound {
            method: "GET",
            url: source.to_string(),
            headers: Vec::new(),
            body: None,
        });
        let head = self
            .sources
            .borrow_mut()
            .pop_front()
            .unwrap_or_else(|| panic!("unscripted copy"))
            .map_err(CopyError::Fetch)?;
        let req = upload(head).await?;
        self.send(req).await.map_err(CopyError::Upload)
    }
}

struct NoHttp;

impl crate::auth::HttpGet for NoHttp {
    async fn get_text(&self, url: &str) -> Result<String, String> {
        Err(format!("no network in handler tests ({url})"))
    }
}

/// A scripted streamed body. `cancelled` tells whether the reader hung up early; it is
/// shared, so a test keeps a handle after the body is handed over.
pub struct ScriptedBody {
    chunks: VecDeque<Result<Vec<u8>, String>>,
    pub cancelled: std::rc::Rc<Cell<bool>>,
}

impl ScriptedBody {
    pub fn new<S: AsRef<str>>(chunks: impl IntoIterator<Item = Result<S, String>>) -> ScriptedBody {
        ScriptedBody {
            chunks: chunks
                .into_iter()
                .map(|c| c.map(|s| s.as_ref().as_bytes().to_vec()))
                .collect(),
            cancelled: Default::default(),
        }
    }
}

impl BodyReader for ScriptedBody {
    async fn next_chunk(&mut self) -> Option<Result<Vec<u8>, String>> {
        self.chunks.pop_front()
    }

    async fn cancel(self) {
        self.cancelled.set(true);
    }
}

/// A client reading a streamed response: keeps what was written, and goes away after
/// `leaves_after` writes when that is set.
#[derive(Default)]
pub struct RecordingSink {
    pub written: Vec<String>,
    pub leaves_after: Option<usize>,
    pub closed: bool,
}

impl RecordingSink {
    /// The `data` of every Server-Sent Event written, in order, however they were split
    /// into writes.
    pub fn event_data(&self) -> Vec<String> {
        self.written
            .concat()
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| e.strip_prefix("data: ").unwrap_or(e).to_string())
            .collect()
    }
}

impl EventSink for &mut RecordingSink {
    async fn write(&mut self, text: &str) -> bool {
        if self.leaves_after.is_some_and(|n| self.written.len() >= n) {
            return false;
        }
        self.written.push(text.to_string());
        true
    }

    async fn close(self) {
        self.closed = true;
    }
}
