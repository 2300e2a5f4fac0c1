//! The worker's protocol against [`FakeApi`]: what it claims, sends and reports for each way
//! a task can go.

use crate::config::Config;
use crate::extract::DOCX;
use crate::fake_api::{FakeApi, Script};
use crate::fixtures;
use crate::worker::run;
use serde_json::{json, Value};
use std::time::Duration;

fn config(fake: &FakeApi) -> Config {
    let mut c = Config::new(&fake.url, "gw_test");
    c.once = true;
    c.concurrency = 1;
    c.idle_wait = Duration::from_millis(10);
    c.retry.first_wait = Duration::from_millis(1);
    c
}

fn ingest_task(fake: &FakeApi, file: &str, mime_type: &str, words: u32, overlap: u32) -> Value {
    json!({
        "id": "00000000-0000-4000-8000-000000000001",
        "task_type": "ingest.file",
        "attempt": 1,
        "params": {
            "file_id": "00000000-0000-4000-8000-0000000000f1",
            "mime_type": mime_type,
            "chunk_tokens": words,
            "overlap_tokens": overlap,
            "input": {"file": fake.file_url(file)},
        },
    })
}

/// A fake with one task queued and one file to download.
fn fake_with(
    task: impl FnOnce(&FakeApi) -> Value,
    file: (&str, Vec<u8>),
    script: Script,
) -> FakeApi {
    let mut script = script;
    script.files.insert(file.0.to_string(), file.1);
    let fake = FakeApi::start(script);
    let task = task(&fake);
    fake.queue(task);
    fake
}

const TASK: &str = "/v1/worker/tasks/00000000-0000-4000-8000-000000000001";

