use genbase_ingest::{config, worker};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match config::parse(&args) {
        Ok(None) => {
            print!("{}", config::USAGE);
            ExitCode::SUCCESS
        }
        Ok(Some(config)) => match worker::run(config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("genbase-ingest: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("genbase-ingest: {e}\n\n{}", config::USAGE);
            ExitCode::from(2)
        }
    }
}
