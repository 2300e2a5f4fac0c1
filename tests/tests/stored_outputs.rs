//! Outputs that last: a generation's files are copied into storage we own, so they outlive
//! the provider's (the fake deletes them, as Replicate does after an hour); the API serves
//! them through signed URLs only their owner gets; a copy that fails is retried without
//! charging again; GPU workers upload to signed upload URLs.

use genbase_tests::{Stack, User};
use serde_json::{json, Value};
use std::io::Read;
use std::time::{Duration, Instant};

/// Polls the generation until its copy is no longer pending; panics after `within`.
fn wait_copy(stack: &Stack, user: &User, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let r = stack.get(&format!("/v1/generations/{id}"), Some(&user.token));
        assert_eq!(r.status, 200, "{r:?}");
        let storage = r.body["outputs"]["storage"].as_str().unwrap_or_default();
        if storage != "pending" && r.body["status"] == "succeeded" {
            return r.body;
        }
        assert!(
            Instant::now() < deadline,
            "copy of {id} never ended: {:?}",
            r.body
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// GET `url` without credentials: status, content type and bytes.
fn download(url: &str) -> (u16, String, Vec<u8>) {
    match ureq::get(url).timeout(Duration::from_secs(30)).call() {
        Ok(r) => {
            let status = r.status();
            let content_type = r.content_type().to_string();
            let mut bytes = Vec::new();
            r.into_reader().read_to_end(&mut bytes).unwrap();
            (status, content_type, bytes)
        }
        Err(ureq::Error::Status(status, r)) => (status, r.content_type().to_string(), Vec::new()),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

fn provider_expire(stack: &Stack, prediction_id: &str) {
    let r = genbase_tests::send(
        &format!(
            "{}/_fake/predictions/{prediction_id}/expire-files",
            stack.provider_url
        ),
        "POST",
        None,
        None,
        &[],
    );
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn outputs_outlive_the_provider_and_only_their_owner_can_read_them() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("stored", 100);
    let id = stack.start_generation(
        &user,
        &json!({"kind": "image", "model": "flux-schnell", "prompt": "a kept fox", "params": {"num_outputs": 2}}),
    );
    let g = wait_copy(&stack, &user, &id, Duration::from_secs(60));
    assert_eq!(g["outputs"]["storage"], "stored", "{g:?}");
    let files = g["outputs"]["files"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(files.len(), 2, "{g:?}");
    for (n, f) in files.iter().enumerate() {
        assert_eq!(
            f["path"].as_str().unwrap(),
            format!("{}/{id}/{n}.png", user.id),
            "{g:?}"
        );
        assert_eq!(f["content_type"], "image/png");
    }
    assert!(g["outputs"]["urls_expire_at"].as_i64().is_some(), "{g:?}");

    // The provider forgets its files; ours still serve every output's bytes.
    let provider_urls = g["outputs"]["provider_urls"].as_array().cloned().unwrap();
    provider_expire(&stack, g["provider_prediction_id"].as_str().unwrap());
    for u in &provider_urls {
        assert_eq!(download(u.as_str().unwrap()).0, 404, "the fake expired {u}");
    }
    let again = stack.get(&format!("/v1/generations/{id}"), Some(&user.token));
    let urls = again.body["outputs"]["urls"].as_array().cloned().unwrap();
    assert_eq!(urls.len(), 2, "{again:?}");
    for u in &urls {
        let (status, content_type, bytes) = download(u.as_str().unwrap());
        assert_eq!(status, 200, "{u}");
        assert_eq!(content_type, "image/png");
        assert!(
            bytes.starts_with(b"\x89PNG"),
            "{u} served {} bytes",
            bytes.len()
        );
    }

    // A tampered signed URL, or the same path with a token for another, serves nothing.
    let first = urls[0].as_str().unwrap();
    let tampered = format!("{}x", first);
    assert_ne!(download(&tampered).0, 200);
    let swapped = first.replace("/0.png?", "/1.png?");
    assert_ne!(download(&swapped).0, 200, "a token signs one path");

    // A stranger neither reads the generation nor gets its files by path.
    let stranger = stack.new_user("stored-stranger");
    assert_eq!(
        stack
            .get(&format!("/v1/generations/{id}"), Some(&stranger.token))
            .status,
        404
    );
    let by_path = genbase_tests::send(
        &format!(
            "{}/storage/v1/object/generations/{}",
            stack.supabase_url,
            files[0]["path"].as_str().unwrap()
        ),
        "GET",
        Some(&stranger.token),
        None,
        &[],
    );
    assert!(
        by_path.status == 400 || by_path.status == 404,
        "{by_path:?}"
    );
    let owner = genbase_tests::send(
        &format!(
            "{}/storage/v1/object/generations/{}",
            stack.supabase_url,
            files[0]["path"].as_str().unwrap()
        ),
        "GET",
        Some(&user.token),
        None,
        &[],
    );
    assert_eq!(owner.status, 200, "the owner reads it as themself");
    assert!(stack.audit().as_array().is_some_and(Vec::is_empty));
}

#[test]
fn a_text_output_is_text() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("stored-text", 100);
    let id = stack.start_generation(
        &user,
        &json!({"kind": "text", "model": "llama-3-8b-instruct", "prompt": "hello", "params": {"max_tokens": 64}}),
    );
    let g = stack.wait_final(&user, &id);
    assert_eq!(g["status"], "succeeded", "{g:?}");
    assert!(
        g["outputs"]["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{g:?}"
    );
    assert!(g["outputs"].get("urls").is_none(), "{g:?}");
    assert!(g["outputs"].get("storage").is_none(), "{g:?}");
}

#[test]
fn a_copy_that_fails_twice_then_succeeds_stores_once_and_charges_once() {
    let stack = Stack::from_env();
    let (admin, user) = stack.funded_user("stored-flaky", 100);
    let id = stack.start_generation(
        &user,
        &json!({"kind": "image", "model": "flux-schnell", "prompt": "[flakyfiles] a stubborn fox", "params": {"num_outputs": 2}}),
    );
    let g = stack.wait_final(&user, &id);
    assert_eq!(g["status"], "succeeded", "{g:?}");
    let mut db = stack.db();
    let task = |db: &mut postgres::Client| {
        let row = db
            .query_one(
                "select id, status, attempts, coalesce(last_error, '') from public.tasks
                 where task_type = 'storage.persist' and params ->> 'generation_id' = $1",
                &[&id],
            )
            .unwrap();
        (
            row.get::<_, uuid::Uuid>(0),
            row.get::<_, String>(1),
            row.get::<_, i32>(2),
            row.get::<_, String>(3),
        )
    };
    // Each failure is retried with the queue's backoff; the test skips the wait (run_at),
    // not the mechanism, and runs the jobs at once (as an operator can) rather than wait
    // for the sweeper's tick while the provider's files age.
    let run_jobs = || {
        let r = stack.json(
            "POST",
            "/v1/admin/storage-jobs",
            Some(&admin.token),
            &json!({}),
        );
        assert_eq!(r.status, 200, "{r:?}");
    };
    for failures in 1..=2 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (task_id, status, attempts, last_error) = task(&mut db);
            if status == "queued" && attempts == failures {
                db.execute(
                    // Due before every other job, so the run takes it first.
                    "update public.tasks set run_at = now() - interval '1 hour' where id = $1",
                    &[&task_id],
                )
                .unwrap();
                run_jobs();
                break;
            }
            assert!(
                Instant::now() < deadline,
                "failure {failures} never came: {status} after {attempts} attempts ({last_error})"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let g = wait_copy(&stack, &user, &id, Duration::from_secs(30));
    assert_eq!(g["outputs"]["storage"], "stored", "{g:?}");
    assert_eq!(task(&mut db).1, "succeeded");
    assert_eq!(task(&mut db).2, 3, "two failures and the copy that worked");
    let objects: i64 = db
        .query_one(
            "select count(*) from storage.objects where bucket_id = 'generations' and name like $1",
            &[&format!("{}/{id}/%", user.id)],
        )
        .unwrap()
        .get(0);
    assert_eq!(objects, 2, "one object per output");
    let settled: i64 = db
        .query_one(
            "select count(*) from public.credit_ledger where generation_id = $1::text::uuid and kind = 'settle'",
            &[&id],
        )
        .unwrap()
        .get(0);
    assert_eq!(settled, 1, "one settlement");
    assert_eq!(g["credits_charged"], 10);
    assert!(stack.audit().as_array().is_some_and(Vec::is_empty));
}

#[test]
fn a_gpu_worker_uploads_to_signed_urls_and_cannot_claim_files_it_did_not_upload() {
    let stack = Stack::from_env();
    let (admin, user) = stack.funded_user("stored-gpu", 1000);
    let key = stack.register_worker(&admin, "stored-gpu", &["stored_gpu_video"]);
    let mut db = stack.db();
    // A task of its own type, so no other test's worker takes it.
    let id = stack.start_generation(
        &user,
        &json!({"kind": "video", "model": "wan-2.1-gpu", "prompt": "a river", "params": {"duration": 2}}),
    );
    db.execute(
        "update public.tasks set task_type = 'stored_gpu_video' where generation_id = $1::text::uuid",
        &[&id],
    )
    .unwrap();
    let worker_post = |path: &str, body: Value| {
        genbase_tests::send(
            &format!("{}{path}", stack.api_url),
            "POST",
            Some(&key),
            Some(&body.to_string()),
            &[("content-type", "application/json")],
        )
    };
    let claimed = worker_post("/v1/worker/claim", json!({"limit": 1}));
    assert_eq!(claimed.status, 200, "{claimed:?}");
    let task_id = claimed.body[0]["id"].as_str().unwrap().to_string();

    let refused = worker_post(
        &format!("/v1/worker/tasks/{task_id}/uploads"),
        json!({"content_types": ["text/html"]}),
    );
    assert_eq!(refused.status, 400, "{refused:?}");
    let granted = worker_post(
        &format!("/v1/worker/tasks/{task_id}/uploads"),
        json!({"content_types": ["video/mp4"]}),
    );
    assert_eq!(granted.status, 200, "{granted:?}");
    let upload = &granted.body["uploads"][0];
    let path = upload["path"].as_str().unwrap().to_string();
    assert_eq!(path, format!("{}/{id}/0.mp4", user.id));

    // A URL of the worker's own is no output: it uploads.
    let own_url = worker_post(
        &format!("/v1/worker/tasks/{task_id}/complete"),
        json!({"output": {"urls": ["https://gpu.example/out.mp4"]}, "duration_seconds": 2}),
    );
    assert_eq!(own_url.status, 400, "{own_url:?}");
    // Completing with a file that is not there is refused; the task stays the worker's.
    let early = worker_post(
        &format!("/v1/worker/tasks/{task_id}/complete"),
        json!({"output": {"files": [{"path": path}]}, "duration_seconds": 2}),
    );
    assert_eq!(early.status, 400, "{early:?}");

    let put = ureq::put(upload["url"].as_str().unwrap())
        .set("content-type", "video/mp4")
        .send_bytes(b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom");
    assert!(put.is_ok(), "{put:?}");
    let done = worker_post(
        &format!("/v1/worker/tasks/{task_id}/complete"),
        json!({"output": {"files": [{"path": path}]}, "duration_seconds": 2}),
    );
    assert_eq!(done.status, 200, "{done:?}");
    let g = stack.wait_final(&user, &id);
    assert_eq!(g["outputs"]["storage"], "stored", "{g:?}");
    let url = g["outputs"]["urls"][0].as_str().unwrap().to_string();
    let (status, content_type, bytes) = download(&url);
    assert_eq!((status, content_type.as_str()), (200, "video/mp4"));
    assert_eq!(&bytes[4..8], b"ftyp");
    assert!(stack.audit().as_array().is_some_and(Vec::is_empty));
}
