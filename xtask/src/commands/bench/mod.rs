//! `cargo xtask bench`: every figure beside a baseline that does the same work with nothing
//! extra, measured in the same run: WASM sizes (with what takes the bytes), latency through
//! the local stack (interleaved with the direct upstream calls and the router's own floor),
//! and SQL throughput of the money and queue paths. Every latency row prints where the CPU
//! went, so a figure bound by the bench client shows as one.

mod calls;
mod chat;
mod latency;

use anyhow::Result;
use calls::{agent, Api};
use latency::{concurrent, interleaved, Measured, Probe};
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;
use xtask::cpu::{Accounts, Split};
use xtask::keys::{access_token_claims, now, Keys};
use xtask::stack::{Options, Ports, RateLimits, Stack};
use xtask::users::ensure_user;
use xtask::{build, paths, sqlbench, tools};

/// Latencies per probe: enough for a p99 that is not one unlucky request.
const SAMPLES: usize = 2000;
const CLIENTS: usize = 16;
/// Crates named per function in the size attribution.
const ATTRIBUTION_ROWS: usize = 8;

struct Row {
    name: String,
    value: String,
    baseline: String,
    ratio: String,
    cpu: String,
}

impl Row {
    fn new(name: impl Into<String>, value: String, baseline: String, ratio: String) -> Row {
        Row {
            name: name.into(),
            value,
            baseline,
            ratio,
            cpu: String::new(),
        }
    }

    fn cpu(mut self, split: &Split) -> Row {
        self.cpu = split.render();
        self
    }
}

pub fn run(_args: &[String]) -> Result<()> {
    let tools = tools::ensure_all()?;
    let mut rows = Vec::new();
    let mut report = serde_json::Map::new();

    build::build(&[], false)?;
    sizes(&mut rows, &mut report)?;

    let stack = Stack::start(
        &tools,
        Options {
            ports: Ports::free()?,
            data_dir: paths::state().join("bench-db"),
            ephemeral: true,
            echo: false,
            with_functions: true,
            bench: true,
            prebuilt_services: false,
            provider_files_expire: None,
            rate_limits: RateLimits::Raised,
        },
    )?;
    let accounts = Accounts::new(&stack.processes()?);
    latencies(&stack, &accounts, &mut rows, &mut report)?;

    for r in sqlbench::run(&stack.pg.url("postgres"))? {
        rows.push(Row::new(
            r.name.clone(),
            format!("{:.0} {}", r.value, r.unit),
            format!("{}: {:.0}", r.baseline_name, r.baseline),
            format!("{:.2}x", r.value / r.baseline),
        ));
        if let Some(row) = rows.last_mut() {
            row.cpu = format!(
                "client {:.2} / postgres {:.2} (baseline: client {:.2} / postgres {:.2})",
                r.cpu.client_ms,
                r.cpu.postgres_ms,
                r.baseline_cpu.client_ms,
                r.baseline_cpu.postgres_ms
            );
        }
        report.insert(r.name.clone(), serde_json::to_value(&r)?);
    }
    let vectors = sqlbench::vectors::run(&stack.pg.url("postgres"))?;
    for [name, value, baseline, ratio, cpu] in vectors.rows() {
        rows.push(Row {
            name,
            value,
            baseline,
            ratio,
            cpu,
        });
    }
    report.insert("vector_search".into(), serde_json::to_value(&vectors)?);
    drop(stack);

    println!(
        "\n| measure | value | baseline (same run) | ratio | CPU ms per request |\n|---|---|---|---|---|"
    );
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            r.name, r.value, r.baseline, r.ratio, r.cpu
        );
    }
    let out = paths::root().join("target/bench.json");
    std::fs::write(&out, serde_json::to_string_pretty(&Value::Object(report))?)?;
    println!("\nwrote {}", out.display());
    Ok(())
}

