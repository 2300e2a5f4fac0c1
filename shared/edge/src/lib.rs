//! The Workers runtime side of every function: turns a `worker::Request` into the runtime-free
//! [`ApiRequest`](genbase_shared::http::ApiRequest), gives the handler its dependencies
//! ([`Deps`](genbase_shared::deps::Deps)), and turns the result into a response with the
//! request id, CORS headers and the one JSON error body. Configuration, the PostgREST client
//! and the authenticator are built once per isolate; signatures are checked by WebCrypto. The
//! request is logged after the response is sent, in batches per isolate (`ctx.wait_until`),
//! so logging never slows a client down.
//!
//! A function's whole entry point is `genbase_edge::entry!("name", handler::handle);`, or
//! `genbase_edge::entry!("name", handler::handle, body_limit = BYTES);` for a function whose
//! bodies may be larger than a user endpoint's (the provider webhooks), with optionally
//! `after = path::to::hook` for work a response asks for (`ApiResponse::then`), run in the
//! request's `ctx.wait_until` once the response is sent:
//! `async fn hook(&impl Deps, serde_json::Value)`. A function that answers with Server-Sent
//! Events (`ApiResponse::event_stream`) names its writer with `stream = path::to::writer`:
//! `async fn writer(&impl Deps, serde_json::Value, impl EventSink)`, also run in
//! `ctx.wait_until`, so it finishes its work when the client leaves mid-stream.

#[cfg(target_arch = "wasm32")]
mod config;
#[cfg(target_arch = "wasm32")]
mod deps;
#[cfg(target_arch = "wasm32")]
mod isolate;
pub mod rate_limit;
#[cfg(target_arch = "wasm32")]
mod request_log;
pub mod scheduled;
#[cfg(target_arch = "wasm32")]
mod serve;
#[cfg(target_arch = "wasm32")]
mod stream;
#[cfg(target_arch = "wasm32")]
mod webcrypto;

#[cfg(target_arch = "wasm32")]
pub use deps::EdgeDeps;
#[cfg(target_arch = "wasm32")]
pub use serve::{serve, NoAfter, NoStream};
#[cfg(target_arch = "wasm32")]
pub use stream::EdgeSink;
#[cfg(target_arch = "wasm32")]
pub use worker;

/// The default body limit of `entry!`, re-exported so the macro can name it.
pub use genbase_shared::http::MAX_BODY_BYTES;

/// Declares the Worker's fetch handler for a function whose logic is
/// `async fn handle(&ApiRequest, &impl Deps) -> Result<ApiResponse, ApiError>`. Bodies are
/// limited to [`MAX_BODY_BYTES`] unless `body_limit = BYTES` says otherwise.
#[macro_export]
macro_rules! entry {
    ($name:literal, $handler:path) => {
        $crate::entry!($name, $handler, body_limit = $crate::MAX_BODY_BYTES);
    };
    ($name:literal, $handler:path, body_limit = $limit:expr) => {
        $crate::entry!(@fetch $name, $handler, $limit, None::<$crate::NoAfter>, None::<$crate::NoStream>);
    };
    ($name:literal, $handler:path, body_limit = $limit:expr, after = $after:path) => {
        $crate::entry!(@fetch $name, $handler, $limit, Some(
            |d: std::rc::Rc<$crate::EdgeDeps>, work: serde_json::Value| async move {
                $after(&*d, work).await
            }
        ), None::<$crate::NoStream>);
    };
    ($name:literal, $handler:path, stream = $stream:path) => {
        $crate::entry!(@fetch $name, $handler, $crate::MAX_BODY_BYTES, None::<$crate::NoAfter>, Some(
            |d: std::rc::Rc<$crate::EdgeDeps>, work: serde_json::Value, sink: $crate::EdgeSink| async move {
                $stream(&*d, work, sink).await
            }
        ));
    };
    (@fetch $name:literal, $handler:path, $limit:expr, $after:expr, $stream:expr) => {
        #[cfg(target_arch = "wasm32")]
        #[$crate::worker::event(fetch)]
        async fn fetch(
            req: $crate::worker::Request,
            env: $crate::worker::Env,
            ctx: $crate::worker::Context,
        ) -> $crate::worker::Result<$crate::worker::Response> {
            $crate::serve($name, $limit, req, env, ctx, |r, d| async move {
                $handler(&r, &*d).await
            }, $after, $stream)
            .await
        }
    };
}
