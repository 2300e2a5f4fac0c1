//! Command-line configuration.

use genbase_devkit::cli;
use std::net::SocketAddr;
use std::time::Duration;

pub const USAGE: &str = "\
fake-replicate: local fake of Replicate's predictions and trainings APIs (the part genbase uses), for dev and tests.

Usage: fake-replicate --webhook-secret whsec_<base64> [options]

  --listen ADDR           address to listen on (default 127.0.0.1:0, i.e. any free port)
  --webhook-secret S      Standard Webhooks signing secret: `whsec_` + base64 of a key of at
                          least 16 bytes (default: $REPLICATE_WEBHOOK_SECRET)
  --public-url URL        base of the URLs put in predictions (urls.get, output files)
                          (default http://ADDR as bound)
  --delay-ms N            time from creation to completion (default 150)
  --slow-ms N             the same for inputs marked [slow] (default 2000)
  --files-expire-ms N     output files are gone this long after the prediction completed, as
                          Replicate deletes API outputs after an hour (default 3600000)
  --webhook-retries N     extra attempts for a `completed` webhook that is not answered 2xx
                          (default 4; backoff 250 ms doubling)
  --ttft-ms N             chat endpoints: time to the first token of a reply (default 20)
  --help                  this text

Prints `listening on http://ADDR` once it accepts requests; SIGINT/SIGTERM stop it.
Outcomes are chosen by markers in the input's string values: [fail], [slow], [never], [throttle],
[reject], [outage], [overrun], [big:N], [nowebhook]; chat replies by markers in the last user
message: [midfail], [drop], [slowstream], [tool], [nousage], [throttle], [words:N] (see README.md).
Test hooks live under /_fake/ (see src/control.rs).";

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub webhook_secret: String,
    pub public_url: Option<String>,
    pub delay: Duration,
    pub slow_delay: Duration,
    pub webhook_retries: u32,
    pub files_expire: Duration,
    /// Chat endpoints: how long before a reply's first token.
    pub ttft: Duration,
}

/// What the command line asked for: run, or print the usage.
pub type Command = cli::Command<Config>;

impl Config {
    /// Parses the arguments after the program name; `env_secret` is the fallback for
    /// `--webhook-secret` (a secret on the command line is visible in `ps`). Errors are one line.
    pub fn parse<I, S>(args: I, env_secret: Option<String>) -> Result<Command, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut listen = "127.0.0.1:0".to_string();
        let mut webhook_secret = env_secret.filter(|s| !s.trim().is_empty());
        let mut public_url = None;
        let mut delay_ms = "150".to_string();
        let mut slow_ms = "2000".to_string();
        let mut retries = "4".to_string();
        let mut files_expire_ms = "3600000".to_string();
        let mut ttft_ms = "20".to_string();

        let command = cli::parse_flags(args, |flag, value| {
            match flag {
                "--listen" => listen = value()?,
                "--webhook-secret" => webhook_secret = Some(value()?),
                "--public-url" => public_url = Some(value()?.trim_end_matches('/').to_string()),
                "--delay-ms" => delay_ms = value()?,
                "--slow-ms" => slow_ms = value()?,
                "--webhook-retries" => retries = value()?,
                "--files-expire-ms" => files_expire_ms = value()?,
                "--ttft-ms" => ttft_ms = value()?,
                other => return Err(cli::unknown(other)),
            }
            Ok(())
        })?;
        if command == cli::Command::Help {
            return Ok(Command::Help);
        }
        let millis = |flag: &str, v: &str| -> Result<Duration, String> {
            v.parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| format!("{flag} must be a whole number of milliseconds, not {v:?}"))
        };
        Ok(Command::Run(Config {
            listen: listen
                .parse()
                .map_err(|_| format!("--listen must be HOST:PORT, not {listen:?}"))?,
            webhook_secret: webhook_secret
                .ok_or("--webhook-secret (or $REPLICATE_WEBHOOK_SECRET) is required")?,
            public_url,
            delay: millis("--delay-ms", &delay_ms)?,
            slow_delay: millis("--slow-ms", &slow_ms)?,
            webhook_retries: retries.parse().map_err(|_| {
                format!("--webhook-retries must be a whole number, not {retries:?}")
            })?,
            files_expire: millis("--files-expire-ms", &files_expire_ms)?,
            ttft: millis("--ttft-ms", &ttft_ms)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, String> {
        match Config::parse(args.iter().copied(), None)? {
            Command::Run(c) => Ok(c),
            Command::Help => Err("help".into()),
        }
    }

    #[test]
    fn parses_flags_in_both_forms() {
        let c = run(&[
            "--listen=127.0.0.1:5555",
            "--webhook-secret",
            "whsec_AAAA",
            "--delay-ms",
            "10",
        ])
        .unwrap();
        assert_eq!(c.listen.port(), 5555);
        assert_eq!(c.webhook_secret, "whsec_AAAA");
        assert_eq!(c.delay, Duration::from_millis(10));
        assert_eq!(c.slow_delay, Duration::from_secs(2));
        assert_eq!(c.webhook_retries, 4);
    }

    #[test]
    fn secret_is_required_unless_in_the_environment() {
        assert!(run(&[]).unwrap_err().contains("--webhook-secret"));
        let env = Some("whsec_BBBB".to_string());
        match Config::parse(Vec::<String>::new(), env).unwrap() {
            Command::Run(c) => assert_eq!(c.webhook_secret, "whsec_BBBB"),
            Command::Help => panic!("expected a config"),
        }
    }

    #[test]
    fn rejects_unknown_and_malformed() {
        assert!(run(&["--webhook-secret", "x", "--bogus"]).is_err());
        assert!(run(&["--webhook-secret", "x", "--delay-ms", "soon"]).is_err());
        assert!(run(&["--webhook-secret", "x", "--listen", "nowhere"]).is_err());
    }
}
