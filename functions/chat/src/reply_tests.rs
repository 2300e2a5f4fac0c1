//! `send` and `stop` with a scripted database and provider: what reaches the provider in each
//! protocol, that every begun reply is finished as the service role, and that nothing is
//! sent when SQL refuses.

use super::{send, stop};
use genbase_shared::deps::{require_user, Inbound};
use genbase_shared::error::ApiError;
use genbase_shared::http::ApiResponse;
use genbase_shared::rpc::RpcAuth;
use genbase_shared::testing::{block_on, ScriptedDeps};
use genbase_shared::validate::Id;
use serde_json::{json, Value};

const CONVERSATION: &str = "c0000000-0000-4000-8000-000000000001";
const REPLY: &str = "a0000000-0000-4000-8000-000000000002";
const TOKEN_ID: &str = "70000000-0000-4000-8000-000000000003";

fn begun(protocol: &str, provider: &str, model: &str) -> Value {
    json!({
        "user_message": {"id": "u0000000-0000-4000-8000-000000000004", "role": "user", "content": "hi there"},
        "assistant_message": {"id": REPLY, "role": "assistant", "status": "streaming"},
        "request": {"protocol": protocol, "provider": provider, "model": model,
                    "system": "be brief", "messages": [{"role": "user", "content": "hi there"}],
                    "max_tokens": 4096, "temperature": null},
        "credits_reserved": 25,
    })
}

fn finished(status: &str, credits: i64) -> Value {
    json!({"message": {"id": REPLY, "status": status, "credits": credits},
           "credits_charged": credits, "conversation": {"id": CONVERSATION}})
}

fn ok(status: u16, body: Value) -> Result<Inbound, String> {
    Ok(Inbound {
        status,
        body: body.to_string(),
    })
}

fn run(deps: &ScriptedDeps, body: &str) -> Result<ApiResponse, ApiError> {
    let path = format!("/v1/conversations/{CONVERSATION}/messages");
    let req = ScriptedDeps::request("POST", &path, body, &[]);
    block_on(async {
        let caller = require_user(&req, deps).await?;
        send(&req, deps, &caller, Id::parse("id", CONVERSATION)?).await
    })
}

/// The arguments and auth of the first RPC named `function`.
fn call(deps: &ScriptedDeps, function: &str) -> (Value, RpcAuth) {
    let calls = deps.upstream.calls.borrow();
    let (_, args, auth) = calls
        .iter()
        .find(|(f, ..)| f == function)
        .unwrap_or_else(|| panic!("{function} was not called"));
    (args.clone(), auth.clone())
}

#[test]
fn an_openai_reply_is_sent_as_sql_built_it_and_finished_with_the_reported_tokens() {
    let deps = ScriptedDeps::default()
        .var("OPENAI_API_URL", "http://fake/")
        .answer(
            "begin_reply",
            Ok(begun("openai_chat", "openai", "gpt-4o-mini")),
        )
        .answer(
            "next_provider_token",
            Ok(json!({"id": TOKEN_ID, "token": "sk-pool"})),
        )
        .http(ok(
            200,
            json!({"choices": [{"message": {"role": "assistant", "content": "echo: hi there"}}],
                               "usage": {"prompt_tokens": 4, "completion_tokens": 3}}),
        ))
        .answer("report_provider_token", Ok(Value::Null))
        .answer("finish_reply", Ok(finished("complete", 1)));
    // A stream asked for is answered whole for now.
    let r = run(&deps, r#"{"content": "hi there", "stream": true}"#).unwrap();
    let body = r.body.clone().unwrap();

    assert_eq!(r.status, 201);
    assert_eq!(body["assistant_message"]["status"], "complete");
    assert_eq!(body["user_message"]["content"], "hi there");
    assert_eq!(body["credits_charged"], 1);

    let (args, auth) = call(&deps, "begin_reply");
    assert_eq!(
        args,
        json!({"p_conversation_id": CONVERSATION, "p_content": "hi there"})
    );
    assert!(matches!(auth, RpcAuth::User(_)));

    let sent = deps.sent.borrow();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].url, "http://fake/v1/chat/completions");
    assert!(sent[0]
        .headers
        .contains(&("authorization".into(), "Bearer sk-pool".into())));
    let body: Value = serde_json::from_str(sent[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"model": "gpt-4o-mini", "max_completion_tokens": 4096,
               "messages": [{"role": "system", "content": "be brief"},
                            {"role": "user", "content": "hi there"}]})
    );

    let (args, _) = call(&deps, "report_provider_token");
    assert_eq!(args, json!({"p_token_id": TOKEN_ID, "p_outcome": "ok"}));
    let (args, auth) = call(&deps, "finish_reply");
    assert_eq!(auth, RpcAuth::ServiceRole);
    assert_eq!(
        args,
        json!({"p_message_id": REPLY, "p_content": "echo: hi there", "p_status": "complete",
               "p_tokens_in": 4, "p_tokens_out": 3, "p_error": null})
    );
}

