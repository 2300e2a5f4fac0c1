use anyhow::Result;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xtask::stack::{dev_env_file, Options, Ports, Stack};
use xtask::{paths, tools};

/// Runs the whole stack in the foreground until Ctrl-C, then stops every part.
pub fn run() -> Result<()> {
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))?;

    let tools = tools::ensure_all()?;
    let mut stack = Stack::start(
        &tools,
        Options {
            ports: Ports::dev(),
            data_dir: paths::state().join("dev-db"),
            ephemeral: false,
            echo: true,
            with_functions: true,
        },
    )?;
    std::fs::write(dev_env_file(), stack.env.render())?;
    println!(
        "\ngenbase is running ({:.0}s to ready):\n",
        started.elapsed().as_secs_f64()
    );
    print!("{}", stack.env.render());
    println!("\n  try: curl -H \"Authorization: Bearer $(cargo xtask token alice@example.com)\" {}/v1/me", stack.env.get("API_URL"));
    println!("  Ctrl-C stops everything.\n");
    while !stop.load(Ordering::SeqCst) {
        if !stack.healthy() {
            eprintln!("xtask: a service exited; stopping the stack");
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = std::fs::remove_file(dev_env_file());
    drop(stack);
    println!("genbase stopped.");
    Ok(())
}
