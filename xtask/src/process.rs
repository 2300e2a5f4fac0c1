//! Child processes: run-to-completion helpers and long-running services that stop with us.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Runs a command to completion, inheriting stdio; fails with the command line on a non-zero exit.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("spawning {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Runs a command and returns its stdout; stderr is passed through.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("spawning {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed with {}", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// When a service counts as started.
pub enum Ready<'a> {
    /// A line of its output contains this text.
    Line(&'a str),
    /// This URL answers at all (any HTTP status).
    Http(&'a str),
}

/// A background service in its own process group, so its own children (workerd under
/// wrangler) stop with it. Dropping it stops the group.
pub struct Service {
    pub name: &'static str,
    child: Child,
}

impl Service {
    /// Starts `cmd` and waits until it is ready (or `timeout` passes). Output lines are echoed
    /// with a `[name]` prefix when `echo` is set.
    pub fn start(
        name: &'static str,
        cmd: &mut Command,
        ready: Ready,
        timeout: Duration,
        echo: bool,
    ) -> Result<Service> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name}: {cmd:?}"))?;
        let (tx, rx) = mpsc::channel::<String>();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if echo {
                        eprintln!("[{name}] {line}");
                    }
                    let _ = tx.send(line);
                }
            });
        }
        drop(tx);
        let mut service = Service { name, child };
        let deadline = Instant::now() + timeout;
        let mut tail: Vec<String> = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Ready::Http(url) = &ready {
                match ureq::get(url).timeout(Duration::from_secs(2)).call() {
                    Ok(_) | Err(ureq::Error::Status(..)) => break,
                    Err(_) => {}
                }
            }
            let wait = match ready {
                Ready::Line(_) => left,
                Ready::Http(_) => left.min(Duration::from_millis(250)),
            };
            match rx.recv_timeout(wait) {
                Ok(line) if matches!(ready, Ready::Line(r) if line.contains(r)) => break,
                Ok(line) => {
                    tail.push(line);
                    if tail.len() > 40 {
                        tail.remove(0);
                    }
                }
                Err(_) if Instant::now() < deadline => {}
                Err(_) => {
                    service.stop();
                    bail!(
                        "{name} did not become ready; last output:\n{}",
                        tail.join("\n")
                    );
                }
            }
        }
        // Keep draining so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in rx {});
        Ok(service)
    }

    /// Its pid, which is also its process group's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn stop(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: signalling a process group we created; no memory is involved.
        unsafe {
            libc::kill(-pgid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free TCP port on loopback (the OS picks; we release it right away).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
