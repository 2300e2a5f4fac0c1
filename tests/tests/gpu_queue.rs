//! GPU generations end to end: `POST /v1/generations` for a model that runs on our own GPUs
//! enqueues a task with a GPU-second budget; the reference worker claims it over HTTP,
//! heartbeats and completes it; the user is charged the measured duration, never more than
//! the budget, however long the worker ran or says it ran.

use genbase_tests::{Stack, User};
use serde_json::{json, Value};
use xtask::gpu_worker::Worker;

/// A GPU model and task type of this test's own, so parallel tests never steal its tasks.
/// `units_per_value`: budgeted GPU seconds per second of video asked for.
fn gpu_model(stack: &Stack, units_per_value: f64) -> (String, String) {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (model, task_type) = (format!("wan-e2e-{suffix}"), format!("wan_video_{suffix}"));
    stack
        .db()
        .batch_execute(&format!(
            "insert into public.ai_models (model, kind, provider, protocol, provider_ref, task_type, max_units, units_per_value)
               values ('{model}', 'video', 'gpu', 'gpu', 'wan-2.1-t2v-14b', '{task_type}', 1800, {units_per_value});
             insert into public.model_parameters (model, name, type, minimum, maximum, default_value, provider_name, drives_units)
               values ('{model}', 'duration', 'integer', 1, 10, '5', 'duration_seconds', true);
             insert into public.pricing (action, model, unit, credits_per_unit, usd_per_unit, active_from)
               values ('generate_video', '{model}', 'second', 0.5, 0.000278, now() - interval '1 minute');"
        ))
        .unwrap();
    (model, task_type)
}

fn worker_for(stack: &Stack, admin: &User, task_type: &str) -> (String, Worker) {
    let key = stack.register_worker(admin, "e2e", &[task_type]);
    let mut worker = Worker::new(&stack.api_url, &key, vec![task_type.to_string()]);
    worker.render_ms_per_second = 150;
    (key, worker)
}

fn start(stack: &Stack, user: &User, model: &str, body_params: Value) -> String {
    let body =
        json!({"kind": "video", "model": model, "prompt": "waves at dusk", "params": body_params});
    stack.start_generation(user, &body)
}

