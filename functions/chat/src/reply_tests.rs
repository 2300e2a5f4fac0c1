//! `send`, the stream writer and `stop` with a scripted database and provider: what reaches
//! the provider in each protocol, what the client reads, that every begun reply is finished
//! as the service role with what came, and that nothing is sent when SQL refuses.

use super::{send, stop, write_stream};
use genbase_shared::deps::require_user;
use genbase_shared::error::ApiError;
use genbase_shared::http::ApiResponse;
use genbase_shared::rpc::RpcAuth;
use genbase_shared::testing::{block_on, RecordingSink, ScriptedBody, ScriptedDeps};
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
    json!({"message": {"id": REPLY, "status": status, "credits": credits, "tokens_in": 4, "tokens_out": 3},
           "credits_charged": credits, "conversation": {"id": CONVERSATION, "title": "named"}})
}

/// An OpenAI stream of `texts`, then its usage (when given) and `[DONE]`.
fn openai_stream(texts: &[&str], usage: Option<(i64, i64)>) -> Vec<Result<String, String>> {
    let mut events: Vec<Result<String, String>> = texts
        .iter()
        .map(|t| {
            Ok(format!(
                "data: {}\n\n",
                json!({"choices": [{"index": 0, "delta": {"content": t}}]})
            ))
        })
        .collect();
    if let Some((i, o)) = usage {
        let last = json!({"choices": [], "usage": {"prompt_tokens": i, "completion_tokens": o}});
        events.push(Ok(format!("data: {last}\n\n")));
    }
    events.push(Ok("data: [DONE]\n\n".into()));
    events
}

fn openai_deps() -> ScriptedDeps {
    ScriptedDeps::default()
        .var("OPENAI_API_URL", "http://fake/")
        .answer(
            "begin_reply",
            Ok(begun("openai_chat", "openai", "gpt-4o-mini")),
        )
        .answer(
            "next_provider_token",
            Ok(json!({"id": TOKEN_ID, "token": "sk-pool"})),
        )
}

fn run(deps: &ScriptedDeps, body: &str) -> Result<ApiResponse, ApiError> {
    let path = format!("/v1/conversations/{CONVERSATION}/messages");
    let req = ScriptedDeps::request("POST", &path, body, &[]);
    block_on(async {
        let caller = require_user(&req, deps).await?;
        send(&req, deps, &caller, Id::parse("id", CONVERSATION)?).await
    })
}

/// Sends `body` (a streamed request), then runs the stream writer as the runtime would,
/// into `sink`; the parts the client read.
fn run_streamed(deps: &ScriptedDeps, body: &str, sink: &mut RecordingSink) -> Vec<Value> {
    let r = run(deps, body).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.streams);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.header("x-vercel-ai-ui-message-stream"), Some("v1"));
    block_on(write_stream(deps, r.after.unwrap(), &mut *sink));
    sink.event_data()
        .iter()
        .map(|data| serde_json::from_str(data).unwrap_or(json!(data)))
        .collect()
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

fn deltas(parts: &[Value]) -> String {
    parts
        .iter()
        .filter(|p| p["type"] == "text-delta")
        .map(|p| p["delta"].as_str().unwrap())
        .collect()
}

