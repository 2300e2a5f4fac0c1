//! Cron Triggers: a function's background job on Cloudflare's schedule (`[triggers] crons` in
//! its wrangler.toml). The job gets the same [`Deps`](genbase_shared::deps::Deps) as a request
//! handler; no user exists, so what it does runs as the service role, which is why each job
//! is one function with a narrow grant in SQL.
//!
//! A function declares its job with
//! `genbase_edge::scheduled!("name", path::to::job);` where the job is
//! `async fn job(&impl Deps) -> Result<serde_json::Value, ApiError>`; its summary (or its
//! error) goes to the Worker's log, where `wrangler tail` and Workers Logs show it.

/// Declares the Worker's scheduled handler; see the module documentation.
#[macro_export]
macro_rules! scheduled {
    ($name:literal, $job:path) => {
        #[cfg(target_arch = "wasm32")]
        #[$crate::worker::event(scheduled)]
        async fn scheduled(
            event: $crate::worker::ScheduledEvent,
            env: $crate::worker::Env,
            _ctx: $crate::worker::ScheduleContext,
        ) {
            $crate::scheduled::run($name, event, env, |d| async move { $job(&*d).await }).await
        }
    };
}

#[cfg(target_arch = "wasm32")]
pub use run_impl::run;

#[cfg(target_arch = "wasm32")]
mod run_impl {
    use crate::deps::EdgeDeps;
    use crate::isolate::isolate;
    use genbase_shared::error::ApiError;
    use serde_json::Value;
    use std::future::Future;
    use std::rc::Rc;
    use worker::{console_error, console_log, Env, ScheduledEvent};

    /// Runs the job once with the isolate's deps. A failed run is only logged: the next tick
    /// runs the job again, and the jobs are written so that a run cut short leaves nothing
    /// half done.
    pub async fn run<F, Fut>(function: &'static str, event: ScheduledEvent, env: Env, job: F)
    where
        F: FnOnce(Rc<EdgeDeps>) -> Fut,
        Fut: Future<Output = Result<Value, ApiError>>,
    {
        let isolate = isolate(&env);
        let outcome = match EdgeDeps::new(env, &isolate) {
            Err(e) => Err(e),
            Ok(deps) => job(Rc::new(deps)).await,
        };
        match outcome {
            Ok(summary) => console_log!("{function} cron {}: {summary}", event.cron()),
            Err(e) => console_error!(
                "{function} cron {} failed: {}",
                event.cron(),
                e.cause.unwrap_or(e.message)
            ),
        }
    }
}
