//! Vector search: top-10 semantic queries through `api.search` as the user (RLS and the
//! function's own user filter keep one user's rows), on the real `document_chunks` table with
//! its real HNSW index, beside exact search over the same rows in the same run: the same call
//! on a connection with index scans off, so Postgres reads the user's rows and sorts them by
//! the exact distance. Recall@10 compares the two answers query by query.
//!
//! The planner decides, per query, whether to walk the index (of everyone's chunks, the
//! user's picked out as it goes) or to read the user's own chunks and sort them, which
//! depends on the user's size. So users differ in size as they do in practice (Zipf: a few
//! hold much, most hold one file), queries start from a chunk picked at random (users search
//! in proportion to what they store), and the queries that went through the index are
//! reported apart (each call reads its transaction's index scan count). A third side runs
//! api.search's nearest-chunk query with its HNSW settings and no other path open to the
//! planner, so the index's own recall under a per-user filter is measured whatever the
//! planner picks.
//!
//! The vectors are clustered, as embeddings are, not uniform random (in 1536 dimensions those
//! are all nearly orthogonal, a shape no embedding model produces): shared topics, each file a
//! variant of one topic (a user's few centroids), each chunk a noisy copy of its file's
//! centroid, all normalized. A query is a noisy copy of one of the user's chunks. The rows are
//! streamed with binary COPY, then the index is built with its migration's definition, timed.

use super::connect;
use crate::pgrpc::begin_as;
use anyhow::{anyhow, bail, Context, Result};
use postgres::{Client, Statement};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;
use uuid::Uuid;

const DIMENSIONS: usize = 1536;
const INDEX: &str = "public.document_chunks_embedding_idx";
/// The index build's memory: the whole graph of the bench's 100,000 vectors (about 0.7 GB)
/// must fit, or pgvector finishes the build by slow on-disk inserts. Raising it for a build is
/// what pgvector and Supabase advise.
const BUILD_MEMORY: &str = "1GB";
/// Files sharing a topic: other users' chunks on it are the near misses a per-user filter
/// must skip.
const FILES_PER_TOPIC: usize = 20;
/// Noise relative to the unit vector it is added to: a file's centroid to its topic (cosine
/// 0.8), a chunk to its file (0.8, so chunks of one file are 0.64 apart, of one topic 0.41),
/// a query to its chunk (0.89).
const FILE_SPREAD: f32 = 0.75;
const CHUNK_SPREAD: f32 = 0.75;
const QUERY_SPREAD: f32 = 0.5;
/// Queries per side before measuring: plans cached, pages warm.
const WARMUP: usize = 20;
/// Queries per turn: the sides take turns (which one goes first rotates).
const TURN: usize = 50;
const TOP: usize = 10;

/// How much data, and how many queries.
struct Scale {
    users: usize,
    vectors: usize,
    chunks_per_file: usize,
    queries: usize,
}

/// `cargo xtask bench`'s: 100,000 vectors over 1,000 users, 2,000 queries.
const BENCH: Scale = Scale {
    users: 1000,
    vectors: 100_000,
    chunks_per_file: 25,
    queries: 2000,
};

/// What one run measured.
#[derive(Debug, Serialize)]
pub struct VectorSearch {
    pub vectors: usize,
    pub users: usize,
    pub dimensions: usize,
    /// The smallest and the largest user's chunks.
    pub chunks_per_user: (usize, usize),
    /// Writing users, files and chunks (COPY), without the index.
    pub load_seconds: f64,
    pub index_build_seconds: f64,
    /// The index's options and the build's settings.
    pub index_options: String,
    pub build_settings: String,
    /// api.search's own settings (its SET clause): the HNSW search parameters.
    pub search_settings: String,
    /// api.search as the API calls it, beside exact search.
    pub all: Compared,
    /// The queries the planner ran through the HNSW index, if any.
    pub through_index: Option<Compared>,
    /// The HNSW index on every query, beside exact search.
    pub forced_index: Compared,
    /// CPU milliseconds per query of each side: api.search, exact search, the index forced.
    pub cpu_ms: [Cpu; 3],
}

/// Some queries, searched one way and exactly: latencies in milliseconds, each call timed
/// whole (transaction, role, claims, query, commit).
#[derive(Debug, Serialize)]
pub struct Compared {
    pub queries: usize,
    /// Mean over the queries of |answer ∩ exact top 10| / 10.
    pub recall_at_10: f64,
    pub searched: Percentiles,
    pub exact: Percentiles,
}

