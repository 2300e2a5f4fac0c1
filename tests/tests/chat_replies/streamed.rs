//! Streamed replies end to end, through the real WASM in workerd, the fake provider (both
//! chat protocols) and Postgres: read by the `ai` package's own reader, failing mid-stream,
//! left by a client after three chunks, stopped through the API, and sixteen at once on one
//! account. Each ends with the reply stored as the stream showed it, charged the tokens it
//! used at list price, no hold left open, and `audit_credits()` empty.

use crate::{pool, LABEL};
use genbase_shared::testing::Gen;
use genbase_tests::chat::{
    conversation, ended, keys_ready, list_price, money, provider_request, stored, text_of,
    untitled_if, PartReader, MODELS,
};
use genbase_tests::{Stack, User};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use uuid::Uuid;

/// The stored reply's charge is its stored tokens at list price, its hold is settled, and
/// its text is what the client was shown.
fn charged_as_shown(stack: &Stack, model: &str, reply: &Value, shown: &str) -> i64 {
    assert_eq!(reply["content"], shown, "stored as the stream showed it");
    assert_eq!(reply["held"], false, "no hold left open: {reply}");
    let (i, o) = (
        reply["tokens_in"].as_i64().expect("tokens in"),
        reply["tokens_out"].as_i64().expect("tokens out"),
    );
    let price = list_price(stack, model, i, o);
    assert_eq!(reply["credits"], price, "{reply}");
    price
}

