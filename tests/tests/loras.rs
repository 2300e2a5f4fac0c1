//! LoRAs end to end through workerd, the local Storage and the fake provider's trainings API:
//! a user creates a LoRA, uploads training images to signed URLs, trains it (a billed run the
//! trainer gets with signed URLs of the images), the completed webhook settles it and the
//! weights are copied into lora-models, where the LoRA points once ready; charged once, a
//! replayed webhook changes nothing; a stranger sees nothing until the LoRA is public, and
//! never its images; a failed run releases its credits. Training data: batches of videos cut
//! into segments that stay inside the video.

use genbase_tests::{Reply, Stack, User};
use serde_json::{json, Value};
use std::io::Read;
use std::time::{Duration, Instant};

/// A 1x1 transparent PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];
/// An MP4 `ftyp` box: enough for Storage to keep it as a video.
const MP4: &[u8] = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41";
const TRAINER: &str = "flux-lora-trainer";

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

/// PUTs `bytes` to a signed upload URL (its token is the only credential); the status.
fn put(url: &str, content_type: &str, bytes: &[u8]) -> u16 {
    match agent()
        .put(url)
        .set("content-type", content_type)
        .send_bytes(bytes)
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(status, _)) => status,
        Err(e) => panic!("PUT {url}: {e}"),
    }
}

