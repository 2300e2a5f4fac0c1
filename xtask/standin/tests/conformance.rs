//! Conformance of the stand-in to the PostgREST RPC contract, end to end: a real Postgres (from
//! DATABASE_URL, a superuser URL of a database where supabase/local/bootstrap.sql was applied),
//! the real binary on a free port, real tokens (HS256 secret and an ES256 key served as JWKS).
//!
//! `conformance_table` is one table, one row per behaviour; rows run in order (a few read back
//! what an earlier row did). `supabase_js_client` drives the stand-in through supabase-js.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{db, load_fixtures, now, random_hex, run_node, ScratchDir, Server};
use genbase_devkit::reply::RawReply;
use genbase_shared::auth::mint_hs256;
use jwt_compact::alg::Es256;
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{AlgorithmExt, Claims, Header};
use p256::ecdsa::SigningKey;
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

const FIXTURES: &str = include_str!("fixtures.sql");
const SCHEMAS: &str = "conformance,conformance_other";

/// Keys generated for this run, written where the stand-in reads them.
struct Keys {
    dir: ScratchDir,
    secret: String,
    es256: SigningKey,
    kid: String,
}

impl Keys {
    fn generate() -> Keys {
        let secret = random_hex(32);
        let es256 = SigningKey::random(&mut rand::thread_rng());
        let kid = format!("test-{}", random_hex(4));
        let dir = ScratchDir::new("standin-test");
        std::fs::write(dir.path().join("jwt_secret"), format!("{secret}\n")).unwrap();
        let mut jwk = serde_json::to_value(JsonWebKey::from(es256.verifying_key())).unwrap();
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!("ES256");
        jwk["use"] = json!("sig");
        // A private member, as a careless JWKS file might hold: it must never be served.
        jwk["d"] = json!("must-not-be-served");
        std::fs::write(
            dir.path().join("jwks.json"),
            json!({ "keys": [jwk] }).to_string(),
        )
        .unwrap();
        Keys {
            dir,
            secret,
            es256,
            kid,
        }
    }

    fn hs256(&self, claims: Value) -> String {
        mint_hs256(&claims, self.secret.as_bytes(), None)
    }

    fn es256(&self, claims: Value) -> String {
        let header = Header::empty().with_key_id(self.kid.clone());
        Es256
            .token(&header, &Claims::new(claims), &self.es256)
            .unwrap()
    }

    /// `alg: none`, no signature: must be refused whatever the claims say.
    fn alg_none(&self, claims: Value) -> String {
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        format!("{h}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()))
    }

    /// Algorithm confusion: HS256 "signed" with the ES256 key's public JWK as HMAC secret and
    /// naming its kid. The key decides the algorithm, so this must fail.
    fn confused(&self, claims: Value) -> String {
        let public = serde_json::to_string(&JsonWebKey::from(self.es256.verifying_key())).unwrap();
        mint_hs256(&claims, public.as_bytes(), Some(&self.kid))
    }
}

/// The stand-in with the conformance schemas and this run's keys.
fn start(keys: &Keys) -> Server {
    load_fixtures(FIXTURES);
    Server::start(|cmd| {
        cmd.args([
            "--schemas",
            SCHEMAS,
            "--anon-role",
            "anon",
            "--db-pool-size",
            "4",
        ])
        .arg("--jwt-secret-file")
        .arg(keys.dir.path().join("jwt_secret"))
        .arg("--jwks-file")
        .arg(keys.dir.path().join("jwks.json"));
    })
}

impl Server {
    fn send(&self, case: &Case) -> RawReply {
        let has_ct = case
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if case.body.is_some() && !has_ct {
            headers.push(("content-type", "application/json"));
        }
        headers.extend(case.headers.iter().map(|(k, v)| (*k, v.as_str())));
        self.call(
            case.method,
            &case.path,
            case.token.as_deref(),
            &headers,
            case.body.as_deref(),
        )
    }