#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Cpu {
    pub client: f64,
    pub postgres: f64,
}

/// The bench run, on a throwaway database (the index is dropped and built again there).
pub fn run(db_url: &str) -> Result<VectorSearch> {
    let v = measure(db_url, &BENCH)?;
    let line = |c: &Compared| {
        format!(
            "{} queries, recall@10 {:.3}, p50 {:.2} / p99 {:.2} ms (exact {:.2} / {:.2} ms)",
            c.queries,
            c.recall_at_10,
            c.searched.p50_ms,
            c.searched.p99_ms,
            c.exact.p50_ms,
            c.exact.p99_ms
        )
    };
    eprintln!(
        "sqlbench: vectors: api.search {}; through the index: {}; index forced: {}; index build \
         {:.1} s, load {:.1} s",
        line(&v.all),
        v.through_index.as_ref().map_or("none".into(), line),
        line(&v.forced_index),
        v.index_build_seconds,
        v.load_seconds
    );
    Ok(v)
}

impl VectorSearch {
    /// The bench table's rows: name, value, baseline, ratio, CPU.
    pub fn rows(&self) -> Vec<[String; 5]> {
        let value = |c: &Compared| {
            format!(
                "{:.2} / {:.2} ms, recall@{TOP} {:.3}",
                c.searched.p50_ms, c.searched.p99_ms, c.recall_at_10
            )
        };
        let exact = |c: &Compared| {
            format!(
                "exact search (index scans off), same {} queries: {:.2} / {:.2} ms",
                thousands(c.queries),
                c.exact.p50_ms,
                c.exact.p99_ms
            )
        };
        let ratio = |c: &Compared| format!("{:.2}x", c.searched.p50_ms / c.exact.p50_ms);
        let cpu = |c: &Cpu| format!("client {:.2} / postgres {:.2}", c.client, c.postgres);
        let (min, max) = self.chunks_per_user;
        let mut rows = vec![[
            format!(
                "vector search: api.search semantic top-{TOP} as the user, {} x {} clustered \
                 synthetic vectors over {} users ({} to {} each, Zipf), queries near random chunks \
                 (p50 / p99, recall@{TOP}; target recall@{TOP} >= 0.95 at p50 <= 10 ms)",
                thousands(self.vectors),
                self.dimensions,
                thousands(self.users),
                thousands(min),
                thousands(max),
            ),
            value(&self.all),
            exact(&self.all),
            ratio(&self.all),
            format!(
                "{} (baseline: {})",
                cpu(&self.cpu_ms[0]),
                cpu(&self.cpu_ms[1])
            ),
        ]];
        let share = |n: usize| 100.0 * n as f64 / self.all.queries as f64;
        rows.push(match &self.through_index {
            Some(c) => [
                format!(
                    "  the {} queries ({:.0}%) the planner ran through the HNSW index",
                    thousands(c.queries),
                    share(c.queries),
                ),
                value(c),
                exact(c),
                ratio(c),
                "-".into(),
            ],
            None => [
                "  queries the planner ran through the HNSW index".into(),
                "none: the planner read and sorted the user's own chunks every time".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ],
        });
        rows.push([
            format!(
                "  the HNSW index on every query ({}): api.search's user filter, no other path \
                 open to the planner (seq and bitmap scans off)",
                self.search_settings
            ),
            value(&self.forced_index),
            exact(&self.forced_index),
            ratio(&self.forced_index),
            cpu(&self.cpu_ms[2]),
        ]);
        rows.push([
            format!(
                "  HNSW index build after loading ({}; {})",
                self.index_options, self.build_settings
            ),
            format!("{:.1} s", self.index_build_seconds),
            format!("loading the rows (COPY): {:.1} s", self.load_seconds),
            "-".into(),
            "-".into(),
        ]);
        rows
    }
}

