use anyhow::{bail, Result};
use serde_json::json;
use std::time::Duration;
use xtask::gpu_worker::Worker;
use xtask::stack::StackEnv;

/// `cargo xtask worker [--once] [--key gw_...] [--types wan_video,...]`: registers a worker
/// (service role, local stack only) unless given a key, then claims and runs tasks.
pub fn run(args: &[String]) -> Result<()> {
    let env = StackEnv::read_dev()?;
    let mut once = false;
    let mut key = None;
    let mut types = vec!["wan_video".to_string()];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--once" => once = true,
            "--key" => key = it.next().cloned(),
            "--types" => {
                types = it
                    .next()
                    .map(|t| t.split(',').map(str::to_owned).collect())
                    .unwrap_or_default()
            }
            other => bail!("unexpected argument {other:?}"),
        }
    }
    let key = match key {
        Some(k) => k,
        None => {
            let r: serde_json::Value = ureq::post(&format!(
                "{}/rest/v1/rpc/register_worker",
                env.get("SUPABASE_URL")
            ))
            .set("apikey", env.get("SUPABASE_SERVICE_ROLE_KEY"))
            .set(
                "authorization",
                &format!("Bearer {}", env.get("SUPABASE_SERVICE_ROLE_KEY")),
            )
            .send_json(json!({"p_name": "reference-worker", "p_capabilities": types}))?
            .into_json()?;
            eprintln!("worker: registered {}", r["worker_id"]);
            r["worker_key"].as_str().unwrap_or_default().to_string()
        }
    };
    let worker = Worker::new(env.get("API_URL"), &key, types);
    loop {
        let worked = worker.run_once()?;
        if once {
            return Ok(());
        }
        if !worked {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}
