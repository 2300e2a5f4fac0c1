//! GPU generations end to end: `POST /v1/generations` for a model that runs on our own GPUs
//! enqueues a task; the reference worker claims it over HTTP, heartbeats and completes it; the
//! user sees it succeeded and charged by the measured duration.

use genbase_tests::Stack;
use serde_json::json;
use xtask::gpu_worker::Worker;

#[test]
fn a_gpu_generation_is_completed_by_the_reference_worker_and_charged_by_duration() {
    let stack = Stack::from_env();
    let admin = stack.new_user("gpu-admin");
    stack.make_admin(&admin);
    let user = stack.new_user("gpu");
    stack.grant(&admin, &user, 100);
    // A model and task type of its own, so parallel tests never steal this task.
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (model, task_type) = (format!("wan-e2e-{suffix}"), format!("wan_video_{suffix}"));
    stack
        .db()
        .batch_execute(&format!(
            "insert into public.ai_models (model, kind, provider, provider_ref, task_type, max_units)
               values ('{model}', 'video', 'gpu', 'wan-2.1-t2v-14b', '{task_type}', 1800);
             insert into public.pricing (action, model, unit, credits_per_unit, usd_per_unit, active_from)
               values ('generate_video', '{model}', 'second', 0.5, 0.000278, now() - interval '1 minute');"
        ))
        .unwrap();

    let body = json!({"kind": "video", "model": model, "prompt": "waves at dusk",
                      "params": {"duration": 10, "render_ms": 1500}});
    let r = stack.json("POST", "/v1/generations", Some(&user.token), &body);
    assert_eq!(r.status, 202, "{r:?}");
    let id = r.body["generation"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.body["generation"]["credits_reserved"], 5,
        "10 s at 0.5 credit/s"
    );

    let reg = stack.json(
        "POST",
        "/v1/admin/workers",
        Some(&admin.token),
        &json!({"name": "e2e", "capabilities": [task_type]}),
    );
    assert_eq!(reg.status, 200, "{reg:?}");
    let key = reg.body["worker_key"].as_str().unwrap();
    let worker = Worker::new(&stack.api_url, key, vec![task_type.clone()]);
    assert!(
        worker.run_once().expect("worker loop"),
        "the worker found no task"
    );

    let g = stack.get(&format!("/v1/generations/{id}"), Some(&user.token));
    assert_eq!(g.body["status"], "succeeded", "{g:?}");
    let seconds: f64 = stack
        .db()
        .query_one(
            "select duration_seconds::float8 from public.tasks where generation_id = $1",
            &[&uuid::Uuid::parse_str(&id).unwrap()],
        )
        .unwrap()
        .get(0);
    assert!(seconds >= 1.5, "the worker rendered for at least 1.5 s");
    let expected = (seconds.min(10.0) * 0.5).ceil() as i64;
    assert_eq!(g.body["credits_charged"], expected, "{g:?}");
    let c = stack.get("/v1/credits", Some(&user.token)).body;
    assert_eq!(
        (c["balance"].as_i64(), c["held"].as_i64()),
        (Some(100 - expected), Some(0))
    );

    // Workers hold no user credentials: a worker key is refused on user endpoints and a user
    // token is refused on worker endpoints.
    assert_eq!(stack.get("/v1/me", Some(key)).status, 401);
    assert_eq!(
        stack
            .json("POST", "/v1/worker/claim", Some(&user.token), &json!({}))
            .status,
        401
    );
    let q = stack.get("/v1/admin/queue", Some(&user.token));
    assert_eq!(q.status, 403, "{q:?}");
    assert_eq!(stack.get("/v1/admin/queue", Some(&admin.token)).status, 200);
}
