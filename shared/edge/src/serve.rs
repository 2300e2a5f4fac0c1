//! One request through a function: parse, check the caller's rate limit, run the handler,
//! answer, then log.

use crate::deps::EdgeDeps;
use crate::isolate::isolate;
use crate::rate_limit;
use crate::request_log;
use crate::stream::EdgeSink;
use futures_util::StreamExt;
use genbase_shared::error::ApiError;
use genbase_shared::http::{
    accept_request_id, parse_query, respond, ApiRequest, ApiResponse, LimitedBody, MAX_DRAIN_BYTES,
};
use genbase_shared::rpc::AnsweredRequest;
use serde_json::Value;
use std::future::Future;
use std::rc::Rc;
use worker::web_sys::TransformStream;
use worker::{console_error, ByteStream, Context, Date, Env, Request, Response, ResponseBody};

/// The `after` hook of a function that has none.
pub type NoAfter = fn(Rc<EdgeDeps>, Value) -> std::future::Ready<()>;
/// The `stream` writer of a function that has none.
pub type NoStream = fn(Rc<EdgeDeps>, Value, EdgeSink) -> std::future::Ready<()>;

/// `body_limit` is the function's own (see the `entry!` macro): bodies over it are refused
/// with 413 while being read. `after` runs the work a response asked for
/// ([`ApiResponse::then`]) once the response is sent; `stream` writes the events of an
/// [`ApiResponse::event_stream`] into the response's body.
#[allow(clippy::too_many_arguments)]
pub async fn serve<F, Fut, A, AFut, S, SFut>(
    function: &'static str,
    body_limit: usize,
    req: Request,
    env: Env,
    ctx: Context,
    handler: F,
    after: Option<A>,
    stream: Option<S>,
) -> worker::Result<Response>
where
    F: FnOnce(ApiRequest, Rc<EdgeDeps>) -> Fut,
    Fut: Future<Output = Result<ApiResponse, ApiError>>,
    A: FnOnce(Rc<EdgeDeps>, Value) -> AFut + 'static,
    AFut: Future<Output = ()> + 'static,
    S: FnOnce(Rc<EdgeDeps>, Value, EdgeSink) -> SFut + 'static,
    SFut: Future<Output = ()> + 'static,
{
    let started = Date::now().as_millis();
    let isolate = isolate(&env);
    let request_id = accept_request_id(req.headers().get("x-request-id").ok().flatten().as_deref());
    let origin = req.headers().get("origin").ok().flatten();
    let (method, path) = (raw_method(&req), req.path());

    let mut user_id = None;
    let mut served_by = None;
    let mut result = match (
        read_request(req, &request_id, body_limit).await,
        &isolate.rpc,
    ) {
        (Err(e), _) => Err(e),
        (_, Err(e)) => Err(e.clone()),
        (Ok(api_req), _) if api_req.method == "OPTIONS" => Ok(isolate.cors.preflight(&api_req)),
        (Ok(api_req), Ok(_)) => match EdgeDeps::new(env, &isolate) {
            Err(e) => Err(e),
            Ok(deps) => {
                let deps = Rc::new(deps);
                let out = match rate_limit::check(&deps, &api_req).await {
                    Ok(()) => handler(api_req, deps.clone()).await,
                    Err(refused) => Err(refused),
                };
                user_id = deps.user_id();
                served_by = Some(deps);
                out
            }
        },
    };
    let status = match &result {
        Ok(r) => r.status,
        Err(e) => e.status,
    };
    if let Err(e) = &result {
        if let Some(cause) = &e.cause {
            console_error!("{function} {request_id} {status}: {cause}");
        }
    }
    let work = result.as_mut().ok().and_then(|r| r.after.take());
    let streams = matches!(&result, Ok(r) if r.streams);
    let answer = respond(result, &request_id, origin.as_deref(), &isolate.cors);
    let response = match (streams, stream, work, served_by) {
        (true, Some(writer), Some(work), Some(deps)) => {
            // The writer runs in wait_until, not in the response's lifetime, so a client
            // that leaves mid-stream does not cut the work short.
            let pipe = TransformStream::new().map_err(js_error)?;
            let sink = EdgeSink::new(pipe.writable().get_writer().map_err(js_error)?);
            ctx.wait_until(writer(deps, work, sink));
            with_headers(
                Response::from_body(ResponseBody::Stream(pipe.readable()))?,
                answer,
            )?
        }
        (_, _, work, served_by) => {
            if let (Some(hook), Some(work), Some(deps)) = (after, work, served_by) {
                ctx.wait_until(hook(deps, work));
            }
            let body = match &answer.body {
                Some(b) => Response::from_json(b)?,
                None => Response::empty()?,
            };
            with_headers(body, answer)?
        }
    };

    if let Ok(rpc) = &isolate.rpc {
        let answered = AnsweredRequest {
            function,
            method,
            path,
            status,
            duration_ms: Date::now().as_millis().saturating_sub(started) as i64,
            user_id,
            request_id,
            at_ms: started as i64,
        };
        request_log::record(answered, rpc.clone(), &ctx);
    }
    Ok(response)
}

