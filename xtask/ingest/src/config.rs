//! The command line.

use crate::api::Retry;
use std::time::Duration;

pub const USAGE: &str = "\
genbase-ingest --api-url URL (--worker-key gw_... | --worker-key-file PATH)
               [--once] [--concurrency N] [--max-bytes N]

  --api-url URL            the API's base URL (the worker routes are under /v1/worker)
  --worker-key KEY         the worker key register_worker issued, with capabilities
                           ingest.file and embed.messages
  --worker-key-file PATH   the same key read from a file (keeps it out of the process list)
  --once                   claim once per slot, run what was claimed, then exit
  --concurrency N          tasks run at the same time, 1 to 32 (default 2)
  --max-bytes N            the largest file downloaded, in bytes (default 52428800, 50 MiB)
";

#[derive(Debug, Clone)]
pub struct Config {
    pub api_url: String,
    pub worker_key: String,
    pub once: bool,
    pub concurrency: usize,
    pub max_bytes: u64,
    /// How long a claim or a heartbeat leases a task.
    pub lease_seconds: u64,
    pub heartbeat_every: Duration,
    /// How long a slot waits after finding no task.
    pub idle_wait: Duration,
    /// How embeddings, complete and fail calls are retried.
    pub retry: Retry,
}

impl Config {
    /// The settings a deployment runs with, for this API and key.
    pub fn new(api_url: &str, worker_key: &str) -> Config {
        const LEASE_SECONDS: u64 = 60;
        Config {
            api_url: api_url.to_string(),
            worker_key: worker_key.to_string(),
            once: false,
            concurrency: 2,
            max_bytes: 50 * 1024 * 1024,
            lease_seconds: LEASE_SECONDS,
            heartbeat_every: Duration::from_secs(LEASE_SECONDS / 3),
            idle_wait: Duration::from_secs(1),
            retry: Retry {
                retries: 3,
                first_wait: Duration::from_secs(1),
            },
        }
    }
}

/// `None`: `--help` was asked for.
pub fn parse(args: &[String]) -> Result<Option<Config>, String> {
    let mut api_url = None;
    let mut key = None;
    let mut once = false;
    let mut concurrency = None;
    let mut max_bytes = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--api-url" => api_url = Some(value()?),
            "--worker-key" => key = Some(value()?),
            "--worker-key-file" => {
                let path = value()?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read the worker key file {path}: {e}"))?;
                key = Some(text.trim().to_string());
            }
            "--once" => once = true,
            "--concurrency" => concurrency = Some(number(arg, &value()?, 1, 32)?),
            "--max-bytes" => max_bytes = Some(number(arg, &value()?, 1, u64::MAX)?),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let api_url = api_url.ok_or("--api-url is required")?;
    let key = key.ok_or("--worker-key or --worker-key-file is required")?;
    if !key.starts_with("gw_") {
        return Err("the worker key should start with gw_ (as register_worker issues it)".into());
    }
    let mut config = Config::new(&api_url, &key);
    config.once = once;
    config.concurrency = concurrency.map_or(config.concurrency, |n| n as usize);
    config.max_bytes = max_bytes.unwrap_or(config.max_bytes);
    Ok(Some(config))
}

fn number(flag: &str, value: &str, min: u64, max: u64) -> Result<u64, String> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("{flag} must be a number from {min} to {max}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn flags_set_the_config_and_defaults_fill_the_rest() {
        let c = parse(&args(
            "--api-url http://api.test --worker-key gw_ab --once --concurrency 4",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(c.api_url, "http://api.test");
        assert_eq!(c.worker_key, "gw_ab");
        assert!(c.once);
        assert_eq!(c.concurrency, 4);
        assert_eq!(c.max_bytes, 50 * 1024 * 1024);
        assert_eq!(c.heartbeat_every, Duration::from_secs(20));
        assert!(parse(&args("--help")).unwrap().is_none());
    }

    #[test]
    fn the_key_can_come_from_a_file() {
        let path = std::env::temp_dir().join(format!("genbase-ingest-key-{}", std::process::id()));
        std::fs::write(&path, "gw_from_file\n").unwrap();
        let c = parse(&args(&format!(
            "--api-url http://api.test --worker-key-file {}",
            path.display()
        )))
        .unwrap()
        .unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(c.worker_key, "gw_from_file");
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        for (line, error) in [
            ("--worker-key gw_a", "--api-url is required"),
            (
                "--api-url u",
                "--worker-key or --worker-key-file is required",
            ),
            (
                "--api-url u --worker-key nope",
                "the worker key should start with gw_ (as register_worker issues it)",
            ),
            (
                "--api-url u --worker-key gw_a --concurrency 0",
                "--concurrency must be a number from 1 to 32",
            ),
            (
                "--api-url u --worker-key gw_a --max-bytes",
                "--max-bytes needs a value",
            ),
            (
                "--api-url u --worker-key gw_a --fast",
                "unexpected argument \"--fast\"",
            ),
        ] {
            assert_eq!(parse(&args(line)).unwrap_err(), error, "{line}");
        }
    }
}
