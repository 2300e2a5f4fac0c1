//! The trainings API end to end against the real binary: the training object, its completed
//! webhook, the trained version and weights file, the lists and lookups, refusals, markers and
//! cancel.

mod support;

use serde_json::{json, Value};
use support::{signature_valid, Fake, Receiver, TOKEN};

const TRAINER: &str = "/v1/models/ostris/flux-dev-lora-trainer/versions/e440909d3512/trainings";

fn train(fake: &Fake, body: &Value) -> (u16, Value) {
    fake.call("POST", TRAINER, Some(TOKEN), Some(&body.to_string()))
}

#[test]
fn a_training_runs_reports_and_yields_a_version_and_its_weights() {
    let fake = Fake::start(&[]);
    let hooks = Receiver::start();
    let (status, t) = train(
        &fake,
        &json!({"destination": "genbase/loras", "input": {"trigger_word": "ohwx", "steps": 10},
                "webhook": hooks.url, "webhook_events_filter": ["completed"]}),
    );
    assert_eq!(status, 201, "{t}");
    let id = t["id"].as_str().unwrap();
    assert_eq!(
        (&t["status"], &t["model"], &t["version"]),
        (
            &json!("starting"),
            &json!("ostris/flux-dev-lora-trainer"),
            &json!("e440909d3512")
        )
    );
    assert_eq!(t["input"], json!({"trigger_word": "ohwx", "steps": 10}));
    assert_eq!(t["urls"]["get"], format!("{}/v1/trainings/{id}", fake.base));
    assert_eq!(
        t["urls"]["cancel"],
        format!("{}/v1/trainings/{id}/cancel", fake.base)
    );

    // Only `completed` was asked for: one webhook, the training object, signed.
    let got = hooks.wait_for(1);
    assert_eq!(got.len(), 1);
    assert!(signature_valid(&got[0]));
    let done = got[0].json();
    assert_eq!(
        (&done["id"], &done["status"]),
        (&json!(id), &json!("succeeded"))
    );
    let version = done["output"]["version"].as_str().unwrap();
    assert!(version.starts_with("genbase/loras:"), "{done}");
    assert_eq!(version.len(), "genbase/loras:".len() + 64);
    let weights = done["output"]["weights"].as_str().unwrap();
    assert_eq!(weights, format!("{}/files/{id}-0.tar", fake.base));
    assert_eq!(done["metrics"]["predict_time"], 1.5);

    // The weights resolve to a tar archive.
    let (status, bytes) = fake.get_bytes(weights);
    assert_eq!(status, 200);
    assert_eq!(&bytes[257..262], b"ustar");
    assert_eq!(
        fake.get_bytes(&format!("{}/files/{id}-1.tar", fake.base)).0,
        404
    );

    // GET by id, in both collections (a training is a prediction underneath); listed once,
    // among trainings only.
    let (status, got) = fake.call("GET", &format!("/v1/trainings/{id}"), Some(TOKEN), None);
    assert_eq!((status, &got["output"]), (200, &done["output"]));
    assert_eq!(fake.wait_status(id, "succeeded")["output"], done["output"]);
    let (_, trainings) = fake.call("GET", "/v1/trainings", Some(TOKEN), None);
    assert_eq!(trainings["results"][0]["id"], id);
    let (_, predictions) = fake.call("GET", "/v1/predictions", Some(TOKEN), None);
    assert_eq!(predictions["results"], json!([]));
    let (_, recorded) = fake.call("GET", "/_fake/predictions", None, None);
    assert_eq!(recorded[0]["request"]["destination"], "genbase/loras");
}

#[test]
fn a_bad_training_request_creates_nothing() {
    let fake = Fake::start(&[]);
    for (body, status) in [
        (json!({"input": {}}), 422),
        (json!({"destination": "loras", "input": {}}), 422),
        (json!({"destination": 7, "input": {}}), 422),
        (json!({"destination": "genbase/loras"}), 422),
        (
            json!({"destination": "genbase/loras", "input": {"trigger_word": "[reject]"}}),
            422,
        ),
        (
            json!({"destination": "genbase/loras", "input": {"trigger_word": "[outage]"}}),
            503,
        ),
    ] {
        assert_eq!(train(&fake, &body).0, status, "{body}");
    }
    let (status, _) = fake.call(
        "POST",
        TRAINER,
        Some("r8_invalid"),
        Some(&json!({"destination": "genbase/loras", "input": {}}).to_string()),
    );
    assert_eq!(status, 401);
    let (_, trainings) = fake.call("GET", "/v1/trainings", Some(TOKEN), None);
    assert_eq!(trainings["results"], json!([]));
}

#[test]
fn markers_steer_a_training_and_it_cancels_like_a_prediction() {
    let fake = Fake::start(&[]);
    let (_, failing) = train(
        &fake,
        &json!({"destination": "genbase/loras", "input": {"trigger_word": "tok [fail]"}}),
    );
    let failed = fake.wait_status(failing["id"].as_str().unwrap(), "failed");
    assert_eq!(
        (&failed["error"], &failed["output"]),
        (&json!("fake failure"), &Value::Null)
    );

    let (_, running) = train(
        &fake,
        &json!({"destination": "genbase/loras", "input": {"trigger_word": "tok [never]"}}),
    );
    let id = running["id"].as_str().unwrap();
    let (status, canceled) = fake.call(
        "POST",
        &format!("/v1/trainings/{id}/cancel"),
        Some(TOKEN),
        None,
    );
    assert_eq!((status, &canceled["status"]), (200, &json!("canceled")));

    // A prediction is no training.
    let p = fake.create(&json!({"version": "acme/sdxl:1", "input": {"prompt": "a cat"}}));
    let pid = p["id"].as_str().unwrap();
    for (method, path) in [
        ("GET", format!("/v1/trainings/{pid}")),
        ("POST", format!("/v1/trainings/{pid}/cancel")),
        ("GET", "/v1/trainings/nope".to_string()),
    ] {
        assert_eq!(
            fake.call(method, &path, Some(TOKEN), None).0,
            404,
            "{method} {path}"
        );
    }
}
