//! Command-line configuration. Names follow PostgREST's own settings (`db-uri`, `db-schemas`,
//! `db-anon-role`, `jwt-secret`, `db-extra-search-path`) so the mapping stays obvious.

use genbase_devkit::cli;
use std::net::SocketAddr;
use std::path::PathBuf;

pub const USAGE: &str = "\
postgrest-standin: local stand-in for the part of PostgREST's RPC contract genbase uses.

Usage: postgrest-standin --db-uri URI [options]

  --listen ADDR             address to listen on (default 127.0.0.1:3000; port 0 picks one)
  --db-uri URI              postgres://authenticator:...@host:port/db (the authenticator role)
  --schemas A[,B]           exposed schemas; the first is the default (default: public)
  --anon-role ROLE          role for requests without a JWT (default: anon)
  --jwt-secret-file PATH    HS256 secret (file content, surrounding whitespace trimmed)
  --jwks-file PATH          JWKS (or one JWK) for ES256/RS256; its public keys are also served
                            at GET /auth/v1/.well-known/jwks.json
  --extra-search-path A[,B] schemas appended to search_path (default: public,extensions, as Supabase)
  --db-pool-size N          connections in the pool (default: 10)
  --storage-dir DIR         serve Supabase Storage's object API at /storage/v1, files under DIR
                            (needs --jwt-secret-file: signed URLs are signed with it)
  --help                    this text

Prints `listening on http://ADDR` once it accepts requests. SIGINT/SIGTERM stop it,
SIGUSR1 (or NOTIFY pgrst, 'reload schema') reloads the function cache.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub listen: SocketAddr,
    pub db_uri: String,
    pub schemas: Vec<String>,
    pub anon_role: String,
    pub jwt_secret_file: Option<PathBuf>,
    pub jwks_file: Option<PathBuf>,
    pub extra_search_path: Vec<String>,
    pub db_pool_size: usize,
    /// Where Storage keeps object files; without it `/storage/v1` answers 501.
    pub storage_dir: Option<PathBuf>,
}

/// What the command line asked for: run, or print the usage.
pub type Command = cli::Command<Config>;

impl Config {
    /// Parses the arguments after the program name. Errors are one line, meant for stderr.
    pub fn parse<I, S>(args: I) -> Result<Command, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut listen = "127.0.0.1:3000".to_string();
        let mut db_uri = None;
        let mut schemas = "public".to_string();
        let mut anon_role = "anon".to_string();
        let mut jwt_secret_file = None;
        let mut jwks_file = None;
        let mut extra_search_path = "public,extensions".to_string();
        let mut db_pool_size = "10".to_string();
        let mut storage_dir = None;

        let command = cli::parse_flags(args, |flag, value| {
            match flag {
                "--listen" => listen = value()?,
                "--db-uri" => db_uri = Some(value()?),
                "--schemas" => schemas = value()?,
                "--anon-role" => anon_role = value()?,
                "--jwt-secret-file" => jwt_secret_file = Some(PathBuf::from(value()?)),
                "--jwks-file" => jwks_file = Some(PathBuf::from(value()?)),
                "--extra-search-path" => extra_search_path = value()?,
                "--db-pool-size" => db_pool_size = value()?,
                "--storage-dir" => storage_dir = Some(PathBuf::from(value()?)),
                other => return Err(cli::unknown(other)),
            }
            Ok(())
        })?;
        if command == cli::Command::Help {
            return Ok(Command::Help);
        }

        let listen = listen
            .parse()
            .map_err(|e| format!("--listen {listen:?}: {e} (expected HOST:PORT)"))?;
        let db_uri = db_uri.ok_or("--db-uri is required (see --help)")?;
        let schemas = split_list(&schemas);
        if schemas.is_empty() {
            return Err("--schemas needs at least one schema".into());
        }
        if anon_role.trim().is_empty() {
            return Err("--anon-role must not be empty".into());
        }
        let db_pool_size = match db_pool_size.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(format!(
                    "--db-pool-size {db_pool_size:?} must be a positive integer"
                ))
            }
        };
        if storage_dir.is_some() && jwt_secret_file.is_none() {
            return Err(
                "--storage-dir needs --jwt-secret-file (signed URLs are signed with it)".into(),
            );
        }
        Ok(Command::Run(Config {
            listen,
            db_uri,
            schemas,
            anon_role: anon_role.trim().to_string(),
            jwt_secret_file,
            jwks_file,
            extra_search_path: split_list(&extra_search_path),
            db_pool_size,
            storage_dir,
        }))
    }

    /// The schema used when the request names none (PostgREST: the first of `db-schemas`).
    pub fn default_schema(&self) -> &str {
        &self.schemas[0]
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Config {
        match Config::parse(args.iter().copied()).unwrap() {
            Command::Run(c) => c,
            Command::Help => panic!("unexpected help"),
        }
    }

    #[test]
    fn parses_the_flags_xtask_passes() {
        let c = run(&[
            "--listen",
            "127.0.0.1:0",
            "--db-uri",
            "postgres://authenticator:authenticator@127.0.0.1:5432/postgres",
            "--schemas",
            "api, other",
            "--anon-role",
            "anon",
            "--jwt-secret-file=/tmp/s",
            "--jwks-file",
            "/tmp/j.json",
        ]);
        assert_eq!(c.listen.port(), 0);
        assert_eq!(c.schemas, vec!["api", "other"]);
        assert_eq!(c.default_schema(), "api");
        assert_eq!(c.jwt_secret_file, Some(PathBuf::from("/tmp/s")));
        assert_eq!(c.jwks_file, Some(PathBuf::from("/tmp/j.json")));
        assert_eq!(c.extra_search_path, vec!["public", "extensions"]);
        assert_eq!(c.db_pool_size, 10);
        assert_eq!(c.storage_dir, None);
    }

    #[test]
    fn storage_dir_needs_the_jwt_secret() {
        let c = run(&[
            "--db-uri",
            "u",
            "--jwt-secret-file",
            "/tmp/s",
            "--storage-dir",
            "/tmp/st",
        ]);
        assert_eq!(c.storage_dir, Some(PathBuf::from("/tmp/st")));
        assert!(Config::parse(["--db-uri", "u", "--storage-dir", "/tmp/st"])
            .unwrap_err()
            .contains("--jwt-secret-file"));
    }

    #[test]
    fn rejects_bad_input_with_a_message() {
        assert!(Config::parse(["--listen", "x"])
            .unwrap_err()
            .contains("--listen"));
        assert!(Config::parse(["--listen", "127.0.0.1:1"])
            .unwrap_err()
            .contains("--db-uri"));
        assert!(Config::parse(["--db-uri", "u", "--bogus"])
            .unwrap_err()
            .contains("--bogus"));
        assert!(Config::parse(["--db-uri"])
            .unwrap_err()
            .contains("needs a value"));
        assert!(Config::parse(["--db-uri", "u", "--schemas", " , "]).is_err());
        assert!(Config::parse(["--db-uri", "u", "--db-pool-size", "0"]).is_err());
        assert_eq!(Config::parse(["--help"]).unwrap(), Command::Help);
    }
}