/// Each function's WASM, raw and gzip, beside the router (a Worker with nothing but the error
/// body) from the same build.
fn sizes(rows: &mut Vec<Row>, report: &mut serde_json::Map<String, Value>) -> Result<()> {
    let mut sizes = Vec::new();
    for name in build::function_names()? {
        let wasm = std::fs::read(build::wasm_file(&name))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&wasm)?;
        sizes.push((name, wasm.len(), gz.finish()?.len()));
    }
    let router_gz = sizes
        .iter()
        .find(|(n, ..)| n == "router")
        .map(|(_, _, gz)| *gz)
        .unwrap_or(1);
    let kb = |b: usize| b as f64 / 1024.0;
    for (name, raw, gz) in &sizes {
        rows.push(Row::new(
            format!("wasm size fn-{name} (raw / gzip)"),
            format!("{:.0} KB / {:.0} KB", kb(*raw), kb(*gz)),
            format!("fn-router: {:.0} KB gz", kb(router_gz)),
            format!("{:.1}x", *gz as f64 / router_gz.max(1) as f64),
        ));
    }
    // What takes the bytes: code per crate (and the data segments), from the named copy of
    // each bundle, so a size change can be traced to what caused it.
    let mut json_sizes = Vec::new();
    for (name, raw, gz) in &sizes {
        let parts = xtask::bundle::attribute(name)?;
        let top: Vec<String> = parts
            .iter()
            .take(ATTRIBUTION_ROWS)
            .map(|(krate, bytes)| format!("{krate} {:.0}", kb(*bytes as usize)))
            .collect();
        rows.push(Row::new(
            format!("  fn-{name}: largest parts, KB raw"),
            top.join(", "),
            "-".into(),
            "-".into(),
        ));
        json_sizes.push(json!({"function": name, "raw_bytes": raw, "gzip_bytes": gz,
                               "raw_bytes_by_crate": parts}));
    }
    report.insert("wasm_sizes".into(), json!(json_sizes));
    Ok(())
}

