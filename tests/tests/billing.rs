//! What a generation costs is the server's to say. For each unit kind (images, seconds of
//! music, characters of speech, tokens of text; GPU seconds are in gpu_queue.rs) the charge
//! is the measured usage at list price, never more than was reserved, and the provider is
//! sent exactly the validated parameters, so a client cannot make it produce more.

use genbase_tests::{Reply, Stack, User};
use serde_json::{json, Value};

fn start(stack: &Stack, user: &User, body: Value) -> Reply {
    stack.json("POST", "/v1/generations", Some(&user.token), &body)
}

/// Starts, waits, and checks the books: the charge is `charged`, the hold is gone, the
/// balance moved by exactly the charge. Returns the finished generation.
fn run(stack: &Stack, user: &User, body: Value, reserved: i64, charged: i64) -> Value {
    let before = stack.get("/v1/credits", Some(&user.token)).body["balance"]
        .as_i64()
        .unwrap();
    let r = start(stack, user, body.clone());
    assert_eq!(r.status, 202, "{body}: {r:?}");
    assert_eq!(r.body["generation"]["credits_reserved"], reserved, "{r:?}");
    let g = stack.wait_final(user, r.body["generation"]["id"].as_str().unwrap());
    assert_eq!(g["status"], "succeeded", "{g:?}");
    assert_eq!(g["credits_charged"], charged, "{g:?}");
    let c = stack.get("/v1/credits", Some(&user.token)).body;
    assert_eq!(
        (c["balance"].as_i64(), c["held"].as_i64()),
        (Some(before - charged), Some(0)),
        "{g:?}"
    );
    g
}

#[test]
fn the_client_cannot_choose_its_units() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("bypass", 1000);
    // The request from the review: a fraction of a unit for four images.
    let r = start(
        &stack,
        &user,
        json!({"kind": "image", "model": "flux-1.1-pro", "prompt": "a lighthouse",
               "units": 0.01, "params": {"num_outputs": 4}}),
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("units"));
    // Without `units`: flux-1.1-pro makes one image and takes no image count.
    let r = start(
        &stack,
        &user,
        json!({"kind": "image", "model": "flux-1.1-pro", "prompt": "a lighthouse",
               "params": {"num_outputs": 4}}),
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("params.num_outputs"));
    for params in [
        json!({"num_outputs": 0.01}),
        json!({"num_outputs": 5}),
        json!({"num_outputs": "4"}),
        json!({"disable_safety_checker": true}),
        json!({"safety_tolerance": 6}),
    ] {
        let r = start(
            &stack,
            &user,
            json!({"kind": "image", "model": "flux-schnell", "prompt": "x", "params": params}),
        );
        assert_eq!(r.status, 400, "{params}: {r:?}");
        assert!(!r.body.to_string().contains("p_"), "{r:?}");
    }
    let r = start(
        &stack,
        &user,
        json!({"kind": "image", "model": "flux-schnell", "prompt": "x", "action": "chat"}),
    );
    assert_eq!(r.status, 400, "the action follows from the model: {r:?}");
    assert_eq!(
        stack.get("/v1/credits", Some(&user.token)).body["balance"],
        1000,
        "nothing was reserved or charged"
    );
    assert_eq!(stack.audit(), json!([]));
}

#[test]
fn images_are_charged_per_image_returned() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("bill-image", 1000);
    // Four images on flux-schnell at 5 credits each.
    let g = run(
        &stack,
        &user,
        json!({"kind": "image", "model": "flux-schnell", "prompt": "a lighthouse", "params": {"num_outputs": 4}}),
        20,
        20,
    );
    assert_eq!(g["outputs"]["urls"].as_array().map(Vec::len), Some(4));
    let input = stack.provider_input(g["provider_prediction_id"].as_str().unwrap());
    assert_eq!(
        input,
        json!({"prompt": "a lighthouse", "num_outputs": 4, "aspect_ratio": "1:1",
               "output_format": "webp", "num_inference_steps": 4}),
        "the provider gets the validated params, the unit driver set explicitly"
    );
    let g = run(
        &stack,
        &user,
        json!({"kind": "image", "model": "flux-1.1-pro", "prompt": "a lighthouse"}),
        60,
        60,
    );
    assert_eq!(g["outputs"]["urls"].as_array().map(Vec::len), Some(1));

    // A provider that returns more than asked: the extra images are neither charged nor
    // delivered, and the generation is flagged.
    let g = run(
        &stack,
        &user,
        json!({"kind": "image", "model": "flux-schnell", "prompt": "[overrun] gulls", "params": {"num_outputs": 2}}),
        10,
        10,
    );
    assert_eq!(
        g["outputs"]["urls"].as_array().map(Vec::len),
        Some(2),
        "{g:?}"
    );
    let flagged: Option<bool> = stack
        .db()
        .query_one(
            "select (metrics ->> 'overrun')::boolean from public.generations where id = $1",
            &[&uuid::Uuid::parse_str(g["id"].as_str().unwrap()).unwrap()],
        )
        .unwrap()
        .get(0);
    assert_eq!(flagged, Some(true));
    assert_eq!(stack.audit(), json!([]));
}

