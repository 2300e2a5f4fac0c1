//! Independent test suites run side by side: each is a child process writing to its own log,
//! so the suites share the wall clock and a failure shows its own output, not an interleaving.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Commands run one after the other; the suite fails if any of them does (all of them run).
pub struct Suite {
    pub name: &'static str,
    pub cmds: Vec<Command>,
}

/// Lines of a failed suite's log printed at the end.
const TAIL_LINES: usize = 120;

/// Runs every suite at once and waits for all; returns each one's seconds. Fails, after all
/// have ended, naming the suites that failed and printing the end of their logs.
pub fn run_side_by_side(suites: Vec<Suite>, logs: &Path) -> Result<Vec<(&'static str, f64)>> {
    std::fs::create_dir_all(logs)?;
    let outcomes: Vec<(&'static str, PathBuf, Result<bool>, f64)> = std::thread::scope(|s| {
        let handles: Vec<_> = suites
            .into_iter()
            .map(|mut suite| {
                let file: String = suite
                    .name
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join("-");
                let log = logs.join(format!("{file}.log"));
                s.spawn(move || {
                    let started = Instant::now();
                    let status = run_logged(&mut suite.cmds, &log);
                    let secs = started.elapsed().as_secs_f64();
                    match &status {
                        Ok(true) => eprintln!("  ok    {:<34} {secs:>6.1}s", suite.name),
                        _ => eprintln!("  FAIL  {:<34} {secs:>6.1}s", suite.name),
                    }
                    (suite.name, log, status, secs)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("suite thread"))
            .collect()
    });
    let mut failed = Vec::new();
    for (name, log, status, _) in &outcomes {
        if !matches!(status, Ok(true)) {
            eprintln!("\n==> {name} failed; end of {}:", log.display());
            if let Err(e) = status {
                eprintln!("{e:#}");
            }
            eprintln!("{}", tail(log));
            failed.push(*name);
        }
    }
    if !failed.is_empty() {
        bail!("failed: {}", failed.join(", "));
    }
    Ok(outcomes.into_iter().map(|(n, _, _, s)| (n, s)).collect())
}

fn run_logged(cmds: &mut [Command], log: &Path) -> Result<bool> {
    if cmds.is_empty() {
        bail!("no tests to run");
    }
    let file = std::fs::File::create(log)?;
    let mut passed = true;
    for cmd in cmds {
        let status = cmd
            .stdout(file.try_clone()?)
            .stderr(file.try_clone()?)
            .status()
            .with_context(|| format!("spawning {cmd:?}"))?;
        passed &= status.success();
    }
    Ok(passed)
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}
