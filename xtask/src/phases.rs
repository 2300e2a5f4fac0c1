//! Wall-clock time of the named phases of a command, printed as a table. Phases may run at
//! the same time on several threads: each row shows when it started, so overlaps are visible.

use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Phases {
    start: Instant,
    rows: Mutex<Vec<Row>>,
}

struct Row {
    name: String,
    /// Offset from the start of the command; negative for the phase before it (cargo
    /// building xtask itself).
    from: f64,
    took: Duration,
}

impl Default for Phases {
    fn default() -> Self {
        Phases::new()
    }
}

impl Phases {
    pub fn new() -> Phases {
        Phases {
            start: Instant::now(),
            rows: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` as the phase `name`. A name timed twice adds up in one row.
    pub fn time<T>(&self, name: &str, f: impl FnOnce() -> T) -> T {
        let begun = Instant::now();
        let out = f();
        self.add(
            name,
            begun.duration_since(self.start).as_secs_f64(),
            begun.elapsed(),
        );
        out
    }

    /// Records the time cargo spent before it ran this program (building xtask, for
    /// `cargo xtask`), when cargo ran it.
    pub fn add_launch(&self, name: &str) {
        if std::env::var_os("CARGO").is_none() {
            return;
        }
        if let Some(took) = process_age() {
            let took = took.saturating_sub(self.start.elapsed());
            self.add(name, -took.as_secs_f64(), took);
        }
    }

    fn add(&self, name: &str, from: f64, took: Duration) {
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        match rows.iter_mut().find(|r| r.name == name) {
            Some(row) => row.took += took,
            None => rows.push(Row {
                name: name.to_string(),
                from,
                took,
            }),
        }
    }

    /// The table: each phase with its start offset and duration, then the wall-clock total
    /// since the command started (plus the launch phase, which came before it).
    pub fn table(&self) -> String {
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        const TOTAL: &str = "total (wall clock)";
        let width = rows
            .iter()
            .map(|r| r.name.len())
            .fold(TOTAL.len(), usize::max);
        let mut out = format!(
            "  {:<width$}  {:>7}  {:>7}\n",
            "phase", "at (s)", "took (s)"
        );
        for r in rows.iter() {
            let _ = writeln!(
                out,
                "  {:<width$}  {:>7.1}  {:>7.1}",
                r.name,
                r.from,
                r.took.as_secs_f64()
            );
        }
        let before = rows.iter().map(|r| -r.from).fold(0.0, f64::max);
        let _ = writeln!(
            out,
            "  {:<width$}  {:>7}  {:>7.1}",
            TOTAL,
            "",
            before + self.start.elapsed().as_secs_f64()
        );
        out
    }
}

/// How long ago this process started. `cargo run` execs the program in its own process, so
/// that is when cargo started. From /proc: the machine's uptime in seconds, and the
/// process's start in clock ticks since boot.
fn process_age() -> Option<Duration> {
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Field 22; the fields after the command name, which may hold spaces, start at 3.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let started: f64 = after_name.split(' ').nth(19)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0)
        .then(|| Duration::from_secs_f64((uptime - started / per_second as f64).max(0.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_age_grows_with_the_clock() {
        let before = process_age().expect("/proc is readable");
        std::thread::sleep(Duration::from_millis(300));
        let grown = process_age().expect("/proc is readable") - before;
        // /proc/uptime has a resolution of 10 ms.
        assert!(grown > Duration::from_millis(250), "{grown:?}");
        assert!(grown < Duration::from_millis(1000), "{grown:?}");
    }

    #[test]
    fn a_phase_timed_twice_is_one_row_with_the_sum() {
        let phases = Phases::new();
        phases.time("build", || std::thread::sleep(Duration::from_millis(20)));
        let answer = phases.time("build", || {
            std::thread::sleep(Duration::from_millis(20));
            42
        });
        assert_eq!(answer, 42);
        let rows = phases.rows.lock().unwrap();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].took >= Duration::from_millis(40));
    }

    #[test]
    fn the_table_lists_phases_in_order_and_the_total() {
        let phases = Phases::new();
        phases.add("launch", -2.0, Duration::from_secs(2));
        phases.time("tools", || ());
        let table = phases.table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[1].trim_start().starts_with("launch"));
        assert!(lines[2].trim_start().starts_with("tools"));
        let total: f64 = lines[3].split_whitespace().last().unwrap().parse().unwrap();
        assert!((2.0..3.0).contains(&total), "{table}");
    }
}