#[test]
fn a_streamed_reply_passes_each_piece_through_and_finishes_with_the_reported_tokens() {
    let deps = openai_deps()
        .stream(Ok((
            200,
            ScriptedBody::new(openai_stream(&["echo:", " hi", " there"], Some((4, 3)))),
        )))
        .answer("report_provider_token", Ok(Value::Null))
        .answer("finish_reply", Ok(finished("complete", 1)));
    let mut sink = RecordingSink::default();
    let parts = run_streamed(&deps, r#"{"content": "hi there"}"#, &mut sink);

    let types: Vec<&str> = parts
        .iter()
        .map(|p| p["type"].as_str().unwrap_or("[DONE]"))
        .collect();
    assert_eq!(
        types,
        [
            "start",
            "start-step",
            "text-start",
            "text-delta",
            "text-delta",
            "text-delta",
            "text-end",
            "finish-step",
            "finish",
            "[DONE]"
        ]
    );
    assert_eq!(parts[0]["messageId"], REPLY);
    assert_eq!(parts[0]["messageMetadata"]["credits_reserved"], 25);
    assert_eq!(deltas(&parts), "echo: hi there");
    assert_eq!(
        parts[8],
        json!({"type": "finish", "finishReason": "stop", "messageMetadata": {
            "status": "complete", "usage": {"input_tokens": 4, "output_tokens": 3}, "credits_charged": 1}})
    );
    assert!(sink.closed);

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
        json!({"model": "gpt-4o-mini", "max_completion_tokens": 4096, "stream": true,
               "stream_options": {"include_usage": true},
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
fn stream_false_answers_the_whole_reply_as_json() {
    let deps = openai_deps()
        .stream(Ok((
            200,
            ScriptedBody::new(openai_stream(&["echo:", " hi"], Some((4, 2)))),
        )))
        .answer("report_provider_token", Ok(Value::Null))
        .answer("finish_reply", Ok(finished("complete", 1)));
    let r = run(&deps, r#"{"content": "hi there", "stream": false}"#).unwrap();
    let body = r.body.clone().unwrap();
    assert_eq!((r.status, r.streams), (201, false));
    assert_eq!(body["assistant_message"]["status"], "complete");
    assert_eq!(body["user_message"]["content"], "hi there");
    assert_eq!(body["credits_charged"], 1);
    assert_eq!(call(&deps, "finish_reply").0["p_content"], "echo: hi");
}

#[test]
fn an_anthropic_reply_uses_the_messages_api_with_the_var_key_when_the_pool_is_empty() {
    let events = [
        (
            "message_start",
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 6, "output_tokens": 1}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "echo: hi"}}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    let body: Vec<Result<String, String>> = events
        .iter()
        .map(|(name, data)| Ok(format!("event: {name}\ndata: {data}\n\n")))
        .collect();
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
        .stream(Ok((200, ScriptedBody::new(body))))
        .answer("finish_reply", Ok(finished("complete", 1)));
    let r = run(&deps, r#"{"content": "hi there", "stream": false}"#).unwrap();
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
               "stream": true, "messages": [{"role": "user", "content": "hi there"}]})
    );
    // The var's key has no pool row to report on.
    assert_eq!(
        deps.called(),
        ["begin_reply", "next_provider_token", "finish_reply"]
    );
    let (args, _) = call(&deps, "finish_reply");
    assert_eq!(
        (
            &args["p_content"],
            &args["p_tokens_in"],
            &args["p_tokens_out"]
        ),
        (&json!("echo: hi"), &json!(6), &json!(2))
    );
}

#[test]
fn the_first_complete_reply_of_an_untitled_conversation_asks_for_a_title() {
    let mut untitled = finished("complete", 1);
    untitled["conversation"]["title"] = Value::Null;
    let title_id = "71000000-0000-4000-8000-000000000006";
    let deps = openai_deps()
        .stream(Ok((200, ScriptedBody::new(openai_stream(&["echo:", " hi"], Some((4, 2)))))))
        .answer("report_provider_token", Ok(Value::Null))
        .answer("finish_reply", Ok(untitled))
        .answer(
            "begin_title",
            Ok(json!({"title_id": title_id, "credits_reserved": 1,
                      "request": {"protocol": "openai_chat", "provider": "openai", "model": "gpt-4o-mini",
                                  "system": "Write a short title", "messages": [{"role": "user", "content": "User: hi"}],
                                  "max_tokens": 24, "temperature": 0.2}})),
        )
        .answer(
            "next_provider_token",
            Ok(json!({"id": TOKEN_ID, "token": "sk-pool"})),
        )
        .stream(Ok((200, ScriptedBody::new(openai_stream(&["\"Greetings\""], Some((9, 1)))))))
        .answer("report_provider_token", Ok(Value::Null))
        .answer("finish_title", Ok(json!({"title": "Greetings", "credits_charged": 1})));
    let r = run(&deps, r#"{"content": "hi there", "stream": false}"#).unwrap();
    assert_eq!(r.body.unwrap()["conversation"]["title"], "Greetings");
    let (args, auth) = call(&deps, "begin_title");
    assert_eq!(
        (args, auth),
        (
            json!({"p_conversation_id": CONVERSATION}),
            RpcAuth::ServiceRole
        )
    );
    assert_eq!(
        call(&deps, "finish_title").0,
        json!({"p_title_id": title_id, "p_title": "\"Greetings\"", "p_tokens_in": 9,
               "p_tokens_out": 1, "p_failed": false}),
        "SQL cleans the model's text"
    );
    assert_eq!(deps.sent.borrow().len(), 2);
}

#[test]
fn a_refusal_finishes_the_reply_failed_in_our_words() {
    let refusal = json!({"error": {"message": "secret backend detail", "type": "server_error"}});
    let deps = openai_deps()
        .stream(Ok((500, ScriptedBody::new([Ok(refusal.to_string())]))))
        .answer("report_provider_token", Ok(Value::Null))
        .answer("finish_reply", Ok(finished("failed", 0)));
    let e = run(&deps, r#"{"content": "hi", "stream": false}"#).unwrap_err();

    assert_eq!(e.status, 502);
    assert!(!e.body("r").to_string().contains("secret backend detail"));
    assert!(e.cause.unwrap().contains("secret backend detail"));
    let (args, _) = call(&deps, "report_provider_token");
    assert_eq!(args["p_outcome"], "server_error");
    let (args, auth) = call(&deps, "finish_reply");
    assert_eq!(auth, RpcAuth::ServiceRole);
    assert_eq!(
        args,
        json!({"p_message_id": REPLY, "p_content": "", "p_status": "failed",
               "p_tokens_in": null, "p_tokens_out": null,
               "p_error": "the model's provider failed to answer"})
    );
}

#[test]
fn a_failure_mid_stream_keeps_what_came_and_tells_the_client() {
    for broken in [
        Ok(format!(
            "data: {}\n\n",
            json!({"error": {"message": "overloaded", "type": "server_error"}})
        )),
        Err("connection reset".to_string()),
    ] {
        let mut body = openai_stream(&["echo:", " hi"], None);
        body.pop(); // no [DONE]
        body.push(broken);
        let deps = openai_deps()
            .stream(Ok((200, ScriptedBody::new(body))))
            .answer("report_provider_token", Ok(Value::Null))
            .answer("finish_reply", Ok(finished("failed", 1)));
        let mut sink = RecordingSink::default();
        let parts = run_streamed(&deps, r#"{"content": "hi"}"#, &mut sink);

        assert_eq!(deltas(&parts), "echo: hi");
        let error = parts
            .iter()
            .find(|p| p["type"] == "error")
            .expect("an error part");
        assert_eq!(
            error["errorText"],
            "the model's provider stopped answering mid-reply"
        );
        assert_eq!(parts[parts.len() - 2]["finishReason"], "error");
        let (args, _) = call(&deps, "finish_reply");
        assert_eq!(
            (&args["p_status"], &args["p_content"]),
            (&json!("failed"), &json!("echo: hi"))
        );
        assert_eq!(
            call(&deps, "report_provider_token").0["p_outcome"],
            "server_error"
        );
    }
}

#[test]
fn a_client_that_leaves_gets_its_reply_finished_or_cut_as_it_asked() {
    let texts = ["a", " b", " c", " d", " e"];
    // Left after three writes: the start, then the first two chunks' text.
    let leaving = || RecordingSink {
        leaves_after: Some(3),
        ..RecordingSink::default()
    };

    let body = ScriptedBody::new(openai_stream(&texts, Some((4, 5))));
    let cancelled = body.cancelled.clone();
    let deps = openai_deps()
        .stream(Ok((200, body)))
        .answer("report_provider_token", Ok(Value::Null))
        .answer("finish_reply", Ok(finished("complete", 1)));
    run_streamed(&deps, r#"{"content": "hi"}"#, &mut leaving());
    let (args, _) = call(&deps, "finish_reply");
    assert_eq!(
        (&args["p_status"], &args["p_content"]),
        (&json!("complete"), &json!("a b c d e"))
    );
    assert!(!cancelled.get());

    let body = ScriptedBody::new(openai_stream(&texts, Some((4, 5))));
    let cancelled = body.cancelled.clone();
    let deps = openai_deps()
        .stream(Ok((200, body)))
        .answer("report_provider_token", Ok(Value::Null))
        .answer("finish_reply", Ok(finished("stopped", 1)));
    run_streamed(
        &deps,
        r#"{"content": "hi", "on_disconnect": "stop"}"#,
        &mut leaving(),
    );
    let (args, _) = call(&deps, "finish_reply");
    // The third piece found the client gone; it was produced, so it is kept and charged.
    assert_eq!(
        args,
        json!({"p_message_id": REPLY, "p_content": "a b c", "p_status": "stopped",
               "p_tokens_in": null, "p_tokens_out": null, "p_error": null})
    );
    assert!(cancelled.get(), "the provider's stream was hung up");
    assert_eq!(call(&deps, "report_provider_token").0["p_outcome"], "ok");
}

#[test]
fn a_stop_asked_through_the_api_ends_the_reply_at_the_next_check() {
    let texts: Vec<String> = (0..30).map(|i| format!("w{i} ")).collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let body = ScriptedBody::new(openai_stream(&texts, None));
    let cancelled = body.cancelled.clone();
    let deps = openai_deps()
        .stream(Ok((200, body)))
        .answer(
            "reply_state",
            Ok(json!({"status": "streaming", "stop_requested": false})),
        )
        .answer(
            "reply_state",
            Ok(json!({"status": "streaming", "stop_requested": true})),
        )
        .answer("report_provider_token", Ok(Value::Null))
        .answer("finish_reply", Ok(finished("stopped", 1)));
    let mut sink = RecordingSink::default();
    let parts = run_streamed(&deps, r#"{"content": "hi"}"#, &mut sink);

    let (args, auth) = call(&deps, "reply_state");
    assert_eq!(auth, RpcAuth::ServiceRole);
    assert_eq!(args["p_message_id"], REPLY);
    let so_far = args["p_content"].as_str().unwrap();
    assert!(!so_far.is_empty(), "the text so far is kept at each check");
    let (args, _) = call(&deps, "finish_reply");
    assert_eq!(args["p_status"], "stopped");
    let kept = args["p_content"].as_str().unwrap();
    assert!(
        !kept.is_empty() && kept.len() < texts.concat().len(),
        "{kept}"
    );
    assert_eq!(deltas(&parts), kept, "the client read what was stored");
    assert!(parts.iter().any(|p| p["type"] == "abort"));
    assert!(cancelled.get());
}

#[test]
fn an_unreachable_provider_or_missing_key_still_finishes_the_reply() {
    let deps = openai_deps()
        .stream(Err("connection refused".into()))
        .answer("report_provider_token", Ok(Value::Null))
        .answer("finish_reply", Ok(finished("failed", 0)));
    assert_eq!(
        run(&deps, r#"{"content": "hi", "stream": false}"#)
            .unwrap_err()
            .status,
        502
    );
    assert_eq!(
        call(&deps, "finish_reply").0["p_error"],
        "the model's provider could not be reached"
    );

    // No pool key and no var: nothing is sent, the reply still ends, and the stream says so.
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
    let parts = run_streamed(&deps, r#"{"content": "hi"}"#, &mut RecordingSink::default());
    assert!(deps.sent.borrow().is_empty());
    assert_eq!(call(&deps, "finish_reply").0["p_status"], "failed");
    assert!(parts.iter().any(|p| p["type"] == "error"));
}

#[test]
fn a_finish_that_fails_on_the_server_is_tried_once_more() {
    let deps = openai_deps()
        .stream(Ok((200, ScriptedBody::new(openai_stream(&["x"], None)))))
        .answer("report_provider_token", Ok(Value::Null))
        .answer("finish_reply", Err(ApiError::bad_gateway("postgrest down")))
        .answer("finish_reply", Ok(finished("complete", 1)));
    assert_eq!(
        run(&deps, r#"{"content": "hi", "stream": false}"#)
            .unwrap()
            .status,
        201
    );
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