#[test]
fn a_streamed_reply_read_by_the_ai_package_is_stored_and_charged_as_shown() {
    let _pool = pool();
    let stack = Stack::from_env();
    keys_ready(&stack, LABEL);
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/chat_replies/read_with_ai_sdk.mjs");
    for (model, _) in MODELS {
        let (_admin, user) = stack.funded_user("chat-stream-ai", 1000);
        let id = conversation(&stack, &user, model);
        let text = format!("tell me about {}", Uuid::new_v4().simple());
        let out = Command::new("node")
            .args([
                script.as_os_str(),
                stack.api_url.as_ref(),
                user.token.as_ref(),
                id.as_ref(),
                text.as_ref(),
            ])
            .output()
            .unwrap_or_else(|e| panic!("cannot run node (needed for read_with_ai_sdk.mjs): {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{model}: read_with_ai_sdk.mjs failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let replies: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(replies.len(), 2, "a reply and its regeneration: {stdout}");

        let mut spent = 0;
        for shown in &replies {
            let reply = stored(
                &stack,
                shown["id"].as_str().expect("the stream named the reply"),
            );
            assert_eq!(reply["status"], "complete", "{model}: {reply}");
            assert!(
                shown["text"]
                    .as_str()
                    .unwrap()
                    .starts_with("echo: tell me about"),
                "{shown}"
            );
            assert_eq!(shown["state"], json!(["done"]));
            let price = charged_as_shown(&stack, model, &reply, shown["text"].as_str().unwrap());
            let meta = &shown["metadata"];
            assert_eq!(meta["status"], "complete");
            assert_eq!(
                meta["credits_charged"], price,
                "the finish part carries the charge"
            );
            assert_eq!(meta["usage"]["input_tokens"], reply["tokens_in"]);
            assert_eq!(meta["usage"]["output_tokens"], reply["tokens_out"]);
            assert_eq!(meta["conversation_id"], id.as_str());
            spent += price;
        }
        let first = stored(&stack, replies[0]["id"].as_str().unwrap());
        let again = stored(&stack, replies[1]["id"].as_str().unwrap());
        assert_ne!(replies[0]["id"], replies[1]["id"]);
        assert_eq!(
            first["parent_id"], again["parent_id"],
            "the regeneration is a branch beside it"
        );
        assert_eq!(money(&stack, &user), (1000 - spent, 0), "{model}");
    }
    assert_eq!(stack.audit(), json!([]), "audit_credits found violations");
}

#[test]
fn a_provider_failing_mid_stream_leaves_what_came_failed_and_charged_for_it() {
    let _pool = pool();
    let stack = Stack::from_env();
    for (model, _) in MODELS {
        keys_ready(&stack, LABEL);
        let (_admin, user) = stack.funded_user("chat-stream-midfail", 1000);
        let id = conversation(&stack, &user, model);
        let content = format!("[midfail] {}", Uuid::new_v4().simple());
        let parts = PartReader::open(&stack, &user, &id, &json!({"content": content})).rest();

        let shown = text_of(&parts);
        assert_eq!(
            shown.split_whitespace().count(),
            3,
            "three chunks came first: {parts:?}"
        );
        let error = parts
            .iter()
            .find(|p| p["type"] == "error")
            .expect("an error part");
        assert_eq!(
            error["errorText"],
            "the model's provider stopped answering mid-reply"
        );
        let finish = &parts[parts.len() - 2];
        assert_eq!(
            (&finish["type"], &finish["finishReason"]),
            (&json!("finish"), &json!("error"))
        );
        assert_eq!(parts.last(), Some(&json!("[DONE]")));

        let reply = stored(&stack, parts[0]["messageId"].as_str().unwrap());
        assert_eq!(reply["status"], "failed", "{model}");
        assert_eq!(
            reply["error"],
            "the model's provider stopped answering mid-reply"
        );
        let price = charged_as_shown(&stack, model, &reply, &shown);
        assert!(price > 0, "the prompt and what came are charged");
        assert_eq!(finish["messageMetadata"]["credits_charged"], price);
        assert_eq!(
            money(&stack, &user),
            (1000 - price, 0),
            "{model}: the rest is released"
        );
    }
    keys_ready(&stack, LABEL);
    assert_eq!(stack.audit(), json!([]), "audit_credits found violations");
}

#[test]
fn a_client_that_leaves_after_three_chunks_gets_its_reply_finished_or_cut() {
    let _pool = pool();
    let stack = Stack::from_env();
    keys_ready(&stack, LABEL);
    for (model, _) in MODELS {
        for on_disconnect in ["finish", "stop"] {
            let (_admin, user) = stack.funded_user("chat-stream-leave", 1000);
            let id = conversation(&stack, &user, model);
            let content = format!("[slowstream] [words:12] {}", Uuid::new_v4().simple());
            let mut stream = PartReader::open(
                &stack,
                &user,
                &id,
                &json!({"content": content, "on_disconnect": on_disconnect}),
            );
            let read = stream.until_deltas(3);
            drop(stream);

            let reply = ended(&stack, read[0]["messageId"].as_str().unwrap());
            let content_stored = reply["content"].as_str().unwrap().to_string();
            assert!(content_stored.starts_with(&text_of(&read)), "{reply}");
            let words = content_stored.split_whitespace().count();
            if on_disconnect == "finish" {
                assert_eq!(reply["status"], "complete", "{model}: {reply}");
                assert_eq!(words, 12, "written to the end: {reply}");
            } else {
                assert_eq!(reply["status"], "stopped", "{model}: {reply}");
                assert!(
                    (3..12).contains(&words),
                    "cut where the client left: {reply}"
                );
                let seen = provider_request(&stack, &content).expect("the provider was asked");
                assert_eq!(
                    seen["outcome"], "client_closed",
                    "the provider was hung up on"
                );
            }
            let price = charged_as_shown(&stack, model, &reply, &content_stored);
            assert_eq!(
                money(&stack, &user),
                (1000 - price, 0),
                "{model} {on_disconnect}"
            );
        }
    }
    assert_eq!(stack.audit(), json!([]), "audit_credits found violations");
}

#[test]
fn the_first_reply_of_an_untitled_conversation_gives_it_a_title_charged_like_a_reply() {
    let _pool = pool();
    let stack = Stack::from_env();
    keys_ready(&stack, LABEL);
    let (_admin, user) = stack.funded_user("chat-stream-title", 1000);
    let (model, _) = MODELS[0];
    let id = untitled_if(&stack, &user, model, true);
    let content = format!("how do tides work {}", Uuid::new_v4().simple());
    let parts = PartReader::open(&stack, &user, &id, &json!({"content": content})).rest();
    let reply = stored(&stack, parts[0]["messageId"].as_str().unwrap());
    let reply_price = charged_as_shown(&stack, model, &reply, &text_of(&parts));

    // Asked after the stream ended: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let (title, title_credits) = loop {
        let row = stack
            .db()
            .query_one(
                "select c.title, (select credits from public.usage_events u where u.title_id = j.id)
                 from public.conversations c left join public.conversation_title_jobs j on j.conversation_id = c.id
                 where c.id = $1::text::uuid",
                &[&id],
            )
            .unwrap();
        let (title, credits): (Option<String>, Option<i64>) = (row.get(0), row.get(1));
        if let (Some(t), Some(c)) = (title, credits) {
            break (t, c);
        }
        assert!(std::time::Instant::now() < deadline, "no title came");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // The fake echoes the prompt's last message: SQL cleaned it into a title.
    assert!(!title.is_empty() && title.len() <= 200, "{title}");
    assert!(!title.contains('\n') && !title.starts_with('"'), "{title}");
    assert!(title_credits > 0, "titles are charged by default");
    assert_eq!(
        money(&stack, &user),
        (1000 - reply_price - title_credits, 0)
    );
    assert_eq!(stack.audit(), json!([]), "audit_credits found violations");
}

/// What one of the sixteen clients does with its reply.
#[derive(Debug, Clone, Copy)]
enum Client {
    ReadsAll,
    LeavesAfter(usize),
    CutsAfter(usize),
    StopsAfter(usize),
}

fn converse(stack: &Stack, user: &User, model: &str, client: Client) -> String {
    let id = conversation(stack, user, model);
    let content = format!("[slowstream] [words:10] {}", Uuid::new_v4().simple());
    let leave = if matches!(client, Client::CutsAfter(_)) {
        "stop"
    } else {
        "finish"
    };
    let mut stream = PartReader::open(
        stack,
        user,
        &id,
        &json!({"content": content, "on_disconnect": leave}),
    );
    let first = stream.next_part().expect("a start part");
    let reply_id = first["messageId"]
        .as_str()
        .expect("the reply's id")
        .to_string();
    match client {
        Client::ReadsAll => {
            let parts = stream.rest();
            assert_eq!(parts.last(), Some(&json!("[DONE]")), "{client:?}");
        }
        Client::LeavesAfter(n) | Client::CutsAfter(n) => {
            stream.until_deltas(n);
        }
        Client::StopsAfter(n) => {
            stream.until_deltas(n);
            let r = stack.json(
                "POST",
                &format!("/v1/conversations/{id}/messages/{reply_id}/stop"),
                Some(&user.token),
                &json!({}),
            );
            // 409 when the reply ended before the stop arrived.
            assert!(r.status == 200 || r.status == 409, "{r:?}");
            let parts = stream.rest();
            assert_eq!(parts.last(), Some(&json!("[DONE]")), "{client:?}");
        }
    }
    reply_id
}

#[test]
fn sixteen_streams_on_one_account_with_disconnects_and_stops_keep_the_ledger_whole() {
    let _pool = pool();
    let stack = Stack::from_env();
    keys_ready(&stack, LABEL);
    let (_admin, user) = stack.funded_user("chat-stream-16", 2000);
    let mut gen = Gen::new(0x16_c4a7);
    let clients: Vec<(&str, Client)> = (0..16)
        .map(|i| {
            let n = 1 + gen.below(6);
            let client = match i % 4 {
                0 => Client::ReadsAll,
                1 => Client::LeavesAfter(n),
                2 => Client::CutsAfter(n),
                _ => Client::StopsAfter(n),
            };
            (MODELS[gen.below(2)].0, client)
        })
        .collect();
    let replies: Vec<String> = std::thread::scope(|s| {
        let running: Vec<_> = clients
            .iter()
            .map(|&(model, client)| {
                let (stack, user) = (&stack, &user);
                s.spawn(move || converse(stack, user, model, client))
            })
            .collect();
        running
            .into_iter()
            .map(|t| t.join().expect("a client panicked"))
            .collect()
    });

    let mut spent = 0;
    for (reply_id, (model, client)) in replies.iter().zip(&clients) {
        let reply = ended(&stack, reply_id);
        let expected = match client {
            Client::ReadsAll | Client::LeavesAfter(_) => ["complete"].as_slice(),
            Client::CutsAfter(_) | Client::StopsAfter(_) => ["stopped", "complete"].as_slice(),
        };
        assert!(
            expected.contains(&reply["status"].as_str().unwrap()),
            "{client:?}: {reply}"
        );
        spent += charged_as_shown(&stack, model, &reply, reply["content"].as_str().unwrap());
    }
    let lost: i64 = stack
        .db()
        .query_one(
            "select count(*) from public.messages m join public.conversations c on c.id = m.conversation_id
             where c.user_id = $1 and m.role = 'assistant' and m.status <> all ('{complete,stopped}')",
            &[&user.id],
        )
        .unwrap()
        .get(0);
    assert_eq!(lost, 0, "every reply ended complete or stopped");
    assert_eq!(
        money(&stack, &user),
        (2000 - spent, 0),
        "balance and held agree with the replies"
    );
    assert_eq!(stack.audit(), json!([]), "audit_credits found violations");
}
