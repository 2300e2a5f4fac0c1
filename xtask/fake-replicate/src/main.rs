use fake_replicate::config::{Command, Config, USAGE};
use std::process::ExitCode;

fn main() -> ExitCode {
    let env_secret = std::env::var("REPLICATE_WEBHOOK_SECRET").ok();
    let config = match Config::parse(std::env::args().skip(1), env_secret) {
        Ok(Command::Run(c)) => c,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("fake-replicate: {e}");
            return ExitCode::from(2);
        }
    };
    // Two workers are plenty for a test double on a small machine.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fake-replicate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(fake_replicate::run(config));
    // Webhook workers may still be mid-request; they are abandoned, not awaited.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake-replicate: {e}");
            ExitCode::FAILURE
        }
    }
}
