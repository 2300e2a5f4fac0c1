//! `/v1/me` end to end: router -> profile Worker (WASM in workerd) -> stand-in -> Postgres.

use genbase_tests::Stack;
use serde_json::json;
use xtask::keys::now;

#[test]
fn each_user_reads_their_own_profile() {
    let stack = Stack::from_env();
    let (a, b) = (stack.new_user("a"), stack.new_user("b"));
    let ra = stack.get("/v1/me", Some(&a.token));
    assert_eq!(ra.status, 200, "{ra:?}");
    assert_eq!(ra.body["email"], a.email);
    assert_eq!(ra.body["id"], a.id.to_string());
    assert!(ra.request_id.is_some());
    let rb = stack.get("/v1/me", Some(&b.token));
    assert_eq!(rb.body["email"], b.email);

    // The request is logged after the response (ctx.wait_until), with who asked.
    let request_id = ra.request_id.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let row = loop {
        let rows = stack
            .db()
            .query(
                "select function, method, path, status_code, user_id from public.api_logs where request_id = $1",
                &[&request_id],
            )
            .unwrap();
        if let Some(r) = rows.into_iter().next() {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no api_logs row for {request_id}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(row.get::<_, String>(0), "profile");
    assert_eq!(row.get::<_, String>(1), "GET");
    assert_eq!(row.get::<_, String>(2), "/v1/me");
    assert_eq!(row.get::<_, i32>(3), 200);
    assert_eq!(row.get::<_, Option<uuid::Uuid>>(4), Some(a.id));
}

#[test]
fn legacy_hs256_tokens_are_accepted() {
    let stack = Stack::from_env();
    let a = stack.new_user("hs");
    let token = stack.sign_hs256(&stack.claims(&a, now() + 600));
    let r = stack.get("/v1/me", Some(&token));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["email"], a.email);
}

#[test]
fn bad_tokens_are_refused_with_the_json_error_body() {
    let stack = Stack::from_env();
    let a = stack.new_user("bad");
    let expired = stack.token_for(&a.id.to_string(), &a.email, now() - 3600);
    let mut tampered = a.token.clone();
    // Flip one character of the payload: the signature no longer matches.
    let dot = tampered.find('.').unwrap() + 5;
    let c = if &tampered[dot..dot + 1] == "A" {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(dot..dot + 1, c);
    let payload = a.token.split('.').nth(1).unwrap();
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    let mut wrong_aud = stack.claims(&a, now() + 600);
    wrong_aud["aud"] = json!("someone-else");
    let wrong_aud = stack.sign_es256(&wrong_aud);
    let mut no_role = stack.claims(&a, now() + 600);
    no_role.as_object_mut().unwrap().remove("role");
    let no_role = stack.sign_es256(&no_role);
    let mut wrong_iss = stack.claims(&a, now() + 600);
    wrong_iss["iss"] = json!("https://evil.example/auth/v1");
    let wrong_iss = stack.sign_es256(&wrong_iss);
    let oversized = format!("{}{}", a.token, "A".repeat(9000));

    for (name, token) in [
        ("none", None),
        ("expired", Some(expired.as_str())),
        ("tampered", Some(tampered.as_str())),
        ("alg none", Some(alg_none.as_str())),
        ("garbage", Some("not-a-jwt")),
        ("wrong aud", Some(wrong_aud.as_str())),
        ("wrong iss", Some(wrong_iss.as_str())),
        ("no role", Some(no_role.as_str())),
        ("oversized", Some(oversized.as_str())),
    ] {
        let r = stack.get("/v1/me", token);
        assert_eq!(r.status, 401, "{name}: {r:?}");
        assert!(!r.error_code().is_empty(), "{name}");
    }
}

#[test]
fn bad_patches_are_refused_and_change_nothing() {
    let stack = Stack::from_env();
    let a = stack.new_user("patch");
    let before = stack.get("/v1/me", Some(&a.token)).body;
    let cases: Vec<(&str, u16)> = vec![
        ("{not json", 400),
        (r#"{"display_name": 5}"#, 400),
        (r#"{"nickname": "x"}"#, 400),
        (r#"["display_name"]"#, 400),
        (r#"{"display_name": "ok", "role": "admin"}"#, 403),
        (r#"{"is_active": false}"#, 403),
        (r#"{"credits": 1000000}"#, 403),
    ];
    for (body, status) in cases {
        let r = stack.send(
            "PATCH",
            "/v1/me",
            Some(&a.token),
            Some(body),
            &[("content-type", "application/json")],
        );
        assert_eq!(r.status, status, "{body}: {r:?}");
        r.error_code();
    }
    let long = json!({ "display_name": "x".repeat(81) });
    assert_eq!(
        stack.json("PATCH", "/v1/me", Some(&a.token), &long).status,
        400
    );
    let huge = "x".repeat(70 * 1024);
    let r = stack.send(
        "PATCH",
        "/v1/me",
        Some(&a.token),
        Some(&huge),
        &[("content-type", "application/json")],
    );
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(stack.get("/v1/me", Some(&a.token)).body, before);
}

#[test]
fn a_user_edits_their_profile_but_cannot_raise_their_role() {
    let stack = Stack::from_env();
    let a = stack.new_user("edit");
    let r = stack.json(
        "PATCH",
        "/v1/me",
        Some(&a.token),
        &json!({"display_name": "Ada", "settings": {"theme": "dark"}}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["display_name"], "Ada");
    assert_eq!(r.body["settings"]["theme"], "dark");
    let r = stack.json(
        "PATCH",
        "/v1/me",
        Some(&a.token),
        &json!({"role": "super_admin"}),
    );
    assert_eq!(r.status, 403);
    let role: String = stack
        .db()
        .query_one(
            "select role::text from public.profiles where id = $1",
            &[&a.id],
        )
        .unwrap()
        .get(0);
    assert_eq!(role, "user");
}

#[test]
fn unknown_paths_and_methods_get_json_errors() {
    let stack = Stack::from_env();
    let a = stack.new_user("paths");
    let origin = [("origin", "http://localhost:3000")];
    // Answered by the router itself: the same error body and CORS headers as a function's.
    let r = stack.send("GET", "/v1/nowhere", Some(&a.token), None, &origin);
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "not_found");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:3000"),
        "{r:?}"
    );
    assert!(r.header("x-request-id").is_some(), "{r:?}");
    // Answered by a function: unknown under its prefix, and a known path's other methods.
    let r = stack.get("/v1/me/nowhere", Some(&a.token));
    assert_eq!((r.status, r.error_code()), (404, "not_found"));
    let r = stack.send("DELETE", "/v1/me", Some(&a.token), None, &origin);
    assert_eq!(r.status, 405);
    assert_eq!(r.error_code(), "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET, PATCH"), "{r:?}");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    // A method workers-rs does not know is not a GET (Schemathesis found it answered as one).
    let r = stack.send("QUERY", "/v1/me", Some(&a.token), None, &origin);
    assert_eq!(
        (r.status, r.error_code()),
        (405, "method_not_allowed"),
        "{r:?}"
    );
}

#[test]
fn cors_preflight_is_answered_for_configured_origins_only() {
    let stack = Stack::from_env();
    let preflight = |origin: &str| {
        genbase_tests::send(
            &format!("{}/v1/me", stack.api_url),
            "OPTIONS",
            None,
            None,
            &[
                ("origin", origin),
                ("access-control-request-method", "PATCH"),
            ],
        )
    };
    let ok = preflight("http://localhost:3000");
    assert!(ok.status == 204 || ok.status == 200, "{ok:?}");
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    assert!(ok
        .header("access-control-allow-methods")
        .unwrap_or("")
        .contains("PATCH"));
    let evil = preflight("https://evil.example");
    assert_eq!(evil.header("access-control-allow-origin"), None, "{evil:?}");
}

#[test]
fn a_user_reads_their_plan_its_limits_and_their_use() {
    let stack = Stack::from_env();
    let user = stack.new_user("quotas");
    let quotas = |token: &str| {
        let r = stack.get("/v1/me/quotas", Some(token));
        assert_eq!(r.status, 200, "{r:?}");
        r.body
    };
    let before = quotas(&user.token);
    assert_eq!(before["plan"], "free");
    let plan = stack
        .db()
        .query_one(
            "select concurrent_generations::bigint, projects_per_user::bigint, storage_bytes \
             from public.plans where id = 'free'",
            &[],
        )
        .unwrap();
    for (i, limit) in [
        "concurrent_generations",
        "projects_per_user",
        "storage_bytes",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(
            before["limits"][limit].as_i64(),
            plan.get::<_, Option<i64>>(i),
            "{limit}"
        );
        assert_eq!(before["usage"][limit], 0, "{limit}");
    }
    let made = stack.json(
        "POST",
        "/v1/projects",
        Some(&user.token),
        &json!({"name": "Counted"}),
    );
    assert_eq!(made.status, 201, "{made:?}");
    assert_eq!(quotas(&user.token)["usage"]["projects_per_user"], 1);
    assert_eq!(stack.get("/v1/me/quotas", None).status, 401);
}
