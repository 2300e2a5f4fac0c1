//! Uploads end to end through workerd and the local Storage: a user gets an upload URL for a
//! path the server chose, PUTs the file there and sees it arrive; a file over the bucket's
//! limit or of the wrong type is refused before any URL is signed; a generation takes the
//! user's own upload as an input (the provider gets a signed URL that serves it) and never
//! someone else's.

use genbase_tests::{Reply, Stack, User};
use serde_json::{json, Value};
use std::io::Read;
use std::time::Duration;

/// A 1x1 transparent PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

/// `POST /v1/uploads` as `user`.
fn ask(stack: &Stack, user: &User, body: Value) -> Reply {
    stack.json("POST", "/v1/uploads", Some(&user.token), &body)
}

/// PUTs `bytes` to a signed upload URL the way storage-js's `uploadToSignedUrl` does: the URL's
/// token is the only credential. Returns the status.
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

/// A reference image of `user`'s, uploaded: its upload id.
fn uploaded_image(stack: &Stack, user: &User) -> String {
    let r = ask(
        stack,
        user,
        json!({"purpose": "reference_image", "content_type": "image/png", "bytes": PNG.len(),
               "filename": "cat.png"}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(put(r.body["url"].as_str().unwrap(), "image/png", PNG), 200);
    r.body["upload_id"].as_str().unwrap().to_string()
}

fn image_to_image(stack: &Stack, user: &User, upload_id: &str) -> Reply {
    stack.json(
        "POST",
        "/v1/generations",
        Some(&user.token),
        &json!({"kind": "image", "model": "flux-dev", "prompt": "the same cat, as an oil painting",
                "params": {"image": upload_id}}),
    )
}

fn uploads_of(stack: &Stack, user: &User) -> i64 {
    stack
        .db()
        .query_one(
            "select count(*) from public.uploads where user_id = $1",
            &[&user.id],
        )
        .unwrap()
        .get(0)
}

#[test]
fn a_file_put_to_its_upload_url_arrives_at_the_path_the_server_chose() {
    let stack = Stack::from_env();
    let user = stack.new_user("upload");
    let r = ask(
        &stack,
        &user,
        json!({"purpose": "reference_image", "content_type": "image/png", "bytes": PNG.len(),
               "filename": "../../other-user/evil.sh"}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.body["upload_id"].as_str().unwrap();
    assert_eq!(r.body["bucket"], "media");
    assert_eq!(r.body["path"], format!("{}/{id}.png", user.id));
    assert_eq!(r.body["max_bytes"], 104_857_600);
    assert!(
        r.body["token"].is_string() && r.body["expires_at"].is_i64(),
        "{r:?}"
    );

    let before = stack.get(&format!("/v1/uploads/{id}"), Some(&user.token));
    assert_eq!(before.status, 200, "{before:?}");
    assert_eq!(
        (&before.body["uploaded"], &before.body["filename"]),
        (&json!(false), &json!("evil.sh"))
    );

    assert_eq!(put(r.body["url"].as_str().unwrap(), "image/png", PNG), 200);
    let after = stack.get(&format!("/v1/uploads/{id}"), Some(&user.token));
    assert_eq!(after.body["uploaded"], true, "{after:?}");
    assert_eq!(
        (
            &after.body["object"]["size"],
            &after.body["object"]["mimetype"]
        ),
        (&json!(PNG.len()), &json!("image/png"))
    );
    let stored: i64 = stack
        .db()
        .query_one(
            "select count(*) from storage.objects where bucket_id = 'media' and name = $1",
            &[&r.body["path"].as_str().unwrap()],
        )
        .unwrap()
        .get(0);
    assert_eq!(stored, 1);

    // The URL uploads exactly once: it is no upsert.
    assert!(put(r.body["url"].as_str().unwrap(), "image/png", PNG) >= 400);
    let stranger = stack.new_user("upload-stranger");
    assert_eq!(
        stack
            .get(&format!("/v1/uploads/{id}"), Some(&stranger.token))
            .status,
        404
    );
    assert_eq!(stack.get(&format!("/v1/uploads/{id}"), None).status, 401);
}

#[test]
fn too_large_or_the_wrong_type_is_refused_before_any_url_is_signed() {
    let stack = Stack::from_env();
    let user = stack.new_user("upload-limits");
    for (body, status) in [
        // lora-training-images holds at most 20 MiB.
        (
            json!({"purpose": "training_image", "content_type": "image/png", "bytes": 20_971_521}),
            413,
        ),
        // audio-recordings lists its audio types; FLAC is not one.
        (
            json!({"purpose": "audio_recording", "content_type": "audio/flac", "bytes": 10}),
            415,
        ),
        // media takes anything, a reference image only images.
        (
            json!({"purpose": "reference_image", "content_type": "application/pdf", "bytes": 10}),
            415,
        ),
        (
            json!({"purpose": "avatar", "content_type": "image/png", "bytes": 10}),
            400,
        ),
        (
            json!({"purpose": "document", "content_type": "text/plain", "bytes": 10, "path": "x"}),
            400,
        ),
    ] {
        let r = ask(&stack, &user, body.clone());
        assert_eq!(r.status, status, "{body}: {r:?}");
        r.error_code();
        assert!(r.body.get("url").is_none(), "{body}");
    }
    assert_eq!(
        uploads_of(&stack, &user),
        0,
        "a refused request records nothing"
    );

    // Storage holds the bucket's limit itself, whatever size was declared.
    let r = ask(
        &stack,
        &user,
        json!({"purpose": "audio_recording", "content_type": "audio/webm", "bytes": 10}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert!(put(r.body["url"].as_str().unwrap(), "audio/flac", b"fLaC") >= 400);
}

#[test]
fn someone_elses_upload_is_no_input_and_costs_nothing() {
    let stack = Stack::from_env();
    let alice = stack.new_user("upload-owner");
    let image = uploaded_image(&stack, &alice);
    let (_, bob) = stack.funded_user("upload-thief", 1000);
    let before = stack.credits(&bob);

    let r = image_to_image(&stack, &bob, &image);
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.error_code(), "validation_failed");
    assert_eq!(
        stack.credits(&bob)["balance"],
        before["balance"],
        "nothing charged"
    );
    assert_eq!(stack.credits(&bob)["held"], 0, "nothing held");
    assert_eq!(
        stack.get("/v1/generations", Some(&bob.token)).body["items"],
        json!([])
    );
}

#[test]
fn an_upload_without_its_file_or_of_the_wrong_type_is_refused_as_an_input() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("upload-early", 1000);
    let pending = ask(
        &stack,
        &user,
        json!({"purpose": "reference_image", "content_type": "image/png", "bytes": 10}),
    );
    let r = image_to_image(&stack, &user, pending.body["upload_id"].as_str().unwrap());
    assert_eq!(r.status, 400, "{r:?}");

    let text = ask(
        &stack,
        &user,
        json!({"purpose": "document", "content_type": "text/plain", "bytes": 5}),
    );
    assert_eq!(
        put(text.body["url"].as_str().unwrap(), "text/plain", b"hello"),
        200
    );
    let r = image_to_image(&stack, &user, text.body["upload_id"].as_str().unwrap());
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(stack.credits(&user)["held"], 0);
}

#[test]
fn the_provider_gets_a_signed_url_that_serves_the_uploaded_file() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("upload-input", 1000);
    let image = uploaded_image(&stack, &user);

    let r = image_to_image(&stack, &user, &image);
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.body["generation"]["params"]["image"], image.as_str());
    let prediction = r.body["generation"]["provider_prediction_id"]
        .as_str()
        .unwrap();
    let input = stack.provider_input(prediction);
    let url = input["image"].as_str().unwrap_or_else(|| panic!("{input}"));
    let signed = format!(
        "{}/storage/v1/object/sign/media/{}/{image}.png?token=",
        stack.supabase_url, user.id
    );
    assert!(url.starts_with(&signed), "{url}");
    assert_eq!(download(url).as_deref(), Ok(PNG), "the URL serves the file");

    let done = stack.wait_final(&user, r.body["generation"]["id"].as_str().unwrap());
    assert_eq!(done["status"], "succeeded", "{done:?}");
    assert_eq!(done["credits_charged"], 40);
    assert_eq!(stack.audit(), json!([]));
}