/// Loads `scale`'s data into the database at `db_url` (which must have the migrations), builds
/// the index and measures every side.
fn measure(db_url: &str, scale: &Scale) -> Result<VectorSearch> {
    let mut db = connect(db_url)?;
    let tag = Uuid::new_v4().simple().to_string()[..12].to_string();
    let index_def: String = db
        .query_one("select pg_get_indexdef($1::text::regclass)", &[&INDEX])?
        .get(0);
    // Built again after loading: inserting 100,000 rows into the graph one by one is what
    // the build avoids.
    db.batch_execute(&format!("drop index {INDEX}"))?;
    let started = Instant::now();
    let files = create_files(&mut db, &tag, scale)?;
    let queries = load_chunks(&mut db, &files, scale)?;
    let load_seconds = started.elapsed().as_secs_f64();
    let (index_build_seconds, build_settings) = build_index(&mut db, &index_def)?;
    super::settle(
        &mut db,
        &["public.document_chunks", "public.files", "public.uploads"],
    )?;
    let index_options: String = db
        .query_one(
            "select coalesce(array_to_string(reloptions, ', '), 'm 16, ef_construction 64: pgvector''s defaults')
             from pg_class where oid = $1::text::regclass",
            &[&INDEX],
        )?
        .get(0);
    let search_settings: String = db
        .query_one(
            "select array_to_string(array(select s from unnest(proconfig) s where s like 'hnsw.%'), ', ')
             from pg_proc where oid = 'api.search(extensions.vector, text, text, text, uuid, uuid[], int)'::regprocedure",
            &[],
        )?
        .get(0);
    let owner: HashMap<Uuid, Uuid> = files
        .iter()
        .flat_map(|(user, files)| files.iter().map(move |f| (*f, *user)))
        .collect();
    let (outcomes, cpu_ms) = search_all(&mut db, db_url, &search_settings, &queries, &owner)?;
    let sizes = files.iter().map(|(_, f)| f.len() * scale.chunks_per_file);
    let through: Vec<&Outcome> = outcomes.iter().filter(|o| o.indexed).collect();
    Ok(VectorSearch {
        vectors: files.iter().map(|(_, f)| f.len()).sum::<usize>() * scale.chunks_per_file,
        users: files.len(),
        dimensions: DIMENSIONS,
        chunks_per_user: (sizes.clone().min().unwrap_or(0), sizes.max().unwrap_or(0)),
        load_seconds,
        index_build_seconds,
        index_options,
        build_settings,
        search_settings,
        all: compare(&outcomes.iter().collect::<Vec<_>>(), Side::Api),
        through_index: (!through.is_empty()).then(|| compare(&through, Side::Api)),
        forced_index: compare(&outcomes.iter().collect::<Vec<_>>(), Side::Forced),
        cpu_ms,
    })
}

/// Files per user for `files` files over `users` users: one each, the rest by Zipf's law
/// (the r-th largest user gets a share proportional to 1/r), largest remainders rounded up.
fn zipf_files(users: usize, files: usize) -> Vec<usize> {
    let extra = files.saturating_sub(users) as f64;
    let h: f64 = (1..=users).map(|r| 1.0 / r as f64).sum();
    let exact: Vec<f64> = (1..=users).map(|r| extra / (r as f64 * h)).collect();
    let mut counts: Vec<usize> = exact.iter().map(|x| 1 + *x as usize).collect();
    let mut by_remainder: Vec<usize> = (0..users).collect();
    by_remainder.sort_by(|a, b| exact[*b].fract().total_cmp(&exact[*a].fract()));
    let missing = files.saturating_sub(counts.iter().sum());
    for i in by_remainder.into_iter().take(missing) {
        counts[i] += 1;
    }
    counts
}

/// The users and their files (completed, each with its upload), as the superuser: per user,
/// their file ids.
fn create_files(db: &mut Client, tag: &str, scale: &Scale) -> Result<Vec<(Uuid, Vec<Uuid>)>> {
    // Users first, in a statement of their own: their profiles come from a trigger the
    // uploads' foreign key needs to have run.
    let users: Vec<Uuid> = db
        .query(
            "insert into auth.users (email, raw_user_meta_data)
             select format('sqlbench-vectors-%s-%s@example.com', $1::text, g), '{}'::jsonb
             from generate_series(1, $2::int) g
             returning id",
            &[&tag, &(scale.users as i32)],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let counts: Vec<i32> = zipf_files(scale.users, scale.vectors / scale.chunks_per_file)
        .into_iter()
        .map(|n| n as i32)
        .collect();
    let rows = db
        .query(
            "with up as (
               insert into public.uploads (user_id, purpose, bucket, path, content_type, bytes, filename)
               select u, 'document', 'documents', format('%s/%s.txt', u, gen_random_uuid()),
                 'text/plain', 40000, format('notes-%s.txt', f)
               from unnest($1::uuid[], $2::int[]) t (u, n), generate_series(1, n) f
               returning id, user_id, filename, bytes)
             insert into public.files (user_id, upload_id, name, mime_type, size_bytes, status,
               chunk_count, extracted_chars, completed_at)
             select user_id, id, filename, 'text/plain', bytes, 'completed', $3::int, bytes, now() from up
             returning user_id, id",
            &[&users, &counts, &(scale.chunks_per_file as i32)],
        )
        .context("writing the bench's files")?;
    let mut by_user: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for r in &rows {
        by_user.entry(r.get(0)).or_default().push(r.get(1));
    }
    let mut users: Vec<(Uuid, Vec<Uuid>)> = by_user.into_iter().collect();
    users.sort();
    Ok(users)
}