#[test]
fn music_is_charged_per_second_asked_for_and_sent() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("bill-music", 1000);
    let g = run(
        &stack,
        &user,
        json!({"kind": "music", "model": "musicgen", "prompt": "calm jazz", "params": {"duration": 10}}),
        20,
        20,
    );
    let input = stack.provider_input(g["provider_prediction_id"].as_str().unwrap());
    assert_eq!(input["duration"], 10, "{input}");
    // Without a duration the model's default (8 s) is priced and sent.
    let g = run(
        &stack,
        &user,
        json!({"kind": "music", "model": "musicgen", "prompt": "calm jazz"}),
        16,
        16,
    );
    let input = stack.provider_input(g["provider_prediction_id"].as_str().unwrap());
    assert_eq!(input["duration"], 8, "{input}");
    let r = start(
        &stack,
        &user,
        json!({"kind": "music", "model": "musicgen", "prompt": "x", "params": {"duration": 121}}),
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(stack.audit(), json!([]));
}

#[test]
fn speech_is_charged_per_character_spoken() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("bill-tts", 1000);
    let text = "Good evening. ".repeat(30); // 420 characters, 419 after trimming
    let chars = text.trim().chars().count() as f64;
    let credits = (chars * 0.02).ceil() as i64;
    let g = run(
        &stack,
        &user,
        json!({"kind": "tts", "model": "kokoro-82m", "prompt": text, "params": {"voice": "am_adam"}}),
        credits,
        credits,
    );
    let input = stack.provider_input(g["provider_prediction_id"].as_str().unwrap());
    assert_eq!(
        input,
        json!({"text": text.trim(), "voice": "am_adam", "speed": 1}),
        "kokoro takes the text as `text`, and nothing unpriced"
    );
    assert_eq!(stack.audit(), json!([]));
}

#[test]
fn text_is_charged_per_token_measured_and_capped_by_max_tokens() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("bill-text", 1000);
    // Reserved: (prompt bytes + max_tokens) / 1000 = (11 + 4096) / 1000 -> 5 credits.
    // Measured by the provider: 2 input words + 40 output tokens -> 1 credit.
    let g = run(
        &stack,
        &user,
        json!({"kind": "text", "model": "llama-3-8b-instruct", "prompt": "hello world",
               "params": {"max_tokens": 4096}}),
        5,
        1,
    );
    assert!(
        g["outputs"]["text"].as_str().is_some_and(|t| !t.is_empty()),
        "token chunks become one text: {g:?}"
    );
    let input = stack.provider_input(g["provider_prediction_id"].as_str().unwrap());
    assert_eq!(input["max_tokens"], 4096, "{input}");
    let month = &g["created_at"].as_str().unwrap()[..7];
    let usage = stack.get(&format!("/v1/usage?month={month}"), Some(&user.token));
    assert_eq!(usage.body["items"][0]["tokens_out"], 40, "{usage:?}");

    // A provider that produces more than max_tokens is charged the reservation, no more.
    let g = run(
        &stack,
        &user,
        json!({"kind": "text", "model": "llama-3-8b-instruct", "prompt": "[overrun] tell me more",
               "params": {"max_tokens": 4096}}),
        5,
        5,
    );
    assert_eq!(g["credits_reserved"], g["credits_charged"]);
    assert_eq!(stack.audit(), json!([]));
}
