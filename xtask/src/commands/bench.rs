use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};
use xtask::keys::{access_token_claims, now, Keys};
use xtask::stack::{Options, Ports, Stack};
use xtask::users::ensure_user;
use xtask::{build, paths, sqlbench, tools};

const REQUESTS: usize = 300;

struct Row {
    name: String,
    value: String,
    baseline: String,
    ratio: String,
}

/// Sizes of every function bundle, latency through the local stack, SQL throughput of the
/// money and queue paths; each beside a baseline measured in the same run.
pub fn run(_args: &[String]) -> Result<()> {
    let tools = tools::ensure_all()?;
    let mut rows = Vec::new();
    let mut report = serde_json::Map::new();

    build::build(&[], false)?;
    // Baseline: the router, a Worker with nothing but the error body, from this same build.
    let mut sizes = Vec::new();
    for name in build::function_names()? {
        let wasm = std::fs::read(build::wasm_file(&name))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&wasm)?;
        sizes.push((name, wasm.len(), gz.finish()?.len()));
    }
    let (_, _, router_gz) = sizes
        .iter()
        .find(|(n, ..)| n == "router")
        .cloned()
        .unwrap_or_default();
    let kb = |b: usize| b as f64 / 1024.0;
    for (name, raw, gz) in &sizes {
        rows.push(Row {
            name: format!("wasm size fn-{name} (raw / gzip)"),
            value: format!("{:.0} KB / {:.0} KB", kb(*raw), kb(*gz)),
            baseline: format!("fn-router: {:.0} KB gz", kb(router_gz)),
            ratio: format!("{:.1}x", *gz as f64 / router_gz.max(1) as f64),
        });
    }
    let sizes: Vec<Value> = sizes
        .iter()
        .map(|(n, raw, gz)| json!({"function": n, "raw_bytes": raw, "gzip_bytes": gz}))
        .collect();
    report.insert("wasm_sizes".into(), json!(sizes));

    let stack = Stack::start(
        &tools,
        Options {
            ports: Ports::free()?,
            data_dir: paths::state().join("bench-db"),
            ephemeral: true,
            echo: false,
            with_functions: true,
        },
    )?;
    let env = &stack.env;
    let keys = Keys::load_or_create()?;
    let mut db = stack.pg.client()?;
    let user = ensure_user(&mut db, "bench@example.com")?;
    db.execute(
        "select private.change_credits($1, 'grant', 100000000, 'bench-grant', null, 'bench')",
        &[&user],
    )?;
    let token = keys.sign_es256(&access_token_claims(
        env.get("JWT_ISSUER"),
        &user.to_string(),
        "bench@example.com",
        "authenticated",
        now() + 3600,
    ))?;
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let rest = format!("{}/rest/v1/rpc", env.get("SUPABASE_URL"));
    let api = env.get("API_URL");
    let anon = env.get("SUPABASE_ANON_KEY");

    let bearer = format!("Bearer {token}");
    let rpc_url = |f: &str| format!("{rest}/{f}");
    let me = latency(|| {
        call(
            agent
                .get(&format!("{api}/v1/me"))
                .set("authorization", &bearer),
            None,
        )
    })?;
    let rpc = latency(|| {
        let req = agent
            .post(&rpc_url("get_my_profile"))
            .set("apikey", anon)
            .set("authorization", &bearer);
        call(req, Some(json!({})))
    })?;
    rows.push(latency_row(
        "GET /v1/me via router (p50 / p99)",
        &me,
        "stand-in RPC direct",
        &rpc,
    ));
    report.insert(
        "get_me".into(),
        json!({"router": me.json(), "standin_rpc": rpc.json()}),
    );

    let image = json!({"kind": "image", "model": "flux-schnell", "prompt": "bench", "params": {"num_outputs": 1}});
    let post = latency(|| {
        let req = agent
            .post(&format!("{api}/v1/generations"))
            .set("authorization", &bearer);
        call(req, Some(image.clone()))
    })?;
    let direct = json!({"p_kind": "image", "p_model": "flux-schnell", "p_prompt": "bench",
                        "p_params": {}});
    let create = latency(|| {
        let req = agent
            .post(&rpc_url("create_generation"))
            .set("apikey", anon)
            .set("authorization", &bearer);
        call(req, Some(direct.clone()))
    })?;
    rows.push(latency_row(
        "POST /v1/generations (p50 / p99)",
        &post,
        "create_generation RPC direct",
        &create,
    ));
    report.insert(
        "post_generations".into(),
        json!({"router": post.json(), "standin_rpc": create.json()}),
    );

    for r in sqlbench::run(&stack.pg.url("postgres"))? {
        rows.push(Row {
            name: r.name.clone(),
            value: format!("{:.0} {}", r.value, r.unit),
            baseline: format!("{}: {:.0}", r.baseline_name, r.baseline),
            ratio: format!("{:.2}x", r.value / r.baseline),
        });
        report.insert(r.name.clone(), serde_json::to_value(&r)?);
    }
    drop(stack);

    println!("\n| measure | value | baseline (same run) | ratio |\n|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} |",
            r.name, r.value, r.baseline, r.ratio
        );
    }
    let out = paths::root().join("target/bench.json");
    std::fs::write(&out, serde_json::to_string_pretty(&Value::Object(report))?)?;
    println!("\nwrote {}", out.display());
    Ok(())
}

struct Latency {
    p50: f64,
    p99: f64,
}

impl Latency {
    fn json(&self) -> Value {
        json!({"p50_ms": self.p50, "p99_ms": self.p99, "requests": REQUESTS})
    }
}

/// Sequential requests after a warm-up (isolates compile, connections open): one client, so
/// the numbers are per-request cost, not throughput.
fn latency(mut request: impl FnMut() -> Result<()>) -> Result<Latency> {
    for _ in 0..20 {
        request()?;
    }
    let mut ms = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let t = Instant::now();
        request()?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| ms[((ms.len() as f64 * q) as usize).min(ms.len() - 1)];
    Ok(Latency {
        p50: at(0.50),
        p99: at(0.99),
    })
}

/// One request; any non-2xx answer fails the bench rather than skewing it.
fn call(req: ureq::Request, body: Option<Value>) -> Result<()> {
    let sent = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match sent {
        Ok(_) => Ok(()),
        Err(e) => bail!("request failed: {e}"),
    }
}

fn latency_row(name: &str, l: &Latency, base_name: &str, base: &Latency) -> Row {
    Row {
        name: name.into(),
        value: format!("{:.1} / {:.1} ms", l.p50, l.p99),
        baseline: format!("{base_name}: {:.1} / {:.1} ms", base.p50, base.p99),
        ratio: format!("{:.1}x", l.p50 / base.p50),
    }
}