/// One query: whose it is and its vector.
struct Query {
    user: Uuid,
    vector: Vec<f32>,
}

/// Streams every chunk with binary COPY; returns the queries, noisy copies of chunks picked
/// at random as they go by (so the 600 MB of vectors never sit in memory).
fn load_chunks(db: &mut Client, files: &[(Uuid, Vec<Uuid>)], scale: &Scale) -> Result<Vec<Query>> {
    let mut rng = Rng(0x5eed_0f5e_a2c4);
    let file_count: usize = files.iter().map(|(_, f)| f.len()).sum();
    let topics: Vec<Vec<f32>> = (0..file_count.div_ceil(FILES_PER_TOPIC))
        .map(|_| rng.unit())
        .collect();
    let mut picks: Vec<usize> = (0..scale.queries)
        .map(|_| rng.below(file_count * scale.chunks_per_file))
        .collect();
    picks.sort_unstable();
    let mut picks = picks.into_iter().peekable();
    let mut queries = Vec::new();
    let mut copy = Copy::start(db)?;
    let mut n = 0;
    for (user, user_files) in files {
        for file in user_files {
            let topic = &topics[rng.below(topics.len())];
            let centroid = rng.near(topic, FILE_SPREAD);
            for i in 0..scale.chunks_per_file {
                let chunk = rng.near(&centroid, CHUNK_SPREAD);
                while picks.next_if_eq(&n).is_some() {
                    queries.push(Query {
                        user: *user,
                        vector: rng.near(&chunk, QUERY_SPREAD),
                    });
                }
                let content =
                    format!("Synthetic chunk {i} of {file}: clustered vectors for the bench.");
                copy.row(file, user, i as i32, &content, &chunk)?;
                n += 1;
            }
        }
    }
    copy.finish()?;
    // Queries in a random order, not one user's back to back (Fisher-Yates).
    for i in (1..queries.len()).rev() {
        let j = rng.below(i + 1);
        queries.swap(i, j);
    }
    Ok(queries)
}

/// Builds the index from its definition, timed: the build settings are the session's.
fn build_index(db: &mut Client, def: &str) -> Result<(f64, String)> {
    db.batch_execute(&format!("set maintenance_work_mem = '{BUILD_MEMORY}'"))?;
    let workers: String = db
        .query_one(
            "select current_setting('max_parallel_maintenance_workers')",
            &[],
        )?
        .get(0);
    let started = Instant::now();
    db.batch_execute(def).context("building the HNSW index")?;
    let seconds = started.elapsed().as_secs_f64();
    db.batch_execute("reset maintenance_work_mem")?;
    Ok((
        seconds,
        format!("maintenance_work_mem {BUILD_MEMORY}, up to {workers} parallel workers"),
    ))
}

/// The three ways a query is run, in the order of [`Outcome::millis`].
#[derive(Clone, Copy)]
enum Side {
    /// api.search, as the API calls it.
    Api,
    /// api.search with index scans off: the exact answer.
    Exact,
    /// The user's nearest chunks through the HNSW index, no other path open.
    Forced,
}

const SIDES: [Side; 3] = [Side::Api, Side::Exact, Side::Forced];

/// One query's answers.
struct Outcome {
    millis: [f64; 3],
    /// Whether api.search scanned the HNSW index for it.
    indexed: bool,
    /// How many of exact search's 10 each side found (the exact side: 10).
    found: [usize; 3],
}