fn latencies(
    stack: &Stack,
    accounts: &Accounts,
    rows: &mut Vec<Row>,
    report: &mut serde_json::Map<String, Value>,
) -> Result<()> {
    let env = &stack.env;
    let keys = Keys::load_or_create()?;
    let mut db = stack.pg.client()?;
    let user = ensure_user(&mut db, "bench@example.com")?;
    db.execute(
        "select private.change_credits($1, 'grant', 100000000, 'bench-grant', null, 'bench')",
        &[&user],
    )?;
    // Thousands of generations in flight at once: past any plan's concurrency but unlimited.
    db.execute(
        "update public.profiles set plan = 'unlimited' where id = $1",
        &[&user],
    )?;
    let issuer = env.get("JWT_ISSUER");
    let claims = || {
        access_token_claims(
            issuer,
            &user.to_string(),
            "bench@example.com",
            "authenticated",
            now() + 3600,
        )
    };
    let es256 = keys.sign_es256(&claims())?;
    let hs256 = keys.sign_hs256(&claims())?;
    // Tokens seen once each: every request pays the signature check.
    let fresh = |n: usize| -> Result<Vec<String>> {
        (0..n + 100).map(|_| keys.sign_es256(&claims())).collect()
    };
    let (fresh_fn, fresh_rpc) = (fresh(SAMPLES)?, fresh(SAMPLES)?);
    let api = Api {
        router: env.get("API_URL").to_string(),
        rest: format!("{}/rest/v1", env.get("SUPABASE_URL")),
        provider: env.get("PROVIDER_URL").to_string(),
        anon: env.get("SUPABASE_ANON_KEY").to_string(),
        service: env.get("SUPABASE_SERVICE_ROLE_KEY").to_string(),
        public_url: env.get("API_URL").to_string(),
    };
    // `[never]`: the fake provider keeps the prediction running, so no webhook or settlement
    // lands in a measured window.
    let image = json!({"kind": "image", "model": "flux-schnell", "prompt": "[never] bench",
                       "params": {"num_outputs": 1}});

    let a: Vec<ureq::Agent> = (0..9).map(|_| agent()).collect();
    let (mut i, mut j) = (0usize, 0usize);
    let mut probes = vec![
        Probe {
            name: "floor",
            call: Box::new(|| api.floor(&a[0])),
        },
        Probe {
            name: "me es256",
            call: Box::new(|| api.get_me(&a[1], &es256)),
        },
        Probe {
            name: "rpc es256",
            call: Box::new(|| api.get_my_profile(&a[2], &es256)),
        },
        Probe {
            name: "me hs256",
            call: Box::new(|| api.get_me(&a[3], &hs256)),
        },
        Probe {
            name: "rpc hs256",
            call: Box::new(|| api.get_my_profile(&a[4], &hs256)),
        },
        Probe {
            name: "me first token",
            call: Box::new(|| {
                i += 1;
                api.get_me(&a[5], &fresh_fn[i - 1])
            }),
        },
        Probe {
            name: "rpc first token",
            call: Box::new(|| {
                j += 1;
                api.get_my_profile(&a[6], &fresh_rpc[j - 1])
            }),
        },
        Probe {
            name: "post generation",
            call: Box::new(|| api.post_generation(&a[7], &es256, &image)),
        },
        Probe {
            name: "post direct",
            call: Box::new(|| api.create_and_submit(&a[8], &es256, &image)),
        },
    ];
    eprintln!(
        "bench: {} probes x {SAMPLES} requests, interleaved",
        probes.len()
    );
    let m = interleaved(&mut probes, SAMPLES, accounts)?;
    drop(probes);
    let [floor, me, rpc, me_hs, rpc_hs, me_first, rpc_first, post, direct] =
        <[Measured; 9]>::try_from(m).map_err(|_| anyhow::anyhow!("probe count"))?;

    rows.push(
        Row::new(
            "router 404, the `wrangler dev` floor (p50 / p99)",
            ms(&floor),
            "-".into(),
            "-".into(),
        )
        .cpu(&floor.cpu),
    );
    for (name, via, base, base_name) in [
        (
            "GET /v1/me, ES256 token seen before",
            &me,
            &rpc,
            "get_my_profile RPC direct",
        ),
        (
            "GET /v1/me, HS256 token seen before",
            &me_hs,
            &rpc_hs,
            "get_my_profile RPC direct",
        ),
        (
            "GET /v1/me, ES256 token seen first",
            &me_first,
            &rpc_first,
            "get_my_profile RPC direct, new token",
        ),
        (
            "POST /v1/generations",
            &post,
            &direct,
            "its 4 upstream calls direct",
        ),
    ] {
        rows.push(latency_row(name, via, base_name, base));
        rows.push(Row::new(
            "  function cost (router - direct - floor, p50)",
            format!("{:.2} ms", via.p50() - base.p50() - floor.p50()),
            "target <= 1.5 ms".into(),
            "-".into(),
        ));
    }
    report.insert(
        "latency".into(),
        json!({"floor": floor.json(), "get_me_es256": me.json(), "rpc_es256": rpc.json(),
               "get_me_hs256": me_hs.json(), "rpc_hs256": rpc_hs.json(),
               "get_me_first_token": me_first.json(), "rpc_first_token": rpc_first.json(),
               "post_generations": post.json(), "post_generations_direct": direct.json()}),
    );

    let via_router = || -> Box<dyn FnMut() -> Result<()>> {
        let ag = agent();
        let (api, token) = (api.clone(), es256.clone());
        Box::new(move || api.get_me(&ag, &token))
    };
    let via_rpc = || -> Box<dyn FnMut() -> Result<()>> {
        let ag = agent();
        let (api, token) = (api.clone(), es256.clone());
        Box::new(move || api.get_my_profile(&ag, &token))
    };
    eprintln!("bench: GET /v1/me with {CLIENTS} clients");
    let c = concurrent(
        &[&via_router, &via_rpc],
        CLIENTS,
        3,
        Duration::from_secs(2),
        accounts,
    )?;
    let name = format!("GET /v1/me, {CLIENTS} clients (req/s, p50)");
    rows.push(
        Row::new(
            name,
            format!(
                "{:.0} req/s, {:.1} ms",
                c[0].throughput.unwrap_or(0.0),
                c[0].p50()
            ),
            format!(
                "RPC direct: {:.0} req/s, {:.1} ms",
                c[1].throughput.unwrap_or(0.0),
                c[1].p50()
            ),
            format!(
                "{:.2}x",
                c[0].throughput.unwrap_or(0.0) / c[1].throughput.unwrap_or(1.0)
            ),
        )
        .cpu(&c[0].cpu),
    );
    rows.push(Row::new(
        "  Worker CPU per request (workerd), token seen before / first",
        format!(
            "{:.2} ms / {:.2} ms",
            c[0].cpu.get("workerd"),
            me_first.cpu.get("workerd")
        ),
        "target <= 1 ms / <= 3 ms".into(),
        "-".into(),
    ));
    report.insert(
        "get_me_concurrent".into(),
        json!({"clients": CLIENTS, "router": c[0].json(), "rpc_direct": c[1].json()}),
    );

    let setup = chat::Setup {
        router: &api.router,
        provider: &api.provider,
        token: &es256,
    };
    let streamed = chat::measure(&setup, &mut db, accounts)?;
    rows.extend(streamed.rows(floor.p50()));
    report.insert("chat_stream".into(), streamed.json());
    Ok(())
}

fn ms(m: &Measured) -> String {
    format!("{:.2} / {:.2} ms", m.p50(), m.p99())
}

fn latency_row(name: &str, l: &Measured, base_name: &str, base: &Measured) -> Row {
    Row::new(
        format!("{name} (p50 / p99)"),
        ms(l),
        format!("{base_name}: {}", ms(base)),
        format!("{:.1}x", l.p50() / base.p50()),
    )
    .cpu(&l.cpu)
}