/// The bytes a URL serves, or its error status.
fn download(url: &str) -> Result<Vec<u8>, u16> {
    match agent().get(url).call() {
        Ok(r) => {
            let mut bytes = Vec::new();
            r.into_reader().read_to_end(&mut bytes).expect("read body");
            Ok(bytes)
        }
        Err(ureq::Error::Status(status, _)) => Err(status),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

/// An upload of `user`'s whose file has arrived: its id.
fn uploaded(stack: &Stack, user: &User, purpose: &str, content_type: &str, bytes: &[u8]) -> String {
    let r = stack.json(
        "POST",
        "/v1/uploads",
        Some(&user.token),
        &json!({"purpose": purpose, "content_type": content_type, "bytes": bytes.len()}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        put(r.body["url"].as_str().unwrap(), content_type, bytes),
        200
    );
    r.body["upload_id"].as_str().unwrap().to_string()
}

/// A LoRA of `user`'s with `images` training images: its id.
fn lora_with_images(stack: &Stack, user: &User, trigger_word: &str, images: usize) -> String {
    let r = stack.json(
        "POST",
        "/v1/loras",
        Some(&user.token),
        &json!({"name": "Portraits", "base_model": "flux-dev", "trigger_word": trigger_word}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["status"], "draft");
    let id = r.body["id"].as_str().unwrap().to_string();
    for _ in 0..images {
        let upload = uploaded(stack, user, "training_image", "image/png", PNG);
        let r = stack.json(
            "POST",
            &format!("/v1/loras/{id}/images"),
            Some(&user.token),
            &json!({"upload_id": upload}),
        );
        assert_eq!(r.status, 201, "{r:?}");
    }
    id
}

fn train(stack: &Stack, user: &User, lora: &str, key: Option<&str>) -> Reply {
    let body = json!({"model": TRAINER, "params": {"steps": 50}}).to_string();
    let mut headers = vec![("content-type", "application/json")];
    headers.extend(key.map(|k| ("idempotency-key", k)));
    stack.send(
        "POST",
        &format!("/v1/loras/{lora}/train"),
        Some(&user.token),
        Some(&body),
        &headers,
    )
}

/// Polls the LoRA until it leaves `training`; panics after 60 s.
fn wait_trained(stack: &Stack, user: &User, lora: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = stack.get(&format!("/v1/loras/{lora}"), Some(&user.token));
        assert_eq!(r.status, 200, "{r:?}");
        if r.body["status"] != "training" {
            return r.body;
        }
        assert!(Instant::now() < deadline, "{lora} never finished: {r:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What the fake provider recorded of the training with this id.
fn provider_training(stack: &Stack, training_id: &str) -> Value {
    stack
        .provider_predictions()
        .into_iter()
        .find(|p| p["id"] == training_id)
        .unwrap_or_else(|| panic!("the provider never saw {training_id}"))
}

fn balance_and_held(stack: &Stack, user: &User) -> (i64, i64) {
    let c = stack.credits(user);
    (c["balance"].as_i64().unwrap(), c["held"].as_i64().unwrap())
}

#[test]
fn a_lora_trains_through_the_provider_and_is_ready_with_its_weights_charged_once() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("lora", 500);
    let stranger = stack.new_user("lora-stranger");
    let lora = lora_with_images(&stack, &user, "ohwx person", 2);

    // A stranger learns nothing of it.
    for (method, path) in [
        ("GET", format!("/v1/loras/{lora}")),
        ("GET", format!("/v1/loras/{lora}/images")),
        ("PATCH", format!("/v1/loras/{lora}")),
        ("DELETE", format!("/v1/loras/{lora}")),
    ] {
        let r = stack.send(
            method,
            &path,
            Some(&stranger.token),
            Some("{\"name\":\"x\"}"),
            &[],
        );
        assert_eq!(r.status, 404, "{method} {path}: {r:?}");
        assert_eq!(r.error_code(), "not_found");
    }
    let r = train(&stack, &stranger, &lora, Some("stranger-key"));
    assert_eq!(r.status, 404, "{r:?}");
    let r = stack.get("/v1/loras", Some(&stranger.token));
    assert_eq!(r.body["items"], json!([]), "{r:?}");

    // A run costs credits: no key, no run.
    let r = train(&stack, &user, &lora, None);
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Idempotency-Key"));
    assert_eq!(balance_and_held(&stack, &user), (500, 0));

    let r = train(&stack, &user, &lora, Some("train-1"));
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.body["lora"]["status"], "training");
    let generation = r.body["generation"]["id"].as_str().unwrap().to_string();
    let training_id = r.body["generation"]["provider_prediction_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        r.body["generation"]["credits_reserved"], 100,
        "50 steps x 2"
    );

    // The trainer got the validated params, the trigger word and images it can fetch.
    let sent = provider_training(&stack, &training_id);
    assert!(
        sent["endpoint"]
            .as_str()
            .unwrap()
            .starts_with("POST /v1/models/ostris/flux-dev-lora-trainer/versions/"),
        "{sent}"
    );
    assert_eq!(sent["request"]["destination"], "genbase/loras");
    let input = &sent["request"]["input"];
    assert_eq!(
        (&input["steps"], &input["trigger_word"]),
        (&json!(50), &json!("ohwx person"))
    );
    let images = input["input_images"].as_array().unwrap();
    assert_eq!(images.len(), 2, "{input}");
    for url in images {
        assert_eq!(download(url.as_str().unwrap()).unwrap(), PNG);
    }

    // The replayed request is the same run; nothing more reaches the provider.
    let again = train(&stack, &user, &lora, Some("train-1"));
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body["replayed"], true);
    assert_eq!(again.body["generation"]["id"], generation.as_str());

    let done = wait_trained(&stack, &user, &lora);
    assert_eq!(done["status"], "ready", "{done}");
    let path = done["weights"]["path"].as_str().unwrap().to_string();
    assert_eq!(path, format!("{}/{generation}/0.bin", user.id));
    assert_eq!(done["weights"]["bucket"], "lora-models");
    let weights = download(done["weights"]["url"].as_str().unwrap()).unwrap();
    assert_eq!(
        &weights[257..262],
        b"ustar",
        "the trainer's weights, stored"
    );
    let stored: i64 = stack
        .db()
        .query_one(
            "select count(*) from storage.objects where bucket_id = 'lora-models' and name = $1",
            &[&path],
        )
        .unwrap()
        .get(0);
    assert_eq!(stored, 1);
    assert_eq!(
        balance_and_held(&stack, &user),
        (400, 0),
        "charged 100 once"
    );

    // A replayed webhook changes nothing.
    let before = stack.credits(&user);
    let replay = genbase_tests::send(
        &format!("{}/_fake/redeliver/{training_id}", stack.provider_url),
        "POST",
        None,
        Some(""),
        &[],
    );
    assert_eq!(replay.status, 200, "{replay:?}");
    assert_eq!(replay.body["status"], 200, "{replay:?}");
    assert_eq!(stack.credits(&user)["items"], before["items"]);
    let after = stack.get(&format!("/v1/loras/{lora}"), Some(&user.token));
    assert_eq!(
        (&after.body["status"], &after.body["weights"]["path"]),
        (&json!("ready"), &json!(path))
    );
    let trainings = stack
        .provider_predictions()
        .into_iter()
        .filter(|p| {
            p["request"]["webhook"]
                .as_str()
                .is_some_and(|w| w.contains(&generation))
        })
        .count();
    assert_eq!(trainings, 1, "one run at the provider");

    // Still private: the stranger sees nothing; public: the LoRA and its weights, never its
    // training images.
    assert_eq!(
        stack
            .get(&format!("/v1/loras/{lora}"), Some(&stranger.token))
            .status,
        404
    );
    let r = stack.json(
        "PATCH",
        &format!("/v1/loras/{lora}"),
        Some(&user.token),
        &json!({"visibility": "public"}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let seen = stack.get(&format!("/v1/loras/{lora}"), Some(&stranger.token));
    assert_eq!(seen.status, 200, "{seen:?}");
    assert_eq!(
        download(seen.body["weights"]["url"].as_str().unwrap()).unwrap(),
        weights
    );
    let public = stack.get(
        "/v1/loras?visibility=public&limit=100",
        Some(&stranger.token),
    );
    assert!(
        public.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["id"] == lora.as_str()),
        "{public:?}"
    );
    let images = stack.get(&format!("/v1/loras/{lora}/images"), Some(&stranger.token));
    assert_eq!(images.status, 404, "{images:?}");
    assert!(stack.audit().as_array().is_some_and(Vec::is_empty));
}

#[test]
fn a_failed_run_releases_its_credits_and_the_lora_can_be_fixed() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("lora-fail", 200);
    // The fake provider fails a run whose input carries this marker.
    let lora = lora_with_images(&stack, &user, "tok [fail]", 1);
    let r = train(&stack, &user, &lora, Some("fail-1"));
    assert_eq!(r.status, 202, "{r:?}");
    let done = wait_trained(&stack, &user, &lora);
    assert_eq!(done["status"], "failed", "{done}");
    assert!(done["error"]
        .as_str()
        .unwrap()
        .contains("no credits were charged"));
    assert_eq!(balance_and_held(&stack, &user), (200, 0));

    // Failed: images and the trigger word may change, and it trains again.
    let upload = uploaded(&stack, &user, "training_image", "image/png", PNG);
    let r = stack.json(
        "POST",
        &format!("/v1/loras/{lora}/images"),
        Some(&user.token),
        &json!({"upload_id": upload}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let image = r.body["id"].as_str().unwrap().to_string();
    let r = stack.json(
        "PATCH",
        &format!("/v1/loras/{lora}"),
        Some(&user.token),
        &json!({"trigger_word": "tok"}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = train(&stack, &user, &lora, Some("fail-2"));
    assert_eq!(r.status, 202, "{r:?}");
    // While it trains, its images are fixed.
    let r = stack.send(
        "DELETE",
        &format!("/v1/loras/{lora}/images/{image}"),
        Some(&user.token),
        None,
        &[],
    );
    assert_eq!(r.status, 409, "{r:?}");
    assert_eq!(wait_trained(&stack, &user, &lora)["status"], "ready");
    assert_eq!(balance_and_held(&stack, &user), (100, 0));
    assert!(stack.audit().as_array().is_some_and(Vec::is_empty));
}

#[test]
fn training_data_is_cut_inside_each_video_and_is_its_owners_alone() {
    let stack = Stack::from_env();
    let user = stack.new_user("tdata");
    let stranger = stack.new_user("tdata-stranger");
    let r = stack.json(
        "POST",
        "/v1/training-data/batches",
        Some(&user.token),
        &json!({"name": "Walk cycles"}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let batch = r.body["id"].as_str().unwrap().to_string();
    let upload = uploaded(&stack, &user, "training_video", "video/mp4", MP4);
    let r = stack.json(
        "POST",
        &format!("/v1/training-data/batches/{batch}/videos"),
        Some(&user.token),
        &json!({"upload_id": upload, "duration_seconds": 10}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["bucket"], "training-data");
    let video = r.body["id"].as_str().unwrap().to_string();
    let segments = format!("/v1/training-data/videos/{video}/segments");

    let r = stack.json(
        "POST",
        &segments,
        Some(&user.token),
        &json!({"start_time": 0, "end_time": 4.5}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let segment = r.body["id"].as_str().unwrap().to_string();
    for (start, end) in [(5.0, 10.5), (-1.0, 2.0), (3.0, 3.0)] {
        let r = stack.json(
            "POST",
            &segments,
            Some(&user.token),
            &json!({"start_time": start, "end_time": end}),
        );
        assert_eq!(r.status, 400, "{start}..{end}: {r:?}");
    }
    let r = stack.json(
        "PATCH",
        &format!("/v1/training-data/segments/{segment}"),
        Some(&user.token),
        &json!({"end_time": 11}),
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("duration"));
    let r = stack.get(&segments, Some(&user.token));
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{r:?}");
    assert_eq!(r.body["items"][0]["end_time"], 4.5);

    for (method, path) in [
        ("GET", format!("/v1/training-data/batches/{batch}")),
        ("GET", format!("/v1/training-data/batches/{batch}/videos")),
        ("GET", segments.clone()),
        ("DELETE", format!("/v1/training-data/segments/{segment}")),
        ("DELETE", format!("/v1/training-data/batches/{batch}")),
    ] {
        let r = stack.send(method, &path, Some(&stranger.token), None, &[]);
        assert_eq!(r.status, 404, "{method} {path}: {r:?}");
    }
    let r = stack.json(
        "POST",
        &segments,
        Some(&stranger.token),
        &json!({"start_time": 0, "end_time": 1}),
    );
    assert_eq!(r.status, 404, "{r:?}");
    let r = stack.get("/v1/training-data/batches", Some(&stranger.token));
    assert_eq!(r.body["items"], json!([]));

    let r = stack.send(
        "DELETE",
        &format!("/v1/training-data/batches/{batch}"),
        Some(&user.token),
        None,
        &[],
    );
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(stack.get(&segments, Some(&user.token)).status, 404);
}
