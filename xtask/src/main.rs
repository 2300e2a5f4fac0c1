//! `cargo xtask <command>`: the project's tooling. See `cargo xtask help`.

mod commands;

use anyhow::Result;

const HELP: &str = "\
cargo xtask <command>

  dev                      run the whole local stack in the foreground (Ctrl-C stops it)
  status                   print the running stack's settings as KEY=VALUE lines
  token <email> [--role authenticated|service_role] [--expired] [--hs256]
                           print an access token for a local user (created if missing)
  test [--no-lint] [--only <test|browser|schemathesis>]
                           every check: fmt, clippy, unit, SQL (pgTAP), stand-in conformance, end to end,
                           the example app in Chromium, Schemathesis
  bench                    benchmarks: WASM sizes, latency, SQL throughput; writes target/bench.json
  build [function...]      build function bundles (all when none named) [--optimize]
  worker [--once]          run the reference GPU worker against the local stack
  ingest [--once] [--concurrency N]
                           run the ingest worker (files into embedded chunks) against the local stack
  new <group> [--remove]   create a function group (crate, routes, tests, migration) or remove it
  fuzz-api [--examples N]  Schemathesis against a throwaway stack: every operation, N examples each
                           (default 100), as a user, as another user and without a token
  openapi [--check]        merge openapi/base.json and openapi/paths/*.json into openapi/openapi.json;
                           --check only checks it (fresh, complete, every route documented)
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = args
        .split_first()
        .map(|(c, r)| (c.as_str(), r))
        .unwrap_or(("help", &[]));
    match cmd {
        "dev" => commands::dev::run(),
        "status" => commands::status::run(),
        "token" => commands::token::run(rest),
        "build" => commands::build_cmd::run(rest),
        "test" => commands::test::run(rest),
        "bench" => commands::bench::run(rest),
        "worker" => commands::worker::run(rest),
        "ingest" => commands::ingest::run(rest),
        "new" => commands::new::run(rest),
        "fuzz-api" => commands::fuzz_api::run(rest),
        "openapi" => commands::openapi::run(rest),
        _ => {
            print!("{HELP}");
            Ok(())
        }
    }
}
