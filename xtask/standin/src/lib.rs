//! postgrest-standin: a local stand-in for the part of PostgREST's RPC contract genbase uses,
//! following PostgREST's documentation, and for the object API of Supabase Storage
//! (`/storage/v1`, with `--storage-dir`). See README.md for what it implements and every known
//! difference from PostgREST and Supabase Storage.

pub mod call;
pub mod catalog;
pub mod config;
pub mod errors;
pub mod http;
pub mod jwt;
pub mod keys;
pub mod listener;
pub mod request;
pub mod storage;

use crate::catalog::Catalog;
use crate::config::Config;
use crate::http::App;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::NoTls;

/// Serves until SIGINT or SIGTERM. Errors are one readable line for stderr.
pub async fn run(config: Config) -> Result<(), String> {
    let keys = keys::Keys::load(
        config.jwt_secret_file.as_deref(),
        config.jwks_file.as_deref(),
    )?;
    let storage = match (&config.storage_dir, &config.jwt_secret_file) {
        (Some(dir), Some(secret)) => Some(storage::Storage::open(dir, secret)?),
        _ => None,
    };
    let pool = pool(&config)?;
    check_database(&pool, &config).await?;

    let catalog = Arc::new(Catalog::default());
    let caches = listener::Caches {
        catalog: catalog.clone(),
        pool: pool.clone(),
    };
    tokio::spawn(listener::listen_pgrst(
        config.db_uri.clone(),
        caches.clone(),
    ));
    tokio::spawn(listener::on_sigusr1(caches)?);

    let tcp = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = tcp.local_addr().map_err(|e| e.to_string())?;
    let app = Arc::new(App {
        config,
        keys,
        catalog,
        pool,
        storage,
    });
    // Installed before announcing readiness: a signal sent right after the line must not find
    // the default action (immediate death) still in place.
    let shutdown = shutdown_signal()?;
    // The line tooling waits for; with `--listen HOST:0` it is also how the port is learnt.
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    axum::serve(tcp, http::router(app))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| format!("server error: {e}"))
}

fn pool(config: &Config) -> Result<Pool, String> {
    let pg: tokio_postgres::Config = config
        .db_uri
        .parse()
        .map_err(|e| format!("--db-uri is not a valid connection string: {e}"))?;
    let manager = Manager::from_config(
        pg,
        NoTls,
        // Every request ends its own transaction, so a returned connection is clean.
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(config.db_pool_size)
        .runtime(Runtime::Tokio1)
        // PostgREST's db-pool-acquisition-timeout default.
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|e| format!("cannot create the connection pool: {e}"))
}

/// Waits up to 10 s for the database (the local stack may still be starting), then warns about
/// configuration that cannot work: an exposed schema or the anonymous role missing.
async fn check_database(pool: &Pool, config: &Config) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let client = loop {
        match pool.get().await {
            Ok(c) => break c,
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(format!("cannot connect to the database with --db-uri: {e}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    };
    let row = client
        .query_one(
            "select array(select s from unnest($1::text[]) s \
                           where not exists (select from pg_catalog.pg_namespace where nspname = s)), \
                    exists (select from pg_catalog.pg_roles where rolname = $2)",
            &[&config.schemas, &config.anon_role],
        )
        .await
        .map_err(|e| format!("cannot query the database: {e}"))?;
    let missing: Vec<String> = row.get(0);
    if !missing.is_empty() {
        eprintln!(
            "postgrest-standin: warning: exposed schema(s) not found: {}",
            missing.join(", ")
        );
    }
    if !row.get::<_, bool>(1) {
        eprintln!(
            "postgrest-standin: warning: the anonymous role {:?} does not exist",
            config.anon_role
        );
    }
    Ok(())
}

/// Resolves on the first SIGINT or SIGTERM; the handlers are installed when this is called.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot handle SIGINT: {e}"))?;
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}