    fn stop_with(mut self, signal: &str) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "postgrest-standin did not exit on {signal}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

type Check = Box<dyn Fn(&Value) -> Result<(), String>>;

/// One row of the table: a request and what must come back.
struct Case {
    name: String,
    method: &'static str,
    path: String,
    token: Option<String>,
    headers: Vec<(&'static str, String)>,
    body: Option<String>,
    status: u16,
    json: Option<Value>,
    /// The body must be `{code, message, details, hint}`, with this code when given.
    error_shape: bool,
    code: Option<&'static str>,
    empty_body: bool,
    header_prefix: Vec<(&'static str, &'static str)>,
    checks: Vec<Check>,
}

fn case(name: impl Into<String>, method: &'static str, path: &str) -> Case {
    Case {
        name: name.into(),
        method,
        path: path.to_string(),
        token: None,
        headers: Vec::new(),
        body: None,
        status: 200,
        json: None,
        error_shape: false,
        code: None,
        empty_body: false,
        header_prefix: Vec::new(),
        checks: Vec::new(),
    }
}

fn post(name: impl Into<String>, function: &str, body: Value) -> Case {
    case(name, "POST", &format!("/rest/v1/rpc/{function}")).body(body.to_string())
}

fn get(name: impl Into<String>, path_and_query: &str) -> Case {
    case(name, "GET", &format!("/rest/v1/rpc/{path_and_query}"))
}

impl Case {
    fn body(mut self, b: impl Into<String>) -> Case {
        self.body = Some(b.into());
        self
    }
    fn token(mut self, t: String) -> Case {
        self.token = Some(t);
        self
    }
    fn header(mut self, k: &'static str, v: impl Into<String>) -> Case {
        self.headers.push((k, v.into()));
        self
    }
    fn status(mut self, s: u16) -> Case {
        self.status = s;
        self
    }
    fn json(mut self, v: Value) -> Case {
        self.json = Some(v);
        self
    }
    /// An error body `{code, message, details, hint}` with this code.
    fn error(mut self, status: u16, code: &'static str) -> Case {
        self.code = Some(code);
        self.error_body(status)
    }
    fn error_body(mut self, status: u16) -> Case {
        self.status = status;
        self.error_shape = true;
        self
    }
    fn empty(mut self) -> Case {
        self.empty_body = true;
        self
    }
    fn header_starts(mut self, name: &'static str, prefix: &'static str) -> Case {
        self.header_prefix.push((name, prefix));
        self
    }
    fn check(mut self, f: impl Fn(&Value) -> Result<(), String> + 'static) -> Case {
        self.checks.push(Box::new(f));
        self
    }

