//! Replies end to end, not streamed, through the real WASM, the fake provider (both chat
//! protocols) and Postgres: a reply is charged the tokens the provider reported at list price,
//! a provider failure leaves a failed message and releases the hold, and an account without
//! credits gets a 402 before any provider is called. Each ends with `audit_credits()` empty.
//!
//! The stack points OPENAI_API_URL and ANTHROPIC_API_URL at the fake provider; the keys come
//! from the token pool, where these tests put one key per provider. A provider failure rests
//! the key it used, so the tests take `POOL` and make their keys available again first.

use genbase_tests::{Reply, Stack, User};
use serde_json::{json, Value};
use std::sync::Mutex;
use uuid::Uuid;

static POOL: Mutex<()> = Mutex::new(());

const LABEL: &str = "e2e chat_reply";
/// The chat models the migrations seed, one per protocol.
const MODELS: [(&str, &str); 2] = [("gpt-4o-mini", "openai"), ("claude-3-5-haiku", "anthropic")];

fn secret(provider: &str) -> String {
    format!("sk-e2e-chat-reply-{provider}")
}

/// One available key of ours per chat provider, every earlier failure's cooldown forgotten.
fn keys_ready(stack: &Stack) {
    let mut db = stack.db();
    for (_, provider) in MODELS {
        db.execute(
            "insert into public.provider_tokens (provider, label, token)
             select $1, $2, $3
             where not exists (select 1 from public.provider_tokens where provider = $1 and label = $2)",
            &[&provider, &LABEL, &secret(provider)],
        )
        .expect("insert key");
    }
    db.execute(
        "update public.provider_tokens
         set cooldown_until = null, consecutive_errors = 0, cooldown_level = 0
         where label = $1",
        &[&LABEL],
    )
    .expect("rest no more");
}

fn conversation(stack: &Stack, user: &User, model: &str) -> String {
    let r = stack.rpc_client().call(
        "create_conversation",
        &json!({"p_model": model}),
        Some(&user.token),
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.body["id"].as_str().expect("conversation id").to_string()
}

fn say(stack: &Stack, user: &User, conversation: &str, content: &str) -> Reply {
    stack.json(
        "POST",
        &format!("/v1/conversations/{conversation}/messages"),
        Some(&user.token),
        &json!({"content": content}),
    )
}

/// The fake provider's record of the chat request whose last message was `content`.
fn provider_request(stack: &Stack, content: &str) -> Option<Value> {
    let r = genbase_tests::send(
        &format!("{}/_fake/chat/requests", stack.provider_url),
        "GET",
        None,
        None,
        &[],
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.body
        .as_array()
        .expect("chat request list")
        .iter()
        .find(|q| {
            q["messages"]
                .as_array()
                .and_then(|m| m.last())
                .is_some_and(|m| m["content"] == content)
        })
        .cloned()
}

/// `(balance, held)` of `user`.
fn money(stack: &Stack, user: &User) -> (i64, i64) {
    let c = stack.credits(user);
    (c["balance"].as_i64().unwrap(), c["held"].as_i64().unwrap())
}

#[test]
fn a_reply_is_charged_the_reported_tokens_at_list_price() {
    let _pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let stack = Stack::from_env();
    keys_ready(&stack);
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
            secret(provider).as_str(),
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

        let list_price: i64 = stack
            .db()
            .query_one(
                "select ceil(($2::int * credits_per_unit
                              + $3::int * coalesce(credits_per_output_unit, credits_per_unit)) / 1000)::int8
                 from public.pricing
                 where model = $1 and active_from <= now() and (active_to is null or active_to > now())",
                &[&model, &(tokens_in as i32), &(tokens_out as i32)],
            )
            .expect("price")
            .get(0);
        assert!(list_price > 0);
        assert_eq!(r.body["credits_charged"], list_price, "{model}");
        assert_eq!(reply["credits"], list_price);
        assert_eq!(money(&stack, &user), (1000 - list_price, 0), "{model}");
    }
    assert_eq!(stack.audit(), json!([]), "audit_credits found violations");
}

#[test]
fn a_provider_failure_fails_the_reply_and_releases_the_hold() {
    let _pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let stack = Stack::from_env();
    for (model, _) in MODELS {
        keys_ready(&stack);
        let (_admin, user) = stack.funded_user("chat-reply-fail", 1000);
        let id = conversation(&stack, &user, model);
        let content = format!("[midfail] {}", Uuid::new_v4().simple());
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
            Some("the model's provider failed to answer")
        );
        // Nothing was written and no usage reported: the reply is free.
        assert_eq!(credits, Some(0), "{model}");
        assert!(held, "the reply had a hold to release");
        assert_eq!(
            money(&stack, &user),
            (1000, 0),
            "{model}: the hold is released"
        );
    }
    keys_ready(&stack);
    assert_eq!(stack.audit(), json!([]), "audit_credits found violations");
}

#[test]
fn no_credits_is_a_402_before_any_provider_call() {
    let _pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let stack = Stack::from_env();
    keys_ready(&stack);
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