#[test]
fn an_anthropic_reply_uses_the_messages_api_with_the_var_key_when_the_pool_is_empty() {
    let deps = ScriptedDeps::default()
        .var("ANTHROPIC_API_URL", "http://fake")
        .var("ANTHROPIC_API_KEY", "sk-ant-var")
        .answer(
            "begin_reply",
            Ok(begun(
                "anthropic_messages",
                "anthropic",
                "claude-3-5-haiku-20241022",
            )),
        )
        .answer(
            "next_provider_token",
            Err(ApiError::new(503, "unavailable", "no active token")),
        )
        .http(ok(
            200,
            json!({"type": "message", "content": [{"type": "text", "text": "echo: hi"}],
                               "usage": {"input_tokens": 6, "output_tokens": 2}}),
        ))
        .answer("finish_reply", Ok(finished("complete", 1)));
    let r = run(&deps, r#"{"content": "hi there"}"#).unwrap();
    assert_eq!(r.status, 201);

    let sent = deps.sent.borrow();
    assert_eq!(sent[0].url, "http://fake/v1/messages");
    for h in [
        ("x-api-key", "sk-ant-var"),
        ("anthropic-version", "2023-06-01"),
    ] {
        assert!(
            sent[0].headers.contains(&(h.0.into(), h.1.into())),
            "{:?}",
            sent[0].headers
        );
    }
    let body: Value = serde_json::from_str(sent[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"model": "claude-3-5-haiku-20241022", "max_tokens": 4096, "system": "be brief",
               "messages": [{"role": "user", "content": "hi there"}]})
    );
    // The var's key has no pool row to report on.
    assert_eq!(
        deps.called(),
        ["begin_reply", "next_provider_token", "finish_reply"]
    );
    let (args, _) = call(&deps, "finish_reply");
    assert_eq!(
        (&args["p_tokens_in"], &args["p_tokens_out"]),
        (&json!(6), &json!(2))
    );
}

