//! Two sides of one comparison measured in the same window: the clients of each side connect
//! and prepare up front, then the sides take turns in slices ([`BENCH`]), A, B, A, B..., so
//! a checkpoint, a noisy neighbour or autovacuum lands on both rather than on whichever ran
//! second. A slice ends when its side's last operation returns, so no operation is cut off or
//! counted in the other side's time. Each side's CPU is read from `/proc` over its own slices.

use crate::cpu::Accounts;
use anyhow::{anyhow, bail, Context, Result};
use postgres::Client;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Barrier, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long the sides take turns.
#[derive(Clone, Copy)]
struct Schedule {
    slice: Duration,
    /// Slices per side run before measuring: connections warm, caches and plans made.
    warmup_slices: usize,
    /// Slices per side that are measured.
    measured_slices: usize,
}

/// The bench's: 1 s slices, 5 measured per side after one each to warm up.
const BENCH: Schedule = Schedule {
    slice: Duration::from_secs(1),
    warmup_slices: 1,
    measured_slices: 5,
};

/// One operation of one client: the units it completed (0: the work ran out).
pub type Op<'a> = Box<dyn FnMut() -> Result<u64> + Send + 'a>;

/// One side: `clients` threads, each with the operation `connect(i)` returns.
pub struct Side<'a> {
    pub clients: usize,
    pub connect: &'a (dyn Fn(usize) -> Result<Op<'a>> + Sync),
}

/// What a side did over its measured slices.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub per_second: f64,
    /// CPU milliseconds per unit: this process (the bench clients) and the Postgres server.
    pub client_cpu_ms: f64,
    pub postgres_cpu_ms: f64,
}

/// Slice numbers are `slice index * 2 + side`; these two mark the pauses and the end.
const PAUSE: usize = usize::MAX - 1;
const STOP: usize = usize::MAX;

struct Control {
    slice: AtomicUsize,
    /// Operations under way, plus clients checking whether they may start one.
    inflight: AtomicUsize,
    failed: AtomicBool,
    error: Mutex<Option<anyhow::Error>>,
    /// Units per side, counted for measured slices only.
    units: [AtomicU64; 2],
    changed: Mutex<()>,
    wake: Condvar,
}

impl Control {
    fn set(&self, slice: usize) {
        let _guard = self.changed.lock().unwrap_or_else(|e| e.into_inner());
        self.slice.store(slice, SeqCst);
        self.wake.notify_all();
    }

