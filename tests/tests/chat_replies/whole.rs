//! Replies end to end, not streamed (`"stream": false`), through the real WASM, the fake
//! provider (both chat protocols) and Postgres: a reply is charged the tokens the provider
//! reported at list price, a provider refusal leaves a failed message and releases the hold,
//! and an account without credits gets a 402 before any provider is called. Each ends with
//! `audit_credits()` empty. Streamed replies: streamed.rs.
//!
//! The stack points OPENAI_API_URL and ANTHROPIC_API_URL at the fake provider; the keys come
//! from the token pool, where these tests put one key per provider. A provider failure rests
//! the key it used, so the tests take `POOL` and make their keys available again first.

use crate::{pool, LABEL};
use genbase_tests::chat::{
    conversation, keys_ready, list_price, money, provider_request, secret, MODELS,
};
use genbase_tests::{Reply, Stack, User};
use serde_json::json;
use uuid::Uuid;

fn say(stack: &Stack, user: &User, conversation: &str, content: &str) -> Reply {
    stack.json(
        "POST",
        &format!("/v1/conversations/{conversation}/messages"),
        Some(&user.token),
        &json!({"content": content, "stream": false}),
    )
}

#[test]
fn a_reply_is_charged_the_reported_tokens_at_list_price() {
    let _pool = pool();
    let stack = Stack::from_env();
    keys_ready(&stack, LABEL);
    for (model, provider) in MODELS {
        let (_admin, user) = stack.funded_user("chat-reply", 1000);
        let id = conversation(&stack, &user, model);
        let content = format!("tell me about {}", Uuid::new_v4().simple());
        let r = say(&stack, &user, &id, &content);
        assert_eq!(r.status, 201, "{model}: {r:?}");

        let reply = &r.body["assistant_message"];
        assert_eq!(r.body["user_message"]["content"], content.as_str());
        assert_eq!(reply["status"], "complete", "{reply}");
        assert_eq!(reply["provider"], provider);
        assert!(
            reply["content"]
                .as_str()
                .unwrap()
                .starts_with(&format!("echo: {content}")),
            "{reply}"
        );

        let seen = provider_request(&stack, &content).expect("the provider was asked");
        assert_eq!(
            seen["key"],
            secret(LABEL, provider).as_str(),
            "a pool key was used"
        );
        assert_eq!(seen["outcome"], "complete");
        let (tokens_in, tokens_out) = (
            seen["usage"]["prompt_tokens"].as_i64().unwrap(),
            seen["usage"]["completion_tokens"].as_i64().unwrap(),
        );
        assert_eq!(
            (reply["tokens_in"].as_i64(), reply["tokens_out"].as_i64()),
            (Some(tokens_in), Some(tokens_out)),
            "the provider's counts are stored"
        );

        let list_price = list_price(&stack, model, tokens_in, tokens_out);
        assert!(list_price > 0);
        assert_eq!(r.body["credits_charged"], list_price, "{model}");
        assert_eq!(reply["credits"], list_price);
        assert_eq!(money(&stack, &user), (1000 - list_price, 0), "{model}");
    }
    assert_eq!(stack.audit(), json!([]), "audit_credits found violations");
}

#[test]
fn a_provider_refusal_fails_the_reply_and_releases_the_hold() {
    let _pool = pool();
    let stack = Stack::from_env();
    for (model, _) in MODELS {
        keys_ready(&stack, LABEL);
        let (_admin, user) = stack.funded_user("chat-reply-fail", 1000);
        let id = conversation(&stack, &user, model);
        let content = format!("[throttle] {}", Uuid::new_v4().simple());
        let r = say(&stack, &user, &id, &content);
        assert_eq!(r.status, 502, "{model}: {r:?}");
        assert_eq!(r.error_code(), "internal");
        assert!(provider_request(&stack, &content).is_some(), "{model}");

        let row = stack
            .db()
            .query_one(
                "select status, error, credits, hold_id is not null
                 from public.messages where conversation_id = $1::text::uuid and role = 'assistant'",
                &[&id],
            )
            .expect("the failed reply is stored");
        let (status, error, credits, held): (String, Option<String>, Option<i64>, bool) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        assert_eq!(status, "failed", "{model}");
        assert_eq!(
            error.as_deref(),
            Some("the model's provider is busy; try again in a moment")
        );
        // Refused before any token: the reply is free.
        assert_eq!(credits, Some(0), "{model}");
        assert!(held, "the reply had a hold to release");
        assert_eq!(
            money(&stack, &user),
            (1000, 0),
            "{model}: the hold is released"
        );
    }
    keys_ready(&stack, LABEL);
    assert_eq!(stack.audit(), json!([]), "audit_credits found violations");
}

#[test]
fn no_credits_is_a_402_before_any_provider_call() {
    let _pool = pool();
    let stack = Stack::from_env();
    keys_ready(&stack, LABEL);
    // A reply to gpt-4o-mini reserves 4 credits (4096 output tokens at 0.9 per 1k, and the prompt).
    let (_admin, user) = stack.funded_user("chat-reply-poor", 1);
    let id = conversation(&stack, &user, "gpt-4o-mini");
    let content = format!("anything {}", Uuid::new_v4().simple());
    let r = say(&stack, &user, &id, &content);
    assert_eq!(r.status, 402, "{r:?}");
    assert_eq!(r.error_code(), "insufficient_credits");
    assert!(provider_request(&stack, &content).is_none());
    let stored: i64 = stack
        .db()
        .query_one(
            "select count(*) from public.messages where conversation_id = $1::text::uuid",
            &[&id],
        )
        .expect("count")
        .get(0);
    assert_eq!(stored, 0, "nothing is written when credits are short");
    assert_eq!(money(&stack, &user), (1, 0));
    assert_eq!(stack.audit(), json!([]), "audit_credits found violations");
}
