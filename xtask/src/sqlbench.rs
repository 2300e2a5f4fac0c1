//! SQL throughput of the money path and the queue, each beside a baseline that does the same
//! work, minimally, on plain tables in the same database, with the same number of
//! transactions and clients, measured in the same window (the two take turns in 1 s slices,
//! see [`interleave`]). The ratio value/baseline says what the guarantees cost on this
//! machine, and each side's CPU per unit, bench client and Postgres apart, says where it goes.
//! The media library's page deep in a list is measured the same way beside its first page
//! ([`media`]): there the ratio says what depth costs. Vector search ([`vectors`]) is measured
//! as latency and recall beside exact search over the same rows.
//!
//! Every RPC runs the way PostgREST runs it: one transaction with the role and the JWT claims
//! set, then the function ([`crate::pgrpc`]). The target database is a throwaway one: users,
//! accounts, workers, tasks and tables are created and left behind.

mod interleave;
mod media;
mod money;
mod queue;
pub mod vectors;

use anyhow::{Context, Result};
use postgres::{Client, NoTls};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub baseline_name: String,
    pub baseline: f64,
    /// CPU milliseconds per unit of the real path and of the baseline.
    pub cpu: CpuSplit,
    pub baseline_cpu: CpuSplit,
}

/// CPU milliseconds per unit: the bench's own clients, and the Postgres server (every process
/// of the cluster).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CpuSplit {
    pub client_ms: f64,
    pub postgres_ms: f64,
}

/// One comparison as measured: the real path first, then its baseline.
struct Pair {
    name: String,
    unit: &'static str,
    baseline_name: String,
    measured: [interleave::Measured; 2],
}

pub fn run(db_url: &str) -> Result<Vec<BenchRow>> {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let mut db = connect(db_url)?;
    let mut pairs = money::run(db_url, &mut db, &tag)?;
    pairs.extend(queue::run(db_url, &mut db, &tag)?);
    pairs.extend(media::run(db_url, &mut db, &tag)?);
    Ok(pairs.into_iter().map(row).collect())
}

impl Pair {
    /// Prints the comparison as soon as it is measured.
    fn logged(self) -> Pair {
        let [real, base] = self.measured;
        eprintln!(
            "sqlbench: {}: {:.0} {} (CPU/unit: client {:.2} ms, postgres {:.2} ms); {}: {:.0} \
             (client {:.2} ms, postgres {:.2} ms); ratio {:.2}",
            self.name,
            real.per_second,
            self.unit,
            real.client_cpu_ms,
            real.postgres_cpu_ms,
            self.baseline_name,
            base.per_second,
            base.client_cpu_ms,
            base.postgres_cpu_ms,
            real.per_second / base.per_second
        );
        self
    }
}

fn row(p: Pair) -> BenchRow {
    let [real, base] = p.measured;
    let split = |m: interleave::Measured| CpuSplit {
        client_ms: m.client_cpu_ms,
        postgres_ms: m.postgres_cpu_ms,
    };
    BenchRow {
        name: p.name,
        value: real.per_second,
        unit: p.unit.to_string(),
        baseline_name: p.baseline_name,
        baseline: base.per_second,
        cpu: split(real),
        baseline_cpu: split(base),
    }
}

fn connect(db_url: &str) -> Result<Client> {
    Client::connect(db_url, NoTls).with_context(|| "connecting to the bench database")
}

/// Flushes dirty pages and refreshes statistics of `tables` between measurements, so the
/// setup's writes are not paid inside the next one.
fn settle(db: &mut Client, tables: &[&str]) -> Result<()> {
    // One statement each: VACUUM refuses to run inside the implicit transaction of a batch.
    for t in tables {
        db.batch_execute(&format!("vacuum analyze {t}"))?;
    }
    db.batch_execute("checkpoint")?;
    Ok(())
}
