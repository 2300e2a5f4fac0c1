//! Latency samples taken interleaved: every probe runs a short batch in turn, round after
//! round, so a slow minute of the machine lands on all of them alike instead of on whichever
//! happened to run then. Each batch's CPU is read around it and charged to its probe.

use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use xtask::cpu::{Accounts, Split};

/// Requests per probe per round.
const BATCH: usize = 50;
const WARMUP: usize = 30;

/// One kind of request, measured sequentially on one keep-alive connection.
pub struct Probe<'a> {
    pub name: &'static str,
    pub call: Box<dyn FnMut() -> Result<()> + 'a>,
}

/// A probe that reads its own figure, in milliseconds, instead of being timed whole: e.g. the
/// time to a streamed reply's first chunk, which ends before the call does.
pub struct Gauge<'a> {
    pub name: &'static str,
    pub read: Box<dyn FnMut() -> Result<f64> + 'a>,
}

pub struct Measured {
    /// Milliseconds, sorted.
    samples: Vec<f64>,
    pub cpu: Split,
    /// Requests per second (concurrent runs only).
    pub throughput: Option<f64>,
}

impl Measured {
    pub fn quantile(&self, q: f64) -> f64 {
        let i = ((self.samples.len() as f64 * q) as usize).min(self.samples.len() - 1);
        self.samples[i]
    }

    pub fn p50(&self) -> f64 {
        self.quantile(0.50)
    }

    pub fn p99(&self) -> f64 {
        self.quantile(0.99)
    }

    pub fn json(&self) -> Value {
        json!({
            "p50_ms": self.p50(),
            "p99_ms": self.p99(),
            "samples": self.samples.len(),
            "requests_per_s": self.throughput,
            "cpu_ms_per_request": self.cpu.json(),
        })
    }
}

/// Runs every probe until each has `samples` latencies, `BATCH` at a time in turn.
pub fn interleaved(
    probes: &mut [Probe],
    samples: usize,
    accounts: &Accounts,
) -> Result<Vec<Measured>> {
    let mut gauges: Vec<Gauge> = probes
        .iter_mut()
        .map(|p| {
            let call = &mut p.call;
            Gauge {
                name: p.name,
                read: Box::new(move || {
                    let t = Instant::now();
                    call()?;
                    Ok(t.elapsed().as_secs_f64() * 1000.0)
                }),
            }
        })
        .collect();
    gauged(&mut gauges, samples, accounts)
}

/// How many times [`gauged`] calls each gauge for `samples` figures (warm-up included), so a
/// caller can prepare one fresh resource per call beforehand.
pub fn calls(samples: usize) -> usize {
    WARMUP + samples.div_ceil(BATCH) * BATCH
}

/// [`interleaved`] for gauges: every gauge until each has `samples` figures, `BATCH` at a
/// time in turn.
pub fn gauged(gauges: &mut [Gauge], samples: usize, accounts: &Accounts) -> Result<Vec<Measured>> {
    for g in gauges.iter_mut() {
        for _ in 0..WARMUP {
            (g.read)().with_context(|| format!("warming up {}", g.name))?;
        }
    }
    let mut out: Vec<Measured> = gauges
        .iter()
        .map(|_| Measured {
            samples: Vec::with_capacity(samples),
            cpu: Split::default(),
            throughput: None,
        })
        .collect();
    while out[0].samples.len() < samples {
        for (g, m) in gauges.iter_mut().zip(out.iter_mut()) {
            let before = accounts.snapshot()?;
            for _ in 0..BATCH {
                let figure = (g.read)().with_context(|| format!("measuring {}", g.name))?;
                m.samples.push(figure);
            }
            let split = before.per_request(&accounts.snapshot()?, BATCH);
            m.cpu.merge(m.samples.len() - BATCH, &split, BATCH);
        }
    }
    for m in &mut out {
        m.samples.sort_by(f64::total_cmp);
    }
    Ok(out)
}

/// A request a client thread can make: each thread builds its own from the factory.
pub type Factory<'a> = &'a (dyn Fn() -> Box<dyn FnMut() -> Result<()>> + Sync);

/// `clients` threads each making requests back to back, in `rounds` slices of `slice` per
/// factory, alternating between the factories.
pub fn concurrent(
    factories: &[Factory],
    clients: usize,
    rounds: usize,
    slice: Duration,
    accounts: &Accounts,
) -> Result<Vec<Measured>> {
    let mut out: Vec<(Vec<f64>, Split, Duration)> = factories
        .iter()
        .map(|_| (Vec::new(), Split::default(), Duration::ZERO))
        .collect();
    for _ in 0..rounds {
        for (factory, acc) in factories.iter().zip(out.iter_mut()) {
            let before = accounts.snapshot()?;
            let started = Instant::now();
            let deadline = started + slice;
            let per_thread: Vec<Result<Vec<f64>>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..clients)
                    .map(|_| {
                        s.spawn(move || {
                            let mut call = factory();
                            let mut ms = Vec::new();
                            while Instant::now() < deadline {
                                let t = Instant::now();
                                call()?;
                                ms.push(t.elapsed().as_secs_f64() * 1000.0);
                            }
                            Ok(ms)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| anyhow::bail!("client panicked"))
                    })
                    .collect()
            });
            let elapsed = started.elapsed();
            let mut ms = Vec::new();
            for r in per_thread {
                ms.extend(r?);
            }
            let split = before.per_request(&accounts.snapshot()?, ms.len());
            let done = acc.0.len();
            acc.1.merge(done, &split, ms.len());
            acc.0.extend(ms);
            acc.2 += elapsed;
        }
    }
    Ok(out
        .into_iter()
        .map(|(mut samples, cpu, elapsed)| {
            samples.sort_by(f64::total_cmp);
            Measured {
                throughput: Some(samples.len() as f64 / elapsed.as_secs_f64()),
                samples,
                cpu,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn gauges_take_turns_in_batches_and_report_their_own_figures() {
        let order = RefCell::new(Vec::new());
        let mut gauges: Vec<Gauge> = (0..2)
            .map(|g| {
                let order = &order;
                let mut n = 0.0;
                Gauge {
                    name: "counting",
                    read: Box::new(move || {
                        order.borrow_mut().push(g);
                        n += 1.0;
                        Ok(1000.0 * g as f64 - n)
                    }),
                }
            })
            .collect();
        let m = gauged(&mut gauges, 60, &Accounts::new(&[])).unwrap();
        drop(gauges);
        let order = order.into_inner();
        assert_eq!(order.len(), 2 * calls(60));
        assert_eq!(calls(60), WARMUP + 2 * BATCH);
        let runs: Vec<(usize, usize)> = order
            .chunk_by(|a, b| a == b)
            .map(|run| (run[0], run.len()))
            .collect();
        assert_eq!(
            runs,
            [
                (0, WARMUP),
                (1, WARMUP),
                (0, BATCH),
                (1, BATCH),
                (0, BATCH),
                (1, BATCH)
            ]
        );
        // Each gauge's figures without its 30 warm-up ones, sorted: 1000g - 31 down to 1000g - 130.
        assert_eq!(m[1].samples.len(), 2 * BATCH);
        assert_eq!((m[1].quantile(0.0), m[1].p99()), (870.0, 969.0));
        assert_eq!(m[0].p50(), -80.0);
    }
}