/// The chunks of every embeddings call, in order.
fn sent_chunks(fake: &FakeApi) -> Vec<Value> {
    fake.bodies("/embeddings")
        .iter()
        .flat_map(|b| b["chunks"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn a_file_is_chunked_embedded_in_batches_of_64_and_completed() {
    // 100 headed sections of four words: 100 chunks at four words each, no overlap.
    let markdown: String = (0..100)
        .map(|i| format!("## Part {i}\n\nalpha beta\n\n"))
        .collect();
    let fake = fake_with(
        |f| ingest_task(f, "doc.md", "text/markdown", 4, 0),
        ("doc.md", markdown.into_bytes()),
        Script::default(),
    );
    run(config(&fake)).unwrap();

    let claim = &fake.requests()[0];
    assert_eq!(claim.path, "/v1/worker/claim");
    assert_eq!(claim.authorization.as_deref(), Some("Bearer gw_test"));
    assert_eq!(
        claim.body,
        json!({"task_types": ["ingest.file", "embed.messages"], "limit": 1, "lease_seconds": 60})
    );
    let batches = fake.bodies(&format!("{TASK}/embeddings"));
    assert_eq!(
        batches
            .iter()
            .map(|b| b["chunks"].as_array().unwrap().len())
            .collect::<Vec<_>>(),
        vec![64, 36]
    );
    let chunks = sent_chunks(&fake);
    assert_eq!(
        chunks
            .iter()
            .map(|c| c["index"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        (0..100).collect::<Vec<_>>()
    );
    assert_eq!(
        chunks[7],
        json!({"index": 7, "content": "Part 7\n\nalpha beta", "page": null, "heading": "Part 7"})
    );
    let extracted: usize = (0..100)
        .map(|i| format!("Part {i}\n\nalpha beta").chars().count())
        .sum();
    let complete = fake.bodies(&format!("{TASK}/complete"));
    assert_eq!(complete.len(), 1);
    assert_eq!(
        complete[0]["output"],
        json!({"chunk_count": 100, "extracted_chars": extracted})
    );
    assert!(complete[0]["duration_seconds"].as_f64().unwrap() >= 0.0);
    assert!(fake.bodies("/fail").is_empty());
}

/// (page, heading) of each chunk sent for a file.
fn pages_and_headings(
    name: &str,
    mime: &str,
    bytes: Vec<u8>,
) -> Vec<(Option<u64>, Option<String>)> {
    let fake = fake_with(
        |f| ingest_task(f, name, mime, 400, 50),
        (name, bytes),
        Script::default(),
    );
    run(config(&fake)).unwrap();
    assert_eq!(fake.bodies("/complete").len(), 1, "{mime}");
    sent_chunks(&fake)
        .iter()
        .map(|c| {
            (
                c["page"].as_u64(),
                c["heading"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn pages_and_headings_reach_the_embeddings() {
    let pdf = fixtures::pdf(&[&["Alpha on page one"], &["Beta on page two"]]);
    assert_eq!(
        pages_and_headings("a.pdf", "application/pdf", pdf),
        vec![(Some(1), None), (Some(2), None)]
    );
    let docx = fixtures::docx(&[(Some("Heading1"), "Setup"), (None, "Install it.")]);
    assert_eq!(
        pages_and_headings("a.docx", DOCX, docx),
        vec![(None, Some("Setup".to_string()))]
    );
}

#[test]
fn transient_embedding_failures_are_retried_and_then_succeed() {
    let fake = fake_with(
        |f| ingest_task(f, "a.txt", "text/plain", 400, 50),
        ("a.txt", b"some words".to_vec()),
        Script {
            embed_statuses: [503, 502].into(),
            ..Script::default()
        },
    );
    run(config(&fake)).unwrap();
    let calls = fake.bodies("/embeddings");
    assert_eq!(calls.len(), 3);
    assert!(
        calls.iter().all(|c| *c == calls[0]),
        "a retry sends the same batch"
    );
    assert_eq!(fake.bodies("/complete").len(), 1);
    assert!(fake.bodies("/fail").is_empty());
}

#[test]
fn embeddings_failing_past_the_retries_fail_the_task_for_the_queue_to_retry() {
    let fake = fake_with(
        |f| ingest_task(f, "a.txt", "text/plain", 400, 50),
        ("a.txt", b"some words".to_vec()),
        Script {
            embed_statuses: [503, 503, 503, 503].into(),
            ..Script::default()
        },
    );
    run(config(&fake)).unwrap();
    assert_eq!(fake.bodies("/embeddings").len(), 4);
    assert_eq!(
        fake.bodies(&format!("{TASK}/fail")),
        vec![json!({"error": "embedding failed: 503 scripted 503", "retryable": true})]
    );
    assert!(fake.bodies("/complete").is_empty());
}

#[test]
fn running_out_of_credits_is_final_and_not_retried() {
    let fake = fake_with(
        |f| ingest_task(f, "a.txt", "text/plain", 400, 50),
        ("a.txt", b"some words".to_vec()),
        Script {
            embed_statuses: [402].into(),
            ..Script::default()
        },
    );
    run(config(&fake)).unwrap();
    assert_eq!(fake.bodies("/embeddings").len(), 1);
    assert_eq!(
        fake.bodies("/fail"),
        vec![json!({"error": "not enough credits to embed the text", "retryable": false})]
    );
}

#[test]
fn an_unreadable_file_fails_for_good_before_anything_is_embedded() {
    let mut broken_pdf = fixtures::pdf(&[&["Alpha"]]);
    broken_pdf.truncate(broken_pdf.len() / 2);
    let cases: [(&str, &str, Vec<u8>, &str); 3] = [
        (
            "a.pdf",
            "application/pdf",
            broken_pdf,
            "the PDF could not be read: it may be damaged or encrypted",
        ),
        (
            "a.txt",
            "text/plain",
            b"caf\xe9".to_vec(),
            "the file is not valid UTF-8 text",
        ),
        (
            "a.html",
            "text/html",
            b"<style>p {}</style>".to_vec(),
            "no text was found in the file",
        ),
    ];
    for (name, mime, bytes, reason) in cases {
        let fake = fake_with(
            |f| ingest_task(f, name, mime, 400, 50),
            (name, bytes),
            Script::default(),
        );
        run(config(&fake)).unwrap();
        assert!(fake.bodies("/embeddings").is_empty(), "{mime}");
        assert_eq!(
            fake.bodies("/fail"),
            vec![json!({"error": reason, "retryable": false})],
            "{mime}"
        );
    }
}

#[test]
fn a_file_of_too_many_chunks_fails_before_anything_is_embedded() {
    let fake = fake_with(
        |f| ingest_task(f, "a.txt", "text/plain", 1, 0),
        ("a.txt", "w ".repeat(100_001).into_bytes()),
        Script::default(),
    );
    run(config(&fake)).unwrap();
    assert!(fake.bodies("/embeddings").is_empty());
    assert_eq!(
        fake.bodies("/fail"),
        vec![json!({
            "error": "the file has too much text to index: it makes 100001 chunks, and at most 100000 are allowed",
            "retryable": false,
        })]
    );
}

#[test]
fn download_failures_are_retried_unless_the_file_is_gone_or_too_large() {
    let cases = [
        (
            Some(503),
            100,
            json!({"error": "the file could not be downloaded: storage answered 503", "retryable": true}),
        ),
        (
            Some(404),
            100,
            json!({"error": "the uploaded file is no longer in storage", "retryable": false}),
        ),
        (
            None,
            5,
            json!({"error": "the file is larger than the ingest worker's limit of 5 bytes", "retryable": false}),
        ),
    ];
    for (status, max_bytes, failure) in cases {
        let fake = fake_with(
            |f| ingest_task(f, "a.txt", "text/plain", 400, 50),
            ("a.txt", b"more than five bytes".to_vec()),
            Script {
                file_status: status,
                ..Script::default()
            },
        );
        let mut c = config(&fake);
        c.max_bytes = max_bytes;
        run(c).unwrap();
        assert_eq!(fake.bodies("/fail"), vec![failure]);
        assert!(fake.bodies("/embeddings").is_empty());
    }
}

#[test]
fn embed_messages_asks_for_the_embeddings_then_completes_with_an_empty_output() {
    let fake = FakeApi::start(Script::default());
    fake.queue(json!({
        "id": "00000000-0000-4000-8000-000000000001",
        "task_type": "embed.messages",
        "params": {"message_ids": ["00000000-0000-4000-8000-0000000000a1"]},
    }));
    run(config(&fake)).unwrap();
    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        vec![
            "/v1/worker/claim".to_string(),
            format!("{TASK}/embeddings"),
            format!("{TASK}/complete"),
        ]
    );
    assert_eq!(fake.bodies("/embeddings"), vec![json!({})]);
    assert_eq!(fake.bodies("/complete")[0]["output"], json!({}));
}

#[test]
fn the_lease_is_kept_while_working() {
    let fake = fake_with(
        |f| ingest_task(f, "a.txt", "text/plain", 400, 50),
        ("a.txt", b"some words".to_vec()),
        Script {
            embed_delay: Duration::from_millis(200),
            ..Script::default()
        },
    );
    let mut c = config(&fake);
    c.heartbeat_every = Duration::from_millis(30);
    run(c).unwrap();
    let beats = fake.bodies(&format!("{TASK}/heartbeat"));
    assert!(beats.len() >= 2, "{} heartbeats", beats.len());
    assert_eq!(beats[0], json!({"lease_seconds": 60}));
    assert_eq!(fake.bodies("/complete").len(), 1);
}

#[test]
fn a_lost_lease_stops_the_work_and_nothing_is_reported() {
    // Two batches; the lease is lost while the first is embedded.
    let text: String = (0..100).map(|i| format!("word{i}\n\n")).collect();
    let fake = fake_with(
        |f| ingest_task(f, "a.txt", "text/plain", 1, 0),
        ("a.txt", text.into_bytes()),
        Script {
            embed_delay: Duration::from_millis(200),
            heartbeat_status: Some(409),
            ..Script::default()
        },
    );
    let mut c = config(&fake);
    c.heartbeat_every = Duration::from_millis(20);
    run(c).unwrap();
    assert_eq!(fake.bodies("/embeddings").len(), 1);
    assert!(fake.bodies("/complete").is_empty());
    assert!(fake.bodies("/fail").is_empty());
}

#[test]
fn a_refused_key_stops_every_slot_and_an_empty_queue_ends_a_once_run() {
    let fake = FakeApi::start(Script {
        claim_status: Some(401),
        ..Script::default()
    });
    let mut c = config(&fake);
    c.once = false;
    c.concurrency = 2;
    let err = run(c).unwrap_err();
    assert_eq!(err, "the API refused the worker key: 401 scripted 401");

    let fake = FakeApi::start(Script::default());
    run(config(&fake)).unwrap();
    assert_eq!(fake.requests().len(), 1);
}