/// The runtime-free request. The body is read as a stream and refused (413) as soon as it
/// passes `body_limit`, whatever `Content-Length` says: a declared length over the limit is
/// refused before reading, and a false or missing one cannot make us keep more than the limit.
async fn read_request(
    mut req: Request,
    request_id: &str,
    body_limit: usize,
) -> Result<ApiRequest, ApiError> {
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    let mut body = LimitedBody::new(body_limit, declared)?;
    // A request without a body (GET) has no stream to read.
    if req.inner().body().is_some() {
        let mut stream = req
            .stream()
            .map_err(|e| ApiError::invalid_json(format!("unreadable body: {e}")))?;
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::invalid_json(format!("unreadable body: {e}")))?;
            if let Err(too_large) = body.push(&chunk) {
                drain(&mut stream).await;
                return Err(too_large);
            }
        }
    }
    let url = req
        .url()
        .map_err(|e| ApiError::validation(format!("bad request URL: {e}")))?;
    Ok(ApiRequest {
        method: raw_method(&req),
        path: url.path().to_string(),
        // Our parser, which handler tests use too, rather than `url`'s second one.
        query: parse_query(url.query().unwrap_or_default()),
        headers: req
            .headers()
            .entries()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect(),
        body: body.into_bytes(),
        request_id: request_id.to_string(),
        body_limit,
    })
}

/// The request's method as the client sent it. workers-rs's `Method` turns every method it
/// does not know (QUERY, PROPFIND, ...) into GET, which would answer them as GETs; the raw
/// string reaches the router, whose 405 names the methods the path has.
fn raw_method(req: &Request) -> String {
    req.inner().method().to_ascii_uppercase()
}

/// Reads and discards the rest of a refused body, up to [`MAX_DRAIN_BYTES`], keeping none of
/// it. workerd answers the next requests late (seconds, or not before a client times out) when
/// a handler cancels a body mid-upload or leaves it unread, so the rest of a moderately
/// oversized body is swallowed; beyond the cap the stream is dropped, which cancels the upload.
async fn drain(stream: &mut ByteStream) {
    let mut drained = 0usize;
    while let Some(Ok(chunk)) = stream.next().await {
        drained += chunk.len();
        if drained > MAX_DRAIN_BYTES {
            break;
        }
    }
}

/// `body` with [`respond`]'s status and headers (`x-request-id`, CORS).
fn with_headers(body: Response, answer: ApiResponse) -> worker::Result<Response> {
    let mut resp = body.with_status(answer.status);
    let h = resp.headers_mut();
    for (k, v) in answer.headers {
        h.set(&k, &v)?;
    }
    Ok(resp)
}

fn js_error(e: wasm_bindgen::JsValue) -> worker::Error {
    worker::Error::JsError(format!("{e:?}"))
}