/// Runs every query each way, the sides taking turns of [`TURN`] queries (each side first in
/// turn); returns each query's outcome and each side's CPU per query. Fails if an answer holds
/// another user's chunk, exact search finds fewer than 10 or uses the index, or the forced
/// side does not.
fn search_all(
    db: &mut Client,
    db_url: &str,
    hnsw_settings: &str,
    queries: &[Query],
    owner: &HashMap<Uuid, Uuid>,
) -> Result<(Vec<Outcome>, [Cpu; 3])> {
    let mut sides = SIDES
        .iter()
        .map(|s| Searcher::new(db_url, *s, hnsw_settings))
        .collect::<Result<Vec<_>>>()?;
    let accounts = postgres_accounts(db)?;
    for q in queries.iter().take(WARMUP) {
        for s in &mut sides {
            s.search(q, owner)?;
        }
    }
    let mut answers: [Vec<Answer>; 3] = Default::default();
    let mut cpu = [Cpu::default(); 3];
    for (turn, batch) in queries.chunks(TURN).enumerate() {
        for k in 0..SIDES.len() {
            let side = (turn + k) % SIDES.len();
            let before = accounts.snapshot()?;
            for q in batch {
                answers[side].push(sides[side].search(q, owner)?);
            }
            let after = accounts.snapshot()?;
            cpu[side].client += after.seconds("client") - before.seconds("client");
            cpu[side].postgres += after.seconds("postgres") - before.seconds("postgres");
        }
    }
    let [api, exact, forced] = answers;
    let outcomes = api
        .into_iter()
        .zip(exact)
        .zip(forced)
        .map(|((a, e), f)| {
            if e.ids.len() != TOP || e.indexed || !f.indexed {
                bail!(
                    "exact search returned {} chunks (through the index: {}); the forced side \
                     used the index: {}",
                    e.ids.len(),
                    e.indexed,
                    f.indexed
                );
            }
            let found = |x: &Answer| x.ids.iter().filter(|id| e.ids.contains(id)).count();
            Ok(Outcome {
                millis: [a.millis, e.millis, f.millis],
                indexed: a.indexed,
                found: [found(&a), TOP, found(&f)],
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let per_query = |c: Cpu| Cpu {
        client: c.client * 1000.0 / queries.len() as f64,
        postgres: c.postgres * 1000.0 / queries.len() as f64,
    };
    Ok((outcomes, cpu.map(per_query)))
}

/// `side`'s answers to `outcomes` beside exact search's.
fn compare(outcomes: &[&Outcome], side: Side) -> Compared {
    let percentiles = |side: Side| {
        let mut v: Vec<f64> = outcomes.iter().map(|o| o.millis[side as usize]).collect();
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
        Percentiles {
            p50_ms: at(0.50),
            p99_ms: at(0.99),
        }
    };
    let found: usize = outcomes.iter().map(|o| o.found[side as usize]).sum();
    Compared {
        queries: outcomes.len(),
        recall_at_10: found as f64 / (outcomes.len() * TOP) as f64,
        searched: percentiles(side),
        exact: percentiles(Side::Exact),
    }
}

/// One call's answer: the chunk ids, best first, whether the index was scanned, how long it
/// took.
struct Answer {
    ids: Vec<Uuid>,
    indexed: bool,
    millis: f64,
}

/// One side's connection and prepared statements: the search, and its transaction's scans of
/// the index.
struct Searcher {
    db: Client,
    call: Statement,
    scans: Statement,
}

impl Searcher {
    /// `hnsw_settings`: api.search's, `name=value` joined by ", ", for the forced side.
    fn new(db_url: &str, side: Side, hnsw_settings: &str) -> Result<Searcher> {
        let mut db = connect(db_url)?;
        let call = match side {
            // As the API calls it for `POST /v1/search` in semantic mode over files.
            Side::Api | Side::Exact => format!(
                "select api.search(p_embedding => $1::real[]::extensions.vector, p_scope => 'files',
                   p_mode => 'semantic', p_limit => {TOP})"
            ),
            // api.search's chunk query, without the check that the file is completed (all
            // are), so that nothing but the index can order it.
            Side::Forced => format!(
                "select jsonb_build_object('items', coalesce(jsonb_agg(jsonb_build_object(
                   'id', s.id, 'file_id', s.file_id) order by s.distance, s.id), '[]'::jsonb))
                 from (select k.id, k.file_id,
                         k.embedding operator(extensions.<=>) $1::real[]::extensions.vector as distance
                       from public.document_chunks k
                       where k.user_id = (select auth.uid()) and k.embedding is not null
                       order by k.embedding operator(extensions.<=>) $1::real[]::extensions.vector
                       limit {TOP}) s"
            ),
        };
        match side {
            Side::Api => {}
            // HNSW answers only index scans: without them the planner reads the user's rows
            // and sorts them by the exact distance.
            Side::Exact => db.batch_execute("set enable_indexscan = off")?,
            Side::Forced => {
                db.batch_execute("set enable_seqscan = off; set enable_bitmapscan = off")?;
                for setting in hnsw_settings.split(", ").filter(|s| !s.is_empty()) {
                    let (name, value) = setting
                        .split_once('=')
                        .ok_or_else(|| anyhow!("api.search's setting {setting}"))?;
                    db.execute("select set_config($1, $2, false)", &[&name, &value])?;
                }
            }
        }
        let call = db.prepare(&call)?;
        let scans = db.prepare(&format!(
            "select pg_stat_get_xact_numscans('{INDEX}'::regclass)"
        ))?;
        Ok(Searcher { db, call, scans })
    }

    /// Runs `q` as its user the way PostgREST does (see [`crate::pgrpc`]), timed without the
    /// look at the index scans before the commit. Fails on a chunk of another user's.
    fn search(&mut self, q: &Query, owner: &HashMap<Uuid, Uuid>) -> Result<Answer> {
        let started = Instant::now();
        begin_as(&mut self.db, "authenticated", Some(q.user))?;
        let r: serde_json::Value = match self.db.query_one(&self.call, &[&q.vector]) {
            Ok(row) => row.get(0),
            Err(e) => {
                let _ = self.db.batch_execute("rollback");
                return Err(e.into());
            }
        };
        let searched = started.elapsed();
        let scans: i64 = self.db.query_one(&self.scans, &[])?.get(0);
        let committing = Instant::now();
        self.db.batch_execute("commit")?;
        let millis = (searched + committing.elapsed()).as_secs_f64() * 1000.0;
        let items = r["items"]
            .as_array()
            .ok_or_else(|| anyhow!("the search returned {r}"))?;
        let ids = items
            .iter()
            .map(|item| {
                let id = item["id"].as_str().and_then(|s| s.parse().ok());
                let file = item["file_id"]
                    .as_str()
                    .and_then(|s| s.parse::<Uuid>().ok());
                match (id, file.and_then(|f| owner.get(&f))) {
                    (Some(id), Some(user)) if *user == q.user => Ok(id),
                    _ => bail!("the search returned a chunk that is not the caller's: {item}"),
                }
            })
            .collect::<Result<_>>()?;
        Ok(Answer {
            ids,
            indexed: scans > 0,
            millis,
        })
    }
}

