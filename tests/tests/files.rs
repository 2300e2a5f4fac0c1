//! Documents end to end, through the real WASM, the queue, the ingest worker the stack runs,
//! the fake provider's embeddings (texts sharing words are close) and Postgres: a Markdown
//! file and a two-page PDF are uploaded, registered, extracted, chunked and embedded, and a
//! question finds its passage in the top 3 in every search mode; a stranger finds none of
//! it; a file that cannot be parsed fails with a reason and no chunks; a provider that fails
//! twice still leaves each chunk once; a chat message is found in history search; and every
//! embedding is charged its tokens at list price, with `audit_credits()` empty.

use genbase_tests::{Reply, Stack, User};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const MARKDOWN: &str = "# Tides\n\n\
The tides rise and fall twice a day because the moon's gravity pulls the oceans toward it. \
The sun adds its own smaller pull, so spring tides come at new and full moon.\n\n\
# Volcanoes\n\n\
A volcano erupts when magma, gas and ash escape from a chamber deep under the crust.\n";

const PDF_PAGES: [&str; 2] = [
    "Baking bread needs flour, water, salt and yeast, kneaded and left to rise.",
    "The lighthouse keeper polished the great lens every night so ships could find the harbour.",
];

/// A minimal PDF with one line of Helvetica text per page (the objects and the byte offsets
/// of its cross-reference table written out by hand).
fn pdf(pages: &[&str]) -> Vec<u8> {
    let n = pages.len();
    let mut objects: Vec<String> = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".into(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {n} >>",
            (0..n)
                .map(|i| format!("{} 0 R", 4 + 2 * i))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into(),
    ];
    for (i, text) in pages.iter().enumerate() {
        let content = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET");
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            5 + 2 * i
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n{object}\nendobj\n", i + 1).bytes());
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
    for offset in offsets {
        out.extend(format!("{offset:010} 00000 n \n").bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .bytes(),
    );
    out
}

/// Uploads `bytes` as a document and registers it: the file.
fn add_file(stack: &Stack, user: &User, name: &str, content_type: &str, bytes: &[u8]) -> Value {
    let r = stack.json(
        "POST",
        "/v1/uploads",
        Some(&user.token),
        &json!({"purpose": "document", "content_type": content_type, "bytes": bytes.len(), "filename": name}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let put = ureq::put(r.body["url"].as_str().unwrap())
        .set("content-type", content_type)
        .send_bytes(bytes)
        .expect("PUT the file");
    assert_eq!(put.status(), 200);
    let r = stack.json(
        "POST",
        "/v1/files",
        Some(&user.token),
        &json!({"upload_id": r.body["upload_id"], "name": name}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["status"], "pending");
    r.body
}

/// The file once its ingestion has ended.
fn ingested(stack: &Stack, user: &User, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let r = stack.get(&format!("/v1/files/{id}"), Some(&user.token));
        assert_eq!(r.status, 200, "{r:?}");
        if r.body["status"] == "completed" || r.body["status"] == "failed" {
            return r.body;
        }
        assert!(
            Instant::now() < deadline,
            "file {id} still {}",
            r.body["status"]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn search(stack: &Stack, user: &User, body: Value) -> Reply {
    stack.json("POST", "/v1/search", Some(&user.token), &body)
}

/// The usage events of `user`'s embeddings: `(tokens, credits)` each.
fn embedding_charges(stack: &Stack, user: &User) -> Vec<(i64, i64)> {
    stack
        .db()
        .query(
            "select tokens_in::int8, credits::int8 from public.usage_events
             where user_id = $1 and action = 'embedding' order by created_at",
            &[&user.id],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Each charge is its tokens at the embedding model's list price, and the balance paid them.
fn charged_at_list_price(stack: &Stack, user: &User, granted: i64) {
    let charges = embedding_charges(stack, user);
    assert!(!charges.is_empty(), "embeddings were charged");
    for (tokens, credits) in &charges {
        let price = genbase_tests::chat::list_price(stack, "text-embedding-3-small", *tokens, 0);
        assert_eq!(*credits, price, "{tokens} tokens");
    }
    let spent: i64 = charges.iter().map(|(_, c)| c).sum();
    assert_eq!(
        genbase_tests::chat::money(stack, user),
        (granted - spent, 0)
    );
}

#[test]
fn documents_are_ingested_and_a_question_finds_its_passage_in_every_mode() {
    let stack = Stack::from_env();
    let (_admin, user) = stack.funded_user("files-search", 1000);
    let md = add_file(
        &stack,
        &user,
        "nature.md",
        "text/markdown",
        MARKDOWN.as_bytes(),
    );
    let pdf_file = add_file(
        &stack,
        &user,
        "stories.pdf",
        "application/pdf",
        &pdf(&PDF_PAGES),
    );
    let md = ingested(&stack, &user, md["id"].as_str().unwrap());
    let pdf_file = ingested(&stack, &user, pdf_file["id"].as_str().unwrap());
    assert_eq!(md["status"], "completed", "{md}");
    assert_eq!(pdf_file["status"], "completed", "{pdf_file}");
    assert!(
        md["chunk_count"].as_i64().unwrap() >= 2,
        "one chunk per heading at least: {md}"
    );

    for mode in ["semantic", "fulltext", "hybrid"] {
        let r = search(
            &stack,
            &user,
            json!({"query": "why do the tides follow the moon", "scope": "files", "mode": mode}),
        );
        assert_eq!(r.status, 200, "{mode}: {r:?}");
        let top: Vec<&Value> = r.body["items"].as_array().unwrap().iter().take(3).collect();
        assert!(
            top.iter()
                .any(|i| i["file_id"] == md["id"] && i["heading"] == "Tides"),
            "{mode}: {top:?}"
        );
        let r = search(
            &stack,
            &user,
            json!({"query": "lighthouse keeper lens", "scope": "files", "mode": mode}),
        );
        let top: Vec<&Value> = r.body["items"].as_array().unwrap().iter().take(3).collect();
        assert!(
            top.iter()
                .any(|i| i["file_id"] == pdf_file["id"] && i["page"] == 2),
            "{mode}: {top:?}"
        );
        assert_eq!(r.body["mode"], mode);
    }
    charged_at_list_price(&stack, &user, 1000);

    // A stranger finds none of it, by any mode or path.
    let stranger = stack.new_user("files-stranger");
    stack.grant(&_admin, &stranger, 100);
    for mode in ["semantic", "fulltext", "hybrid"] {
        let r = search(
            &stack,
            &stranger,
            json!({"query": "lighthouse keeper lens", "mode": mode}),
        );
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body["items"], json!([]), "{mode}");
    }
    let r = stack.get(
        &format!("/v1/files/{}", md["id"].as_str().unwrap()),
        Some(&stranger.token),
    );
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(stack.audit(), json!([]), "audit_credits found violations");
}

#[test]
fn a_file_that_cannot_be_parsed_fails_with_a_reason_and_leaves_no_chunks() {
    let stack = Stack::from_env();
    let (_admin, user) = stack.funded_user("files-broken", 1000);
    let file = add_file(
        &stack,
        &user,
        "broken.pdf",
        "application/pdf",
        b"this is not a PDF at all",
    );
    let file = ingested(&stack, &user, file["id"].as_str().unwrap());
    assert_eq!(file["status"], "failed", "{file}");
    let reason = file["error"].as_str().expect("a reason");
    assert!(!reason.is_empty() && reason.len() <= 500, "{reason}");
    let chunks: i64 = stack
        .db()
        .query_one(
            "select count(*) from public.document_chunks where file_id = $1::text::uuid",
            &[&file["id"].as_str().unwrap()],
        )
        .unwrap()
        .get(0);
    assert_eq!(chunks, 0);
    assert_eq!(
        genbase_tests::chat::money(&stack, &user),
        (1000, 0),
        "nothing charged"
    );
    assert_eq!(stack.audit(), json!([]), "audit_credits found violations");
}

#[test]
fn a_provider_failing_twice_still_leaves_each_chunk_once_and_charged_once() {
    let stack = Stack::from_env();
    let (_admin, user) = stack.funded_user("files-flaky", 1000);
    let text = format!(
        "# Flaky\n\nThis passage [flakyembed] about glaciers {} is embedded on the third try.\n",
        uuid::Uuid::new_v4().simple()
    );
    let file = add_file(&stack, &user, "flaky.md", "text/markdown", text.as_bytes());
    let file = ingested(&stack, &user, file["id"].as_str().unwrap());
    assert_eq!(file["status"], "completed", "{file}");
    let row = stack
        .db()
        .query_one(
            "select count(*), count(distinct chunk_index), count(embedding), coalesce(max(chunk_index) + 1, 0)
             from public.document_chunks where file_id = $1::text::uuid",
            &[&file["id"].as_str().unwrap()],
        )
        .unwrap();
    let (rows, distinct, embedded, span): (i64, i64, i64, i32) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let n = file["chunk_count"].as_i64().unwrap();
    assert!(n > 0);
    assert_eq!(
        (rows, distinct, embedded, span as i64),
        (n, n, n, n),
        "each chunk once, each embedded"
    );
    charged_at_list_price(&stack, &user, 1000);
    assert_eq!(stack.audit(), json!([]), "audit_credits found violations");
}

#[test]
fn a_chat_message_is_found_by_history_search_and_only_by_its_owner() {
    let stack = Stack::from_env();
    let (admin, user) = stack.funded_user("files-history", 1000);
    let conversation = genbase_tests::chat::conversation(&stack, &user, "gpt-4o-mini");
    let marker = uuid::Uuid::new_v4().simple().to_string();
    let content = format!("the wandering albatross glides over the southern ocean {marker}");
    let r = stack.json(
        "POST",
        &format!("/v1/conversations/{conversation}/messages"),
        Some(&user.token),
        &json!({"content": content, "stream": false}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let asked = r.body["user_message"]["id"].as_str().unwrap().to_string();

    // Embedded after it is stored, through the queue.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let embedded: bool = stack
            .db()
            .query_one(
                "select embedding is not null from public.messages where id = $1::text::uuid",
                &[&asked],
            )
            .unwrap()
            .get(0);
        if embedded {
            break;
        }
        assert!(Instant::now() < deadline, "the message was never embedded");
        std::thread::sleep(Duration::from_millis(100));
    }
    for mode in ["semantic", "fulltext", "hybrid"] {
        let r = search(
            &stack,
            &user,
            json!({"query": "albatross over the southern ocean", "scope": "messages", "mode": mode}),
        );
        assert_eq!(r.status, 200, "{r:?}");
        let top: Vec<&Value> = r.body["items"].as_array().unwrap().iter().take(3).collect();
        assert!(
            top.iter().any(|i| i["message_id"] == asked.as_str()
                && i["conversation_id"] == conversation.as_str()),
            "{mode}: {top:?}"
        );
    }
    let stranger = stack.new_user("files-history-stranger");
    stack.grant(&admin, &stranger, 100);
    let r = search(
        &stack,
        &stranger,
        json!({"query": "albatross over the southern ocean", "scope": "messages"}),
    );
    assert_eq!(r.body["items"], json!([]), "{r:?}");
    assert_eq!(stack.audit(), json!([]), "audit_credits found violations");
}

#[test]
fn a_document_chat_reply_is_given_the_passage_and_cites_it() {
    let stack = Stack::from_env();
    let (_admin, user) = stack.funded_user("files-doc-chat", 1000);
    let md = add_file(
        &stack,
        &user,
        "nature.md",
        "text/markdown",
        MARKDOWN.as_bytes(),
    );
    let md = ingested(&stack, &user, md["id"].as_str().unwrap());
    assert_eq!(md["status"], "completed", "{md}");
    let r = stack.rpc_client().call(
        "create_conversation",
        &json!({"p_model": "gpt-4o-mini", "p_title": "reading", "p_settings": {"features": {"document_chat": true}}}),
        Some(&user.token),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let conversation = r.body["id"].as_str().unwrap().to_string();
    let r = stack.json(
        "PUT",
        &format!("/v1/conversations/{conversation}/files"),
        Some(&user.token),
        &json!({"file_ids": [md["id"]]}),
    );
    assert_eq!(r.status, 200, "{r:?}");

    let question = format!(
        "why do the tides follow the moon {}",
        uuid::Uuid::new_v4().simple()
    );
    let parts = genbase_tests::chat::PartReader::open(
        &stack,
        &user,
        &conversation,
        &json!({"content": question}),
    )
    .rest();
    let cited: Vec<&Value> = parts
        .iter()
        .filter(|p| p["type"] == "source-document")
        .collect();
    assert!(
        cited
            .iter()
            .any(|p| p["providerMetadata"]["genbase"]["file_id"] == md["id"]
                && p["providerMetadata"]["genbase"]["heading"] == "Tides"),
        "{parts:?}"
    );
    let seen =
        genbase_tests::chat::provider_request(&stack, &question).expect("the model was asked");
    assert!(
        seen.to_string().contains("moon's gravity pulls the oceans"),
        "the excerpt reached the model: {seen}"
    );
    let reply = genbase_tests::chat::stored(&stack, parts[0]["messageId"].as_str().unwrap());
    assert_eq!(reply["status"], "complete", "{reply}");
    assert_eq!(stack.audit(), json!([]), "audit_credits found violations");
}

#[test]
fn a_deleted_file_leaves_no_chunk_no_search_result_and_no_stored_object() {
    let stack = Stack::from_env();
    let (_admin, user) = stack.funded_user("files-delete", 1000);
    let text = format!(
        "# Comets\n\nA comet's tail points away from the sun {}.\n",
        uuid::Uuid::new_v4().simple()
    );
    let file = add_file(&stack, &user, "comets.md", "text/markdown", text.as_bytes());
    let id = file["id"].as_str().unwrap().to_string();
    assert_eq!(ingested(&stack, &user, &id)["status"], "completed");
    let object: (String, String) = {
        let row = stack
            .db()
            .query_one(
                "select u.bucket, u.path from public.files f join public.uploads u on u.id = f.upload_id
                 where f.id = $1::text::uuid",
                &[&id],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };

    let r = stack.send(
        "DELETE",
        &format!("/v1/files/{id}"),
        Some(&user.token),
        None,
        &[],
    );
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(
        stack
            .get(&format!("/v1/files/{id}"), Some(&user.token))
            .status,
        404
    );
    let r = search(
        &stack,
        &user,
        json!({"query": "comet tail points away from the sun", "mode": "fulltext"}),
    );
    assert_eq!(r.body["items"], json!([]), "{r:?}");
    let chunks: i64 = stack
        .db()
        .query_one(
            "select count(*) from public.document_chunks where file_id = $1::text::uuid",
            &[&id],
        )
        .unwrap()
        .get(0);
    assert_eq!(chunks, 0);
    // The object goes through a storage job (the stack's sweeper runs them every few seconds).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left: i64 = stack
            .db()
            .query_one(
                "select count(*) from storage.objects where bucket_id = $1 and name = $2",
                &[&object.0, &object.1],
            )
            .unwrap()
            .get(0);
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stored object was never removed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(stack.audit(), json!([]), "audit_credits found violations");
}