#[test]
fn a_provider_failure_finishes_the_reply_failed_in_our_words_and_answers_502() {
    let deps = ScriptedDeps::default()
        .var("OPENAI_API_URL", "http://fake")
        .answer(
            "begin_reply",
            Ok(begun("openai_chat", "openai", "gpt-4o-mini")),
        )
        .answer(
            "next_provider_token",
            Ok(json!({"id": TOKEN_ID, "token": "sk-pool"})),
        )
        .http(ok(
            500,
            json!({"error": {"message": "secret backend detail", "type": "server_error"}}),
        ))
        .answer("report_provider_token", Ok(Value::Null))
        .answer("finish_reply", Ok(finished("failed", 0)));
    let e = run(&deps, r#"{"content": "[midfail] hi"}"#).unwrap_err();

    assert_eq!(e.status, 502);
    assert!(!e.body("r").to_string().contains("secret backend detail"));
    assert!(e.cause.unwrap().contains("secret backend detail"));
    let (args, _) = call(&deps, "report_provider_token");
    assert_eq!(args["p_outcome"], "server_error");
    let (args, auth) = call(&deps, "finish_reply");
    assert_eq!(auth, RpcAuth::ServiceRole);
    assert_eq!(
        args,
        json!({"p_message_id": REPLY, "p_content": null, "p_status": "failed",
               "p_tokens_in": null, "p_tokens_out": null,
               "p_error": "the model's provider failed to answer"})
    );
}

#[test]
fn an_unreachable_provider_or_missing_key_still_finishes_the_reply() {
    let deps = ScriptedDeps::default()
        .var("OPENAI_API_URL", "http://fake")
        .answer(
            "begin_reply",
            Ok(begun("openai_chat", "openai", "gpt-4o-mini")),
        )
        .answer(
            "next_provider_token",
            Ok(json!({"id": TOKEN_ID, "token": "sk-pool"})),
        )
        .http(Err("connection refused".into()))
        .answer("report_provider_token", Ok(Value::Null))
        .answer("finish_reply", Ok(finished("failed", 0)));
    assert_eq!(run(&deps, r#"{"content": "hi"}"#).unwrap_err().status, 502);
    assert_eq!(
        call(&deps, "finish_reply").0["p_error"],
        "the model's provider could not be reached"
    );

    // No pool key and no var: nothing is sent, the reply still ends.
    let deps = ScriptedDeps::default()
        .var("OPENAI_API_URL", "http://fake")
        .answer(
            "begin_reply",
            Ok(begun("openai_chat", "openai", "gpt-4o-mini")),
        )
        .answer(
            "next_provider_token",
            Err(ApiError::new(503, "unavailable", "no active token")),
        )
        .answer("finish_reply", Ok(finished("failed", 0)));
    assert_eq!(run(&deps, r#"{"content": "hi"}"#).unwrap_err().status, 502);
    assert!(deps.sent.borrow().is_empty());
    assert_eq!(call(&deps, "finish_reply").0["p_status"], "failed");
}

#[test]
fn a_finish_that_fails_on_the_server_is_tried_once_more() {
    let deps = ScriptedDeps::default()
        .var("OPENAI_API_URL", "http://fake")
        .answer(
            "begin_reply",
            Ok(begun("openai_chat", "openai", "gpt-4o-mini")),
        )
        .answer(
            "next_provider_token",
            Ok(json!({"id": TOKEN_ID, "token": "sk-pool"})),
        )
        .http(ok(200, json!({"choices": [{"message": {"content": "x"}}]})))
        .answer("report_provider_token", Ok(Value::Null))
        .answer("finish_reply", Err(ApiError::bad_gateway("postgrest down")))
        .answer("finish_reply", Ok(finished("complete", 1)));
    assert_eq!(run(&deps, r#"{"content": "hi"}"#).unwrap().status, 201);
    // No usage reported: SQL estimates, so none is sent.
    let calls = deps.upstream.calls.borrow();
    assert_eq!(calls.last().unwrap().1["p_tokens_in"], Value::Null);
}

#[test]
fn credits_short_is_a_402_with_no_provider_call() {
    let deps = ScriptedDeps::default().answer(
        "begin_reply",
        Err(ApiError::new(402, "payment_required", "not enough credits")),
    );
    let e = run(&deps, r#"{"content": "hi"}"#).unwrap_err();
    assert_eq!(e.status, 402);
    assert_eq!(deps.called(), ["begin_reply"]);
    assert!(deps.sent.borrow().is_empty());
}

#[test]
fn branch_targets_are_passed_as_ids_and_bad_input_calls_nothing() {
    let target = "b0000000-0000-4000-8000-000000000005";
    let deps = ScriptedDeps::default().answer(
        "begin_reply",
        Err(ApiError::new(
            409,
            "conflict",
            "that reply is still being written",
        )),
    );
    let body = json!({"regenerate_of": target}).to_string();
    assert_eq!(run(&deps, &body).unwrap_err().status, 409);
    assert_eq!(
        call(&deps, "begin_reply").0,
        json!({"p_conversation_id": CONVERSATION, "p_regenerate_of": target})
    );

    for bad in [
        r#"{"content": "hi", "parent_id": "not-a-uuid"}"#,
        r#"{"content": "hi", "stream": "yes"}"#,
        r#"{"content": "hi", "model": "gpt-4o"}"#,
        r#"{"content": "#,
    ] {
        let deps = ScriptedDeps::default();
        let e = run(&deps, bad).unwrap_err();
        assert_eq!(e.status, 400, "{bad}: {e}");
        assert!(deps.called().is_empty(), "{bad}");
    }
}

#[test]
fn stop_asks_sql_as_the_user() {
    let deps = ScriptedDeps::default().answer(
        "stop_reply",
        Ok(json!({"id": REPLY, "status": "streaming", "stop_requested_at": "2026-12-01T00:00:00Z"})),
    );
    let req = ScriptedDeps::request("POST", "/", "", &[]);
    let r = block_on(async {
        let caller = require_user(&req, &deps).await?;
        stop(&deps, &caller, Id::parse("message_id", REPLY)?).await
    })
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.unwrap()["id"], REPLY);
    let (args, auth) = call(&deps, "stop_reply");
    assert_eq!(args, json!({"p_message_id": REPLY}));
    assert!(matches!(auth, RpcAuth::User(_)));
}