/// CPU accounting for this process and the server `db` is connected to (which must run on
/// this machine: its backends are read from `/proc`).
fn postgres_accounts(db: &mut Client) -> Result<crate::cpu::Accounts> {
    let backend: i32 = db.query_one("select pg_backend_pid()", &[])?.get(0);
    let postmaster = crate::cpu::parent_pid(backend).with_context(|| {
        format!("reading /proc/{backend}/stat: the bench needs the database on this machine")
    })?;
    Ok(crate::cpu::Accounts::new(&[(
        "postgres",
        postmaster as u32,
    )]))
}

/// A binary COPY into document_chunks, written by hand: the format is a header, then per row
/// a field count and each field's length and bytes, all big-endian.
struct Copy<'a> {
    out: postgres::CopyInWriter<'a>,
    buf: Vec<u8>,
}

impl<'a> Copy<'a> {
    fn start(db: &'a mut Client) -> Result<Copy<'a>> {
        let mut out = db.copy_in(
            "copy public.document_chunks (file_id, user_id, chunk_index, content, token_count, embedding)
             from stdin (format binary)",
        )?;
        out.write_all(b"PGCOPY\n\xff\r\n\0")?;
        out.write_all(&[0; 8])?; // flags, header extension length
        Ok(Copy {
            out,
            buf: Vec::with_capacity(8 + 4 * DIMENSIONS + 256),
        })
    }

    fn row(
        &mut self,
        file: &Uuid,
        user: &Uuid,
        index: i32,
        content: &str,
        v: &[f32],
    ) -> Result<()> {
        let b = &mut self.buf;
        b.clear();
        b.extend_from_slice(&6i16.to_be_bytes());
        let field = |b: &mut Vec<u8>, bytes: &[u8]| {
            b.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
            b.extend_from_slice(bytes);
        };
        field(b, file.as_bytes());
        field(b, user.as_bytes());
        field(b, &index.to_be_bytes());
        field(b, content.as_bytes());
        field(b, &(content.len() as i32 / 4).to_be_bytes());
        // pgvector's binary form: dimensions (int16), an unused int16, then float4s.
        b.extend_from_slice(&((4 + 4 * v.len()) as i32).to_be_bytes());
        b.extend_from_slice(&(v.len() as i16).to_be_bytes());
        b.extend_from_slice(&0i16.to_be_bytes());
        for x in v {
            b.extend_from_slice(&x.to_be_bytes());
        }
        self.out.write_all(b)?;
        Ok(())
    }

    fn finish(mut self) -> Result<u64> {
        self.out.write_all(&(-1i16).to_be_bytes())?;
        Ok(self.out.finish()?)
    }
}

/// splitmix64: fast and seeded, so every run loads the same vectors.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A random direction: independent uniform components, normalized. In 1536 dimensions
    /// its products with any fixed vector are as good as Gaussian.
    fn unit(&mut self) -> Vec<f32> {
        let mut v: Vec<f32> = (0..DIMENSIONS)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
            .collect();
        normalize(&mut v);
        v
    }