    fn verify(&self, r: &RawReply) -> Result<(), String> {
        let body = r.text();
        if r.status != self.status {
            return Err(format!(
                "status {} != {} (body {body})",
                r.status, self.status
            ));
        }
        for (name, prefix) in &self.header_prefix {
            match r.header(name) {
                Some(v) if v.starts_with(prefix) => {}
                other => return Err(format!("header {name}: {other:?}, expected {prefix:?}...")),
            }
        }
        if self.empty_body {
            return if body.is_empty() {
                Ok(())
            } else {
                Err(format!("body not empty: {body}"))
            };
        }
        let v: Value =
            serde_json::from_str(&body).map_err(|e| format!("body is not JSON ({e}): {body:?}"))?;
        if self.error_shape {
            let mut keys: Vec<&str> = v
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            keys.sort_unstable();
            if keys != ["code", "details", "hint", "message"] || !v["message"].is_string() {
                return Err(format!(
                    "error body must be {{code, message, details, hint}}: {v}"
                ));
            }
        }
        if let Some(code) = self.code {
            if v["code"] != json!(code) {
                return Err(format!("code {} != {code}: {v}", v["code"]));
            }
        }
        if let Some(expected) = &self.json {
            if &v != expected {
                return Err(format!("body {v} != {expected}"));
            }
        }
        self.checks.iter().try_for_each(|c| c(&v))
    }
}

fn eq(v: &Value, pointer: &str, expected: Value) -> Result<(), String> {
    match v.pointer(pointer) {
        Some(got) if *got == expected => Ok(()),
        got => Err(format!("{pointer}: {got:?} != {expected}")),
    }
}

/// Every documented SQLSTATE row, raised for real by a SQL function: (sqlstate, authenticated, status).
const STATUS_TABLE: &[(&str, bool, u16)] = &[
    ("08006", false, 503),
    ("09000", false, 500),
    ("0LP01", false, 403),
    ("0P000", false, 403),
    ("23503", false, 409),
    ("23505", false, 409),
    ("25006", false, 405),
    ("25P02", false, 500),
    ("28P01", false, 403),
    ("2D000", false, 500),
    ("38001", false, 500),
    ("39004", false, 500),
    ("3B001", false, 500),
    ("40001", false, 500),
    ("53400", false, 500),
    ("53100", false, 503),
    ("54001", false, 500),
    ("55P03", false, 500),
    ("57014", false, 500),
    ("58030", false, 500),
    ("F0000", false, 500),
    ("HV000", false, 500),
    ("P0001", false, 400),
    ("P0004", false, 500),
    ("XX000", false, 500),
    ("42883", false, 404),
    ("42P01", false, 404),
    ("42P17", false, 500),
    ("42501", false, 401),
    ("42501", true, 403),
    ("PT402", false, 402),
    ("PT409", true, 409),
    ("PT418", false, 418),
    ("22023", false, 400),
    ("23514", false, 400),
];

fn table(k: &Keys) -> Vec<Case> {
    let t = now();
    let user = "8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f10";
    let user_token = k.hs256(json!({"sub": user, "role": "authenticated", "aud": "authenticated", "iat": t, "exp": t + 3600}));
    let big = format!(
        "{{\"a\": 1, \"pad\": \"{}\"}}",
        "x".repeat(1024 * 1024 + 10)
    );
    let mut rows = vec![
        // Named arguments and result shapes.
        post("named args, default used", "add", json!({"a": 1}))
            .header_starts("content-type", "application/json; charset=utf-8")
            .json(json!(11)),
        post("named args, all given", "add", json!({"a": 1, "b": 2})).json(json!(3)),
        case("/rpc without the /rest/v1 prefix", "POST", "/rpc/add").body(r#"{"a": 5, "b": 5}"#).json(json!(10)),
        post("typed args through json_to_record", "echo", json!({
            "p_id": user, "p_text": "hi", "p_obj": {"k": [1, "two"]}, "p_n": 1.5, "p_flag": true,
            "p_arr": [1, 2], "p_at": "2024-01-02T03:04:05Z"
        }))
        .json(json!({"id": user, "text": "hi", "obj": {"k": [1, "two"]}, "n": 1.5, "flag": true,
                     "arr": [1, 2], "at": "2024-01-02T03:04:05+00:00"})),
        post("character(n)/bit(n) parameters", "fixed", json!({"p_c": "abc", "p_b": "1010"})).json(json!("abc:1010")),
        post("bad uuid is PostgreSQL's 22P02 -> 400", "echo", json!({
            "p_id": "nope", "p_text": "", "p_obj": {}, "p_n": 1, "p_flag": false, "p_arr": []
        }))
        .error(400, "22P02"),
        post("setof scalar -> JSON array", "series", json!({"n": 3})).json(json!([1, 2, 3])),
        post("setof empty -> []", "series", json!({"n": 0})).json(json!([])),
        post("returns table -> array of objects", "pairs", json!({"n": 2})).json(json!([{"i": 1, "sq": 1}, {"i": 2, "sq": 4}])),
        post("composite -> object", "point", json!({"x": 1, "y": 2})).json(json!({"x": 1, "y": 2})),
        post("null scalar -> null", "nothing", json!({})).json(Value::Null),
        post("void -> 204 without body", "do_nothing", json!({})).status(204).empty(),
        case("empty body means no arguments", "POST", "/rest/v1/rpc/do_nothing").body("").status(204).empty(),
        // GET and access mode.
        get("GET with query-string args", "add?a=2&b=3").json(json!(5)),
        case("HEAD runs like GET without a body", "HEAD", "/rest/v1/rpc/add?a=2").empty(),
        get("GET runs READ ONLY", "whoami").check(|v| eq(v, "/read_only", json!("on"))),
        post("POST to STABLE runs READ ONLY", "whoami", json!({})).check(|v| eq(v, "/read_only", json!("on"))),
        post("POST to VOLATILE runs READ WRITE", "tx_mode", json!({})).json(json!("off")),
        get("GET to a volatile writing function -> 405 25006", "add_note?p_note=via-get").error(405, "25006"),
        post("... and it wrote nothing", "count_notes", json!({"p_note": "via-get"})).json(json!(0)),
        post("POST to a volatile function writes", "add_note", json!({"p_note": "via-post"})).check(|v| {
            v.as_i64().map(|_| ()).ok_or(format!("expected an id, got {v}"))
        }),
        post("the write is committed", "count_notes", json!({"p_note": "via-post"})).json(json!(1)),
        post("unique violation -> 409 23505 (and rolled back)", "add_note", json!({"p_note": "via-post"})).error(409, "23505"),
        // Identity.
        post("no token -> anon role and anon claims", "whoami", json!({}))
            .check(|v| eq(v, "/user", json!("anon")))
            .check(|v| eq(v, "/claims", json!({"role": "anon"}))),
        post("role from the role claim (HS256)", "whoami", json!({}))
            .token(user_token.clone())
            .check(|v| eq(v, "/user", json!("authenticated")))
            .check(move |v| eq(v, "/claims/sub", json!(user))),
        post("role from an ES256 token checked against the JWKS", "whoami", json!({}))
            .token(k.es256(json!({"role": "service_role", "exp": t + 60})))
            .check(|v| eq(v, "/user", json!("service_role"))),
        post("token without role claim -> anon, claims kept", "whoami", json!({}))
            .token(k.hs256(json!({"sub": "x", "exp": t + 60})))
            .check(|v| eq(v, "/user", json!("anon")))
            .check(|v| eq(v, "/claims/sub", json!("x")))
            .check(|v| eq(v, "/claims/role", json!("anon"))),
        post("request.headers/method/path/cookies visible in SQL", "whoami", json!({}))
            .header("X-Test", "yes")
            .header("Cookie", "session=abc; theme=dark")
            .check(|v| eq(v, "/headers/x-test", json!("yes")))
            .check(|v| eq(v, "/method", json!("POST")))
            .check(|v| eq(v, "/path", json!("/rpc/whoami")))
            .check(|v| eq(v, "/cookies", json!({"session": "abc", "theme": "dark"}))),
        get("request.method for GET", "whoami").check(|v| eq(v, "/method", json!("GET"))),
        post("search_path = schema + extra search path", "whoami", json!({}))
            .check(|v| eq(v, "/search_path", json!("\"conformance\", \"public\", \"extensions\""))),
        post("the impersonated role's settings apply", "whoami", json!({}))
            .token(k.hs256(json!({"role": "standin_conformance", "exp": t + 60})))
            .check(|v| eq(v, "/user", json!("standin_conformance")))
            .check(|v| eq(v, "/statement_timeout", json!("4321ms"))),
        post("a function's statement_timeout limits the call -> 500 57014", "slow", json!({})).error(500, "57014"),
        post("role claim naming a missing role -> 400 22023", "whoami", json!({}))
            .token(k.hs256(json!({"role": "no_such_role", "exp": t + 60})))
            .error(400, "22023"),
        post("role claim naming a role the authenticator cannot become -> 403 42501", "whoami", json!({}))
            .token(k.hs256(json!({"role": "postgres", "exp": t + 60})))
            .error(403, "42501"),
        // Privileges. service_role first: statements are prepared per connection, and an
        // inlined SQL function's EXECUTE check happens when the plan is made, so a plan made
        // for service_role must not serve the roles after it.
        post("executable by service_role", "secret", json!({}))
            .token(k.hs256(json!({"role": "service_role", "exp": t + 60})))
            .json(json!("secret")),
        post("not executable, anonymous -> 401 42501 + WWW-Authenticate", "secret", json!({}))
            .error(401, "42501")
            .header_starts("www-authenticate", "Bearer"),
        post("not executable, authenticated -> 403 42501", "secret", json!({})).token(user_token.clone()).error(403, "42501"),
        // JWT failures.
        post("bad signature -> 401 PGRST301", "whoami", json!({}))
            .token(format!("{}x", k.hs256(json!({"role": "authenticated", "exp": t + 60}))))
            .error(401, "PGRST301")
            .header_starts("www-authenticate", "Bearer error=\"invalid_token\""),
        post("malformed token -> 401 PGRST301", "whoami", json!({})).token("abc".into()).error(401, "PGRST301"),
        post("expired token -> 401 PGRST303 JWT expired", "whoami", json!({}))
            .token(k.hs256(json!({"role": "authenticated", "exp": t - 120})))
            .error(401, "PGRST303")
            .header_starts("www-authenticate", "Bearer error=\"invalid_token\", error_description=\"JWT expired\"")
            .check(|v| eq(v, "/message", json!("JWT expired"))),
        post("alg none refused -> 401 PGRST301", "whoami", json!({}))
            .token(k.alg_none(json!({"role": "service_role", "exp": t + 60})))
            .error(401, "PGRST301"),
        post("HS256 token naming the ES256 key's kid refused", "whoami", json!({}))
            .token(k.confused(json!({"role": "service_role", "exp": t + 60})))
            .error(401, "PGRST301"),
        // Error body and custom status.
        post("raise -> 400 P0001 with message/details/hint", "fail", json!({"p_code": "P0001", "p_message": "I refuse!"}))
            .error(400, "P0001")
            .json(json!({"code": "P0001", "message": "I refuse!", "details": "the detail", "hint": "the hint"})),
        // Function lookup.
        post("unknown function -> 404 PGRST202", "no_such_function", json!({}))
            .error(404, "PGRST202")
            .check(|v| eq(v, "/message", json!("Could not find the function conformance.no_such_function without parameters in the schema cache"))),
        post("unknown argument -> 404 PGRST202", "add", json!({"a": 1, "zz": 2}))
            .error(404, "PGRST202")
            .check(|v| eq(v, "/message", json!("Could not find the function conformance.add(a, zz) in the schema cache"))),
        post("missing required argument -> 404 PGRST202", "add", json!({"b": 1})).error(404, "PGRST202"),
        post("overloads with the same names -> 300 PGRST203", "over", json!({"a": 1})).error(300, "PGRST203"),
        // Schemas.
        post("Content-Profile picks another exposed schema", "where_am_i", json!({}))
            .header("Content-Profile", "conformance_other")
            .header_starts("content-profile", "conformance_other")
            .json(json!("other")),
        get("Accept-Profile for GET", "where_am_i").header("Accept-Profile", "conformance_other").json(json!("other")),
        post("unknown schema -> 406 PGRST106", "add", json!({"a": 1})).header("Content-Profile", "nope").error(406, "PGRST106"),
        get("unknown schema on GET -> 406 PGRST106", "add?a=1").header("Accept-Profile", "nope").error(406, "PGRST106"),
        // Bodies.
        case("malformed JSON -> 400 PGRST102", "POST", "/rest/v1/rpc/add").body("{oops").error(400, "PGRST102"),
        case("non-object JSON -> 400 PGRST102", "POST", "/rest/v1/rpc/add").body("42").error(400, "PGRST102"),
        case("body over 1 MiB -> 413", "POST", "/rest/v1/rpc/add").body(big).error(413, "STANDIN413"),
        // Not implemented: said plainly.
        case("table endpoint -> 501", "GET", "/rest/v1/notes").error(501, "STANDIN501"),
        case("table write -> 501", "DELETE", "/rest/v1/notes?id=eq.1").error(501, "STANDIN501"),
        case("root -> 501", "GET", "/rest/v1/").error(501, "STANDIN501"),
        post("Prefer: params=single-object -> 501", "add", json!({"a": 1}))
            .header("Prefer", "params=single-object")
            .error(501, "STANDIN501"),
        post("Prefer: count=exact -> 501", "series", json!({"n": 1})).header("Prefer", "count=exact").error(501, "STANDIN501"),
        post("Accept: text/csv -> 501", "series", json!({"n": 1})).header("Accept", "text/csv").error(501, "STANDIN501"),
        post("Accept: singular object -> 501", "series", json!({"n": 1}))
            .header("Accept", "application/vnd.pgrst.object+json")
            .error(501, "STANDIN501"),
        get("filters on results -> 501", "series?n=3&select=x").error(501, "STANDIN501"),
        get("operator values are filters -> 501", "pairs?n=3&i=eq.1").error(501, "STANDIN501"),
        post("form bodies -> 501", "add", json!({})).header("Content-Type", "application/x-www-form-urlencoded").error(501, "STANDIN501"),
        case("array body -> 501", "POST", "/rest/v1/rpc/add").body("[1]").error(501, "STANDIN501"),
        post("response.status GUC -> 501", "teapot", json!({})).error(501, "STANDIN501"),
        post("RAISE SQLSTATE 'PGRST' -> 501", "fail", json!({"p_code": "PGRST", "p_message": "{\"code\":\"123\",\"message\":\"x\"}"}))
            .error(501, "STANDIN501"),
        case("OPTIONS -> 501", "OPTIONS", "/rest/v1/rpc/add").error(501, "STANDIN501"),
        case("PUT on RPC -> 405 PGRST101", "PUT", "/rest/v1/rpc/add").error(405, "PGRST101"),
        // JWKS.
        case("JWKS with public keys only", "GET", "/auth/v1/.well-known/jwks.json").check({
            let kid = k.kid.clone();
            move |v| {
                let keys = v["keys"].as_array().ok_or("no keys array")?;
                if keys.len() != 1 || keys[0]["kid"] != json!(kid) || keys[0].get("d").is_some() {
                    return Err(format!("unexpected JWKS {v}"));
                }
                Ok(())
            }
        }),
    ];
    // The documented SQLSTATE -> status table, each row raised by SQL.
    for &(sqlstate, authed, status) in STATUS_TABLE {
        let mut row = post(
            format!("SQLSTATE {sqlstate} (authenticated: {authed}) -> {status}"),
            "fail",
            json!({"p_code": sqlstate, "p_message": format!("raised {sqlstate}")}),
        )
        .error_body(status)
        .check(move |v| eq(v, "/code", json!(sqlstate)))
        .check(move |v| eq(v, "/message", json!(format!("raised {sqlstate}"))))
        .check(|v| eq(v, "/details", json!("the detail")))
        .check(|v| eq(v, "/hint", json!("the hint")));
        if authed {
            row = row.token(user_token.clone());
        }
        rows.push(row);
    }
    rows
}

#[test]
fn conformance_table() {
    let keys = Keys::generate();
    let server = start(&keys);
    let rows = table(&keys);
    let mut failures = Vec::new();
    for row in &rows {
        let resp = server.send(row);
        if let Err(e) = row.verify(&resp) {
            failures.push(format!("{} {} [{}]: {e}", row.method, row.path, row.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}\n\nstand-in stderr:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n"),
        server.stderr()
    );
}

#[test]
fn function_created_after_start_is_found_without_reload() {
    let keys = Keys::generate();
    let server = start(&keys);
    let name = format!("late_{}", std::process::id());
    let missing = post("before", &name, json!({})).error(404, "PGRST202");
    missing.verify(&server.send(&missing)).unwrap();
    let mut db = db();
    db.batch_execute(&format!(
        "create function conformance.{name}() returns int language sql as 'select 7';
         grant execute on function conformance.{name}() to anon"
    ))
    .unwrap();
    let found = post("after", &name, json!({})).json(json!(7));
    let result = found.verify(&server.send(&found));
    db.batch_execute(&format!("drop function conformance.{name}()"))
        .unwrap();
    result.unwrap();
}

/// A function replaced with other parameter types keeps its cached signature (as in PostgREST)
/// until `NOTIFY pgrst, 'reload schema'` or SIGUSR1.
#[test]
fn schema_cache_reloads_on_notify_and_sigusr1() {
    let keys = Keys::generate();
    let server = start(&keys);
    let name = format!("reload_{}", std::process::id());
    let mut db = db();
    let define = |db: &mut postgres::Client, ty: &str| {
        db.batch_execute(&format!(
            "drop function if exists conformance.{name};
             create function conformance.{name}(a {ty}) returns text language sql as $$ select pg_typeof(a)::text $$;
             grant execute on function conformance.{name} to anon"
        ))
        .unwrap();
    };
    let call = |expect: &str| {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let c = post("reload", &name, json!({"a": "1"})).json(json!(expect));
            match c.verify(&server.send(&c)) {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("{e}\n{}", server.stderr()),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    };
    define(&mut db, "integer");
    call("integer");
    define(&mut db, "text");
    db.batch_execute("notify pgrst, 'reload schema'").unwrap();
    call("text");
    define(&mut db, "bigint");
    Command::new("kill")
        .args(["-USR1", &server.child.id().to_string()])
        .status()
        .unwrap();
    call("bigint");
    db.batch_execute(&format!("drop function conformance.{name}"))
        .unwrap();
}

#[test]
fn stops_cleanly_on_sigterm_and_sigint() {
    let keys = Keys::generate();
    for signal in ["-TERM", "-INT"] {
        let server = start(&keys);
        let status = server.stop_with(signal);
        assert!(status.success(), "exit on {signal}: {status}");
    }
}

#[test]
fn supabase_js_client() {
    let keys = Keys::generate();
    let server = start(&keys);
    let t = now();
    let anon = keys.hs256(json!({"iss": "supabase", "role": "anon", "iat": t, "exp": t + 3600}));
    let user = keys.es256(json!({"sub": "11111111-2222-4333-8444-555555555555", "role": "authenticated", "aud": "authenticated", "exp": t + 3600}));
    run_node("supabase_js.mjs", &[&server.base, &anon, &user]);
}
