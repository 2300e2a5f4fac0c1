//! The request log, batched per isolate. Each answered request goes into the isolate's
//! [`RequestLog`]; one flush at a time, run in a request's `ctx.wait_until` after its response,
//! waits [`FLUSH_DELAY_MS`] for more requests, sends everything buffered in one
//! `api.log_requests` call and repeats while requests keep arriving (for a while: then the
//! next request starts a fresh flush). No request waits for the log, and one RPC carries the
//! requests of a quarter of a second, even from a client that sends them one at a time.

use genbase_shared::rpc::{AnsweredRequest, RequestLog, Rpc, RpcAuth};
use genbase_shared::rpc_postgrest::PostgrestRpc;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use worker::{console_error, Context, Date, Delay};

/// How long a flush collects requests before its first call.
const FLUSH_DELAY_MS: u64 = 250;

/// A flush sends no new batch after this long, well inside the 30 seconds the runtime gives
/// a `wait_until` task after its response.
const FLUSH_BUDGET_MS: u64 = 10_000;

/// A flush running longer than this is taken for dead and another may start: a `wait_until`
/// task the runtime stopped is never dropped, so it would otherwise never say it is done.
const FLUSH_PRESUMED_DEAD_MS: u64 = 60_000;

thread_local! {
    static PENDING: RefCell<RequestLog> = RefCell::new(RequestLog::default());
    /// When the flush under way started (Unix ms), if one is.
    static FLUSHING_SINCE: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Buffers `request` and, unless a flush is under way, starts one in `ctx`.
pub fn record(request: AnsweredRequest, rpc: Rc<PostgrestRpc>, ctx: &Context) {
    PENDING.with_borrow_mut(|log| log.push(request));
    let now = Date::now().as_millis();
    let busy = FLUSHING_SINCE
        .get()
        .is_some_and(|since| now.saturating_sub(since) < FLUSH_PRESUMED_DEAD_MS);
    if busy {
        return;
    }
    FLUSHING_SINCE.set(Some(now));
    ctx.wait_until(async move {
        Delay::from(Duration::from_millis(FLUSH_DELAY_MS)).await;
        while Date::now().as_millis().saturating_sub(now) < FLUSH_BUDGET_MS {
            let Some(batch) = PENDING.with_borrow_mut(RequestLog::take) else {
                break;
            };
            if let Err(e) = rpc.invoke(&batch, &RpcAuth::ServiceRole).await {
                let rows = batch.entries.len();
                console_error!(
                    "api_logs write of {rows} rows failed: {}",
                    e.cause.unwrap_or(e.message)
                );
            }
        }
        FLUSHING_SINCE.set(None);
    });
}
