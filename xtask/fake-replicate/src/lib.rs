//! fake-replicate: a local fake of the part of Replicate's predictions and trainings APIs genbase uses, for
//! dev and tests (Replicate cannot be reached from here). It follows Replicate's documented
//! protocol: the prediction object, problem-details errors, and Standard Webhooks signed
//! webhooks with Replicate's event filter and retry rules.
//!
//! - `api`: the `/v1` endpoints;
//! - `trainings`: the trainings API, trainings being predictions that push a trained version;
//! - `files`: the output files predictions point at;
//! - `runner`: each prediction's simulated run, steered by markers in its input;
//! - `store`: the in-memory state;
//! - `webhook`: signing and delivery;
//! - `control`: the `/_fake/` hooks tests use to inspect and replay;
//! - `chat`, `openai`, `anthropic`, `stream`: a fake chat model provider on the same port
//!   (`POST /v1/chat/completions`, `POST /v1/messages`), streamed or not;
//! - `embeddings`: a fake OpenAI embeddings endpoint (`POST /v1/embeddings`) whose vectors
//!   put texts sharing words close together.
//!
//! Known differences from the real service are listed in README.md.

pub mod anthropic;
pub mod api;
pub mod chat;
pub mod config;
pub mod control;
pub mod embeddings;
pub mod files;
pub mod ids;
pub mod openai;
pub mod runner;
pub mod store;
pub mod stream;
pub mod trainings;
pub mod webhook;

use config::Config;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use webhook::Signer;

/// After SIGINT/SIGTERM, how long open requests (a `Prefer: wait`, say) may take to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

pub struct App {
    pub store: Arc<Store>,
    pub signer: Arc<Signer>,
    pub config: Config,
    /// The chat requests received (`/_fake/chat/requests`).
    pub chats: Arc<chat::ChatLog>,
    /// The embeddings requests received and the `[flakyembed]` counts.
    pub embeddings: embeddings::EmbeddingState,
}

pub async fn run(config: Config) -> Result<(), String> {
    let signer = Signer::from_secret(&config.webhook_secret)?;
    let tcp = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = tcp.local_addr().map_err(|e| e.to_string())?;
    // A streamed chunk written after a pause would otherwise wait for the client's delayed
    // ACK (Nagle), adding ~40 ms to a model's time to first token that no provider adds.
    let tcp = axum::serve::ListenerExt::tap_io(tcp, |s| {
        let _ = s.set_nodelay(true);
    });
    let base_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let app = Arc::new(App {
        store: Arc::new(Store::new(base_url)),
        signer: Arc::new(signer),
        config,
        chats: Arc::default(),
        embeddings: Default::default(),
    });
    let router = api::router(app.clone()).merge(control::router(app));

    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = stop.clone();
    let server =
        axum::serve(tcp, router).with_graceful_shutdown(async move { stopped.notified().await });
    let mut server = tokio::spawn(async move { server.await });
    // Installed before announcing readiness: a signal sent right after the line must not find
    // the default action (immediate death) still in place.
    let shutdown = shutdown_signal();
    // The line tooling waits for; with `--listen HOST:0` it is also how the port is learnt.
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();

    tokio::select! {
        r = &mut server => return finished(r),
        _ = shutdown => {}
    }
    stop.notify_one();
    // Graceful shutdown waits for open connections; a long poll must not hold the exit.
    match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        Ok(r) => finished(r),
        Err(_) => Ok(()),
    }
}

fn finished(r: Result<std::io::Result<()>, tokio::task::JoinError>) -> Result<(), String> {
    r.map_err(|e| e.to_string())?
        .map_err(|e| format!("server error: {e}"))
}

/// Resolves on the first SIGINT or SIGTERM; the handlers are installed when this is called.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let handlers = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    );
    async move {
        let (Ok(mut int), Ok(mut term)) = handlers else {
            // Without signal handlers the process still dies on the default action.
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    }
}
