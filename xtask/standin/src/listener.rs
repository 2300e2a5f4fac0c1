//! Schema cache reloading the PostgREST way: `NOTIFY pgrst, 'reload schema'` (or an empty
//! payload) on the database, or SIGUSR1 to the process. A reload also drops every connection's
//! prepared statements, so none outlives the schema it was prepared against.

use crate::catalog::Catalog;
use deadpool_postgres::Pool;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::{AsyncMessage, NoTls};

/// What a reload clears.
#[derive(Clone)]
pub struct Caches {
    pub catalog: Arc<Catalog>,
    pub pool: Pool,
}

impl Caches {
    fn clear(&self) {
        self.catalog.clear();
        self.pool.manager().statement_caches.clear();
    }
}

/// Runs until the process ends: a dedicated connection LISTENs on channel `pgrst`, reconnecting
/// after a second when the database goes away.
pub async fn listen_pgrst(db_uri: String, caches: Caches) {
    loop {
        if let Ok((client, mut conn)) = tokio_postgres::connect(&db_uri, NoTls).await {
            let on_notify = caches.clone();
            // The connection must be polled for LISTEN to complete and notifications to arrive.
            let driver = tokio::spawn(async move {
                loop {
                    match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                        Some(Ok(AsyncMessage::Notification(n))) => {
                            if matches!(n.payload(), "" | "reload schema") {
                                on_notify.clear();
                            }
                        }
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => break,
                    }
                }
            });
            if client.batch_execute("listen pgrst").await.is_ok() {
                // Anything may have changed while we were not listening.
                caches.clear();
                let _ = driver.await;
            } else {
                driver.abort();
            }
            drop(client);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// SIGUSR1 clears the caches, as it makes PostgREST reload its schema cache. The handler is
/// installed by this call (SIGUSR1's default action would kill the process), the returned
/// future serves it.
pub fn on_sigusr1(caches: Caches) -> Result<impl std::future::Future<Output = ()>, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut usr1 =
        signal(SignalKind::user_defined1()).map_err(|e| format!("cannot handle SIGUSR1: {e}"))?;
    Ok(async move {
        while usr1.recv().await.is_some() {
            caches.clear();
        }
    })
}