    /// `center` plus a random direction `spread` long, normalized.
    fn near(&mut self, center: &[f32], spread: f32) -> Vec<f32> {
        let mut v = self.unit();
        for (x, c) in v.iter_mut().zip(center) {
            *x = c + spread * *x;
        }
        normalize(&mut v);
        v
    }
}

fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    for x in v {
        *x /= norm;
    }
}

/// 100000 as "100,000".
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::Postgres;

    /// CI's run of the same code: 5,000 vectors over 50 users in a cluster of its own. Recall
    /// is asserted (a correctness figure); latency is not (this machine is shared).
    #[test]
    fn a_small_set_finds_the_exact_top_10() -> Result<()> {
        let tools = crate::tools::ensure_postgres()?;
        let data = crate::paths::state().join("sqlbench-vectors-test");
        let _ = std::fs::remove_dir_all(&data);
        let pg = Postgres::start(&tools, data.clone(), crate::process::free_port()?, true)?;
        let small = Scale {
            users: 50,
            vectors: 5000,
            chunks_per_file: 25,
            queries: 200,
        };
        let v = pg
            .apply_schema()
            .and_then(|()| measure(&pg.url("postgres"), &small));
        drop(pg);
        let _ = std::fs::remove_dir_all(&data);
        let v = v?;
        assert_eq!((v.vectors, v.users, v.all.queries), (5000, 50, 200));
        assert!(
            v.all.recall_at_10 >= 0.9,
            "recall@10 {}",
            v.all.recall_at_10
        );
        // The index itself, under the per-user filter, on every query.
        assert!(
            v.forced_index.recall_at_10 >= 0.9,
            "recall@10 through the index {}",
            v.forced_index.recall_at_10
        );
        Ok(())
    }

    #[test]
    fn files_follow_zipf_and_add_up() {
        let counts = zipf_files(1000, 4000);
        assert_eq!(counts.iter().sum::<usize>(), 4000);
        assert!(counts.windows(2).all(|w| w[0] >= w[1]));
        assert_eq!((counts[0], counts[9], counts[999]), (402, 41, 1));
    }

    #[test]
    fn vectors_cluster_as_intended() {
        let mut rng = Rng(1);
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let topic = rng.unit();
        let file = rng.near(&topic, FILE_SPREAD);
        let (a, b) = (rng.near(&file, CHUNK_SPREAD), rng.near(&file, CHUNK_SPREAD));
        let other_file = rng.near(&topic, FILE_SPREAD);
        let other = rng.near(&other_file, CHUNK_SPREAD);
        let unrelated = rng.unit();
        assert!((dot(&a, &a) - 1.0).abs() < 1e-4);
        assert!((dot(&topic, &file) - 0.8).abs() < 0.05);
        assert!((dot(&a, &b) - 0.64).abs() < 0.08);
        assert!((dot(&a, &other) - 0.41).abs() < 0.08);
        assert!(dot(&a, &unrelated).abs() < 0.1);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(1536), "1,536");
        assert_eq!(thousands(50), "50");
    }
}
