use postgrest_standin::config::{Config, USAGE};
use std::process::ExitCode;

fn main() -> ExitCode {
    let command = Config::parse(std::env::args().skip(1));
    genbase_devkit::cli::serve("postgrest-standin", USAGE, command, postgrest_standin::run)
}