    fn wait_past(&self, seen: usize) {
        let mut guard = self.changed.lock().unwrap_or_else(|e| e.into_inner());
        while self.slice.load(SeqCst) == seen {
            guard = self.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn fail(&self, e: anyhow::Error) {
        self.error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(e);
        self.failed.store(true, SeqCst);
    }
}

/// Runs `sides` in alternating slices; `db` is any connection to the measured server (its
/// backend's parent is the postmaster whose CPU is counted).
pub fn measure(db: &mut Client, sides: [Side<'_>; 2]) -> Result<[Measured; 2]> {
    let postmaster = postmaster_pid(db)?;
    let accounts = Accounts::new(&[("postgres", postmaster as u32)]);
    run(BENCH, sides, || cpu_seconds(&accounts))
}

/// The slices themselves; `cpu` reads (client, server) CPU seconds so far.
fn run(
    schedule: Schedule,
    sides: [Side<'_>; 2],
    cpu: impl Fn() -> Result<(f64, f64)>,
) -> Result<[Measured; 2]> {
    let warmup = 2 * schedule.warmup_slices;
    let ctl = Control {
        slice: AtomicUsize::new(PAUSE),
        inflight: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
        error: Mutex::new(None),
        units: [AtomicU64::new(0), AtomicU64::new(0)],
        changed: Mutex::new(()),
        wake: Condvar::new(),
    };
    let ready = Barrier::new(sides.iter().map(|s| s.clients).sum::<usize>() + 1);
    let mut seconds = [0.0f64; 2];
    let mut used = [(0.0f64, 0.0f64); 2];
    let slices = std::thread::scope(|scope| {
        for (side, s) in sides.iter().enumerate() {
            for i in 0..s.clients {
                let (ctl, ready, connect) = (&ctl, &ready, s.connect);
                scope.spawn(move || client(ctl, ready, warmup, side, connect(i)));
            }
        }
        ready.wait();
        let slices = (|| -> Result<()> {
            for n in 0..warmup + 2 * schedule.measured_slices {
                if ctl.failed.load(SeqCst) {
                    break;
                }
                let (side, measured) = (n % 2, n >= warmup);
                let before = cpu()?;
                let started = Instant::now();
                ctl.set(n);
                std::thread::sleep(schedule.slice);
                ctl.set(PAUSE);
                while ctl.inflight.load(SeqCst) > 0 {
                    std::thread::sleep(Duration::from_micros(50));
                }
                let elapsed = started.elapsed().as_secs_f64();
                let after = cpu()?;
                if measured {
                    seconds[side] += elapsed;
                    used[side].0 += after.0 - before.0;
                    used[side].1 += after.1 - before.1;
                }
            }
            Ok(())
        })();
        // Set on every way out: the clients wait for it, and the scope for them.
        ctl.set(STOP);
        slices
    });
    if let Some(e) = ctl.error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    slices?;
    Ok([0, 1].map(|side| {
        let units = ctl.units[side].load(SeqCst).max(1) as f64;
        Measured {
            per_second: ctl.units[side].load(SeqCst) as f64 / seconds[side],
            client_cpu_ms: used[side].0 * 1000.0 / units,
            postgres_cpu_ms: used[side].1 * 1000.0 / units,
        }
    }))
}

/// One client thread: waits for everyone to be connected, then runs its operation whenever
/// the current slice is its side's.
fn client(ctl: &Control, ready: &Barrier, warmup: usize, side: usize, op: Result<Op<'_>>) {
    // Everyone waits for everyone, connected or not, so no thread blocks forever.
    ready.wait();
    let mut op = match op {
        Ok(op) => op,
        Err(e) => return ctl.fail(e.context("connecting a bench client")),
    };
    loop {
        // Counted in before the slice is read: the controller then waits for this operation.
        ctl.inflight.fetch_add(1, SeqCst);
        let slice = ctl.slice.load(SeqCst);
        let mine = slice < PAUSE && slice % 2 == side && !ctl.failed.load(SeqCst);
        if mine {
            match op() {
                Ok(0) => ctl.fail(anyhow!("the work ran out: queue more rows")),
                Ok(n) if slice >= warmup => {
                    ctl.units[side].fetch_add(n, SeqCst);
                }
                Ok(_) => {}
                Err(e) => ctl.fail(e),
            }
        }
        ctl.inflight.fetch_sub(1, SeqCst);
        if slice == STOP {
            return;
        }
        if !mine || ctl.failed.load(SeqCst) {
            ctl.wait_past(slice);
        }
    }
}

/// The postmaster: the parent of this connection's backend.
fn postmaster_pid(db: &mut Client) -> Result<i32> {
    let backend: i32 = db.query_one("select pg_backend_pid()", &[])?.get(0);
    crate::cpu::parent_pid(backend).with_context(|| {
        format!("reading /proc/{backend}/stat: the bench needs the database on this machine")
    })
}

/// CPU seconds so far of this process, and of the postmaster and every process it started.
fn cpu_seconds(accounts: &Accounts) -> Result<(f64, f64)> {
    let now = accounts.snapshot()?;
    if now.seconds("postgres") == 0.0 {
        bail!("no CPU time found for the postmaster");
    }
    Ok((now.seconds("client"), now.seconds("postgres")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sides_never_overlap_and_each_counts_only_its_measured_slices() {
        let log: Mutex<Vec<(usize, Instant, Instant)>> = Mutex::new(Vec::new());
        let started = Instant::now();
        let op = |which: usize| -> Result<Op<'_>> {
            let log = &log;
            Ok(Box::new(move || {
                let from = Instant::now();
                std::thread::sleep(Duration::from_millis(2));
                log.lock().unwrap().push((which, from, Instant::now()));
                Ok(1 + which as u64)
            }))
        };
        let (a, b) = (|_: usize| op(0), |_: usize| op(1));
        let schedule = Schedule {
            slice: Duration::from_millis(40),
            warmup_slices: 1,
            measured_slices: 3,
        };
        let cpu = || Ok((started.elapsed().as_secs_f64(), 0.0));
        let [ma, mb] = run(
            schedule,
            [
                Side {
                    clients: 3,
                    connect: &a,
                },
                Side {
                    clients: 2,
                    connect: &b,
                },
            ],
            cpu,
        )
        .unwrap();
        let log = log.into_inner().unwrap();
        for (x, xf, xt) in &log {
            for (y, yf, yt) in &log {
                assert!(
                    x == y || xt <= yf || yt <= xf,
                    "sides {x} and {y} overlapped"
                );
            }
        }
        // About 3 clients x 40 ms / 2 ms per slice; side b counts 2 units per operation.
        assert!(ma.per_second > 300.0, "{ma:?}");
        assert!(mb.per_second > 2.0 * 300.0 * 2.0 / 3.0, "{mb:?}");
        assert!(
            ma.client_cpu_ms > 0.0 && ma.postgres_cpu_ms == 0.0,
            "{ma:?}"
        );
    }

    #[test]
    fn a_failing_operation_stops_the_measurement_with_its_error() {
        let failing = |_: usize| -> Result<Op<'_>> { Ok(Box::new(|| bail!("boom"))) };
        let idle = |_: usize| -> Result<Op<'_>> { Ok(Box::new(|| Ok(1))) };
        let schedule = Schedule {
            slice: Duration::from_millis(10),
            warmup_slices: 1,
            measured_slices: 100,
        };
        let err = run(
            schedule,
            [
                Side {
                    clients: 1,
                    connect: &idle,
                },
                Side {
                    clients: 2,
                    connect: &failing,
                },
            ],
            || Ok((0.0, 0.0)),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "boom");
    }
}
