//! CPU time of the bench client and of each part of the stack, read from `/proc`, so every
//! bench row can say where the CPU went and a client-bound figure shows as one.

use anyhow::Result;
use std::collections::BTreeMap;

/// The parts a row's CPU is split into, in print order.
pub const PARTS: [&str; 6] = [
    "client", "workerd", "wrangler", "stand-in", "postgres", "provider",
];

/// Which processes make up each part.
pub struct Accounts {
    /// (part, process group id): every process of that group counts.
    groups: Vec<(&'static str, i32)>,
    /// The postmaster: it and its children (the backends).
    postmaster: i32,
    ticks_per_sec: f64,
}

/// CPU seconds per part at one instant.
#[derive(Clone, Default)]
pub struct Snapshot(BTreeMap<&'static str, f64>);

/// CPU milliseconds per request, per part, over some requests.
#[derive(Clone, Default)]
pub struct Split(pub BTreeMap<&'static str, f64>);

struct Stat {
    pid: i32,
    comm: String,
    ppid: i32,
    pgrp: i32,
    /// utime + stime + cutime + cstime: the process's own CPU and its reaped children's.
    ticks: u64,
}

impl Accounts {
    /// `processes` as `Stack::processes` gives them: (service name, pid).
    pub fn new(processes: &[(&'static str, u32)]) -> Accounts {
        let mut groups = Vec::new();
        let mut postmaster = -1;
        for (name, pid) in processes {
            match *name {
                "postgres" => postmaster = *pid as i32,
                "postgrest" => groups.push(("stand-in", *pid as i32)),
                "provider" => groups.push(("provider", *pid as i32)),
                // workerd runs inside wrangler's group; `part_of` tells them apart by name.
                "wrangler" => groups.push(("wrangler", *pid as i32)),
                _ => {}
            }
        }
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Accounts {
            groups,
            postmaster,
            ticks_per_sec: if ticks > 0 { ticks as f64 } else { 100.0 },
        }
    }

    pub fn snapshot(&self) -> Result<Snapshot> {
        let own = std::process::id() as i32;
        let mut parts: BTreeMap<&'static str, f64> = PARTS.iter().map(|p| (*p, 0.0)).collect();
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            // A process may exit between listing and reading: skip it.
            let Some(stat) = read_stat(pid) else { continue };
            if let Some(part) = self.part_of(&stat, own) {
                *parts.entry(part).or_default() += stat.ticks as f64 / self.ticks_per_sec;
            }
        }
        Ok(Snapshot(parts))
    }

    fn part_of(&self, s: &Stat, own: i32) -> Option<&'static str> {
        if s.pid == own {
            return Some("client");
        }
        if s.pid == self.postmaster || s.ppid == self.postmaster {
            return Some("postgres");
        }
        let (part, _) = self.groups.iter().find(|(_, g)| *g == s.pgrp)?;
        Some(if *part == "wrangler" && s.comm == "workerd" {
            "workerd"
        } else {
            part
        })
    }
}

impl Snapshot {
    /// CPU seconds of `part` so far.
    pub fn seconds(&self, part: &str) -> f64 {
        self.0.get(part).copied().unwrap_or(0.0)
    }

    /// Milliseconds per request between `self` (before) and `after`.
    pub fn per_request(&self, after: &Snapshot, requests: usize) -> Split {
        let n = requests.max(1) as f64;
        Split(
            after
                .0
                .iter()
                .map(|(k, v)| (*k, (v - self.0.get(k).copied().unwrap_or(0.0)) * 1000.0 / n))
                .collect(),
        )
    }
}

impl Split {
    /// Adds `other`, weighting each by its request count.
    pub fn merge(&mut self, mine: usize, other: &Split, theirs: usize) {
        let total = (mine + theirs).max(1) as f64;
        for part in PARTS {
            let a = self.0.get(part).copied().unwrap_or(0.0) * mine as f64;
            let b = other.0.get(part).copied().unwrap_or(0.0) * theirs as f64;
            self.0.insert(part, (a + b) / total);
        }
    }

    pub fn get(&self, part: &str) -> f64 {
        self.0.get(part).copied().unwrap_or(0.0)
    }

    /// `client 0.21 / workerd 1.10 / ...`, parts with no CPU left out.
    pub fn render(&self) -> String {
        PARTS
            .iter()
            .filter(|p| self.get(p) >= 0.005)
            .map(|p| format!("{p} {:.2}", self.get(p)))
            .collect::<Vec<_>>()
            .join(" / ")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!(self.0)
    }
}

/// The parent of a process (the postmaster, for a backend's pid).
pub fn parent_pid(pid: i32) -> Option<i32> {
    read_stat(pid).map(|s| s.ppid)
}

fn read_stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `comm` is in parentheses and may itself hold spaces or parentheses.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let num = |i: usize| fields.get(i).and_then(|f| f.parse::<i64>().ok());
    // After `comm`: state, ppid, pgrp, ..., utime (index 11), stime, cutime, cstime.
    let ticks = (11..=14).map(num).sum::<Option<i64>>()?;
    Some(Stat {
        pid,
        comm,
        ppid: num(1)? as i32,
        pgrp: num(2)? as i32,
        ticks: ticks.max(0) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_the_client_and_its_cpu_grows() {
        let accounts = Accounts::new(&[]);
        let before = accounts.snapshot().unwrap();
        // A fixed amount of work (tens of ms of CPU here), so a busy machine stretches the
        // wall time, not the CPU time measured.
        let mut x = 0u64;
        for _ in 0..50_000_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let after = accounts.snapshot().unwrap();
        let split = before.per_request(&after, 1);
        assert!(
            split.get("client") >= 20.0,
            "client CPU {}",
            split.get("client")
        );
        assert_eq!(split.get("postgres"), 0.0);
    }

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let me = read_stat(std::process::id() as i32).unwrap();
        assert_eq!(me.pid, std::process::id() as i32);
        assert!(!me.comm.is_empty());
        assert_eq!(me.ppid as u32, std::os::unix::process::parent_id());
        assert_eq!(parent_pid(me.pid), Some(me.ppid));
    }
}
