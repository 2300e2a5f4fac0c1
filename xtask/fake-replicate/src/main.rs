use fake_replicate::config::{Config, USAGE};
use std::process::ExitCode;

fn main() -> ExitCode {
    // The secret may come from the environment: on the command line it is visible in `ps`.
    let env_secret = std::env::var("REPLICATE_WEBHOOK_SECRET").ok();
    let command = Config::parse(std::env::args().skip(1), env_secret);
    genbase_devkit::cli::serve("fake-replicate", USAGE, command, fake_replicate::run)
}