fn task_of(stack: &Stack, generation: &str) -> (f64, f64, bool, Value) {
    let row = stack
        .db()
        .query_one(
            "select coalesce(duration_seconds, 0)::float8, max_seconds::float8, overrun, params
             from public.tasks where generation_id = $1",
            &[&uuid::Uuid::parse_str(generation).unwrap()],
        )
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

#[test]
fn a_gpu_generation_is_completed_by_the_reference_worker_and_charged_by_duration() {
    let stack = Stack::from_env();
    let admin = stack.new_user("gpu-admin");
    stack.make_admin(&admin);
    let user = stack.new_user("gpu");
    stack.grant(&admin, &user, 100);
    let (model, task_type) = gpu_model(&stack, 1.0);

    // Parameters the model does not declare never reach the worker.
    let refused = stack.json(
        "POST",
        "/v1/generations",
        Some(&user.token),
        &json!({"kind": "video", "model": model, "prompt": "x", "params": {"render_ms": 1}}),
    );
    assert_eq!(refused.status, 400, "{refused:?}");
    let id = start(&stack, &user, &model, json!({"duration": 10}));
    let g = stack.get(&format!("/v1/generations/{id}"), Some(&user.token));
    assert_eq!(
        g.body["credits_reserved"], 5,
        "a budget of 10 GPU s at 0.5 credit/s"
    );
    let (_, budget, _, params) = task_of(&stack, &id);
    assert_eq!(budget, 10.0);
    assert_eq!(
        params["input"],
        json!({"prompt": "waves at dusk", "duration_seconds": 10})
    );

    let (key, worker) = worker_for(&stack, &admin, &task_type);
    assert!(
        worker.run_once().expect("worker loop"),
        "the worker found no task"
    );

    let g = stack.get(&format!("/v1/generations/{id}"), Some(&user.token));
    assert_eq!(g.body["status"], "succeeded", "{g:?}");
    let (seconds, _, overrun, _) = task_of(&stack, &id);
    assert!(seconds >= 1.5, "the worker rendered 10 x 150 ms");
    assert!(!overrun);
    let expected = (seconds.min(10.0) * 0.5).ceil() as i64;
    assert_eq!(g.body["credits_charged"], expected, "{g:?}");
    let c = stack.get("/v1/credits", Some(&user.token)).body;
    assert_eq!(
        (c["balance"].as_i64(), c["held"].as_i64()),
        (Some(100 - expected), Some(0))
    );

    // Workers hold no user credentials: a worker key is refused on user endpoints and a user
    // token is refused on worker endpoints.
    assert_eq!(stack.get("/v1/me", Some(&key)).status, 401);
    assert_eq!(
        stack
            .json("POST", "/v1/worker/claim", Some(&user.token), &json!({}))
            .status,
        401
    );
    let q = stack.get("/v1/admin/queue", Some(&user.token));
    assert_eq!(q.status, 403, "{q:?}");
    assert_eq!(stack.get("/v1/admin/queue", Some(&admin.token)).status, 200);
    assert_eq!(stack.audit(), json!([]));
}

#[test]
fn no_worker_bills_more_than_the_budget() {
    let stack = Stack::from_env();
    let admin = stack.new_user("gpu-budget-admin");
    stack.make_admin(&admin);
    let user = stack.new_user("gpu-budget");
    stack.grant(&admin, &user, 100);
    // 0.1 GPU s per second of video: 10 s asked for is a budget of 1 s, and the reference
    // worker needs 1.5 s.
    let (model, task_type) = gpu_model(&stack, 0.1);
    let (key, worker) = worker_for(&stack, &admin, &task_type);

    let stopped = start(&stack, &user, &model, json!({"duration": 10}));
    assert!(worker.run_once().expect("worker loop"));
    let g = stack.get(&format!("/v1/generations/{stopped}"), Some(&user.token));
    assert_eq!(
        (
            g.body["status"].as_str(),
            g.body["credits_charged"].as_i64()
        ),
        (Some("failed"), Some(0)),
        "the reference worker stops at its budget: {g:?}"
    );
    assert!(
        !g.body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("budget"),
        "the worker's words stay in the task: {g:?}"
    );

    // A worker that claims to have run 9999 s is charged the budget and flagged.
    let lying = start(&stack, &user, &model, json!({"duration": 10}));
    let claimed = stack.send(
        "POST",
        "/v1/worker/claim",
        Some(&key),
        Some(&json!({"task_types": [task_type]}).to_string()),
        &[("content-type", "application/json")],
    );
    assert_eq!(claimed.status, 200, "{claimed:?}");
    let task = claimed.body[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        claimed.body[0]["max_seconds"].as_f64(),
        Some(1.0),
        "the worker is told its budget"
    );
    let done = stack.send(
        "POST",
        &format!("/v1/worker/tasks/{task}/complete"),
        Some(&key),
        Some(&json!({"output": {"frames": 240}, "duration_seconds": 9999}).to_string()),
        &[("content-type", "application/json")],
    );
    assert_eq!(done.status, 200, "{done:?}");
    let g = stack.get(&format!("/v1/generations/{lying}"), Some(&user.token));
    assert_eq!(
        (
            g.body["status"].as_str(),
            g.body["credits_charged"].as_i64()
        ),
        (Some("succeeded"), Some(1)),
        "charged ceil(1 s x 0.5), not 9999 s: {g:?}"
    );
    let (reported, budget, overrun, _) = task_of(&stack, &lying);
    assert_eq!((reported, budget, overrun), (9999.0, 1.0, true));
    let c = stack.get("/v1/credits", Some(&user.token)).body;
    assert_eq!(
        (c["balance"].as_i64(), c["held"].as_i64()),
        (Some(99), Some(0))
    );
    assert_eq!(stack.audit(), json!([]));
}

/// A worker that finishes tasks in batches completes them in one call. Each task is charged
/// once, by its own duration, even when the same batch is sent several times at once and
/// raced by single completions; a task the worker does not hold is reported, not completed,
/// and a malformed batch is refused whole.
#[test]
fn a_batch_of_results_settles_each_task_once_however_often_it_is_sent() {
    let stack = Stack::from_env();
    let admin = stack.new_user("gpu-batch-admin");
    stack.make_admin(&admin);
    let user = stack.new_user("gpu-batch");
    stack.grant(&admin, &user, 100);
    // 4 s of video is a budget of 4 GPU s, 2 credits reserved.
    let (model, task_type) = gpu_model(&stack, 1.0);
    let (key, _) = worker_for(&stack, &admin, &task_type);
    let (stranger, _) = worker_for(&stack, &admin, &task_type);
    for _ in 0..5 {
        start(&stack, &user, &model, json!({"duration": 4}));
    }
    let post = |path: &str, key: &str, body: &Value| {
        stack.send(
            "POST",
            path,
            Some(key),
            Some(&body.to_string()),
            &[("content-type", "application/json")],
        )
    };
    let claimed = post(
        "/v1/worker/claim",
        &key,
        &json!({"task_types": [task_type], "limit": 10}),
    );
    assert_eq!(claimed.status, 200, "{claimed:?}");
    let tasks: Vec<String> = claimed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tasks.len(), 5, "{claimed:?}");
    // 1 to 5 s reported: the last is over the 4 s budget.
    let results: Vec<Value> = tasks
        .iter()
        .enumerate()
        .map(
            |(i, t)| json!({"task_id": t, "output": {"frames": i * 24}, "duration_seconds": i + 1}),
        )
        .collect();
    let lost = |r: &Value| r["error"]["code"] == "PT409";

    let r = post(
        "/v1/worker/tasks/complete",
        &stranger,
        &json!({"results": results}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body.as_array().unwrap().iter().all(lost),
        "the stranger holds no lease: {r:?}"
    );
    let mut bad = results.clone();
    bad[4]["duration_seconds"] = json!(-1);
    let r = post("/v1/worker/tasks/complete", &key, &json!({"results": bad}));
    assert_eq!(r.status, 400, "{r:?}");

    let unknown = json!({"task_id": uuid::Uuid::new_v4(), "output": {}, "duration_seconds": 1});
    let batch = json!({"results": results.iter().chain([&unknown]).collect::<Vec<_>>()});
    let (batches, singles): (Vec<_>, Vec<_>) = std::thread::scope(|s| {
        let batches: Vec<_> = (0..4)
            .map(|_| s.spawn(|| post("/v1/worker/tasks/complete", &key, &batch)))
            .collect();
        let singles: Vec<_> = results
            .iter()
            .map(|r| {
                s.spawn(|| {
                    let path = format!(
                        "/v1/worker/tasks/{}/complete",
                        r["task_id"].as_str().unwrap()
                    );
                    let body =
                        json!({"output": r["output"], "duration_seconds": r["duration_seconds"]});
                    (
                        r["task_id"].as_str().unwrap().to_string(),
                        post(&path, &key, &body),
                    )
                })
            })
            .collect();
        (
            batches.into_iter().map(|h| h.join().unwrap()).collect(),
            singles.into_iter().map(|h| h.join().unwrap()).collect(),
        )
    });
    for task in &tasks {
        let by_batch = batches
            .iter()
            .map(|b| {
                assert_eq!(b.status, 200, "{b:?}");
                let outcomes = b.body.as_array().unwrap();
                assert_eq!(outcomes.len(), 6);
                assert!(lost(&outcomes[5]), "the unknown task: {b:?}");
                outcomes
                    .iter()
                    .filter(|o| o["task_id"] == *task && o["status"] == "succeeded")
                    .count()
            })
            .sum::<usize>();
        let single = singles
            .iter()
            .find(|(t, _)| t == task)
            .map(|(_, r)| r)
            .unwrap();
        assert!(matches!(single.status, 200 | 409), "{single:?}");
        assert_eq!(
            by_batch + usize::from(single.status == 200),
            1,
            "task {task} completed once"
        );
    }

    let mut charged = 0;
    for task in &tasks {
        let row = stack
            .db()
            .query_one(
                "select g.status, g.credits_charged, t.duration_seconds::float8, t.overrun
                 from public.tasks t join public.generations g on g.id = t.generation_id where t.id = $1",
                &[&uuid::Uuid::parse_str(task).unwrap()],
            )
            .unwrap();
        let (status, credits, seconds, overrun): (String, i64, f64, bool) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        assert_eq!(status, "succeeded");
        assert_eq!(credits, (seconds.min(4.0) * 0.5).ceil() as i64, "{task}");
        assert_eq!(overrun, seconds > 4.0);
        charged += credits;
    }
    assert_eq!(charged, 1 + 1 + 2 + 2 + 2);
    let c = stack.get("/v1/credits", Some(&user.token)).body;
    assert_eq!(
        (c["balance"].as_i64(), c["held"].as_i64()),
        (Some(100 - charged), Some(0))
    );
    assert_eq!(stack.audit(), json!([]));
}
