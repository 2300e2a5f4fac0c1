//! `POST /v1/search`: the caller's messages and document chunks that match a text query, by
//! meaning (`semantic`: the query's embedding against theirs), by words (`fulltext`), or
//! both fused by reciprocal rank (`hybrid`, the default). SQL searches as the caller, so RLS
//! keeps every other user's rows out; the query's embedding is a batch SQL holds and settles
//! before the search, so its tokens are charged like any usage.

use genbase_shared::deps::{Caller, Deps};
use genbase_shared::embeddings;
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::Id;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// How results are found. Parsed here only to know whether the query must be embedded
/// before SQL sees the request (a refused mode must not cost an embedding); SQL's
/// `api.search` checks the same names, and the end-to-end tests hold the two lists equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Semantic,
    Fulltext,
    #[default]
    Hybrid,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchBody {
    query: String,
    /// `messages`, `files` or `both` (SQL's default and check).
    scope: Option<String>,
    #[serde(default)]
    mode: Mode,
    conversation_id: Option<String>,
    file_ids: Option<Vec<String>>,
    limit: Option<i64>,
}

/// `api.begin_query_embedding`, as the caller (their credits).
#[derive(Serialize)]
struct BeginQueryEmbedding<'a> {
    text: &'a str,
}

impl RpcArgs for BeginQueryEmbedding<'_> {
    const FUNCTION: &'static str = "begin_query_embedding";
}

/// `api.search`, as the caller.
#[derive(Serialize)]
struct Search<'a> {
    embedding: Option<Value>,
    query: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    mode: Mode,
    conversation_id: Option<Id>,
    file_ids: Option<Vec<Id>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<i64>,
}

impl RpcArgs for Search<'_> {
    const FUNCTION: &'static str = "search";
}

/// 200 `{items, mode, credits_charged}` (the query's embedding, 0 for `fulltext`).
pub async fn search(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let body: SearchBody = req.json_body()?;
    let file_ids = body
        .file_ids
        .map(|ids| ids.iter().map(|id| Id::parse("file_ids", id)).collect())
        .transpose()?;
    let conversation_id = body
        .conversation_id
        .map(|id| Id::parse("conversation_id", &id))
        .transpose()?;
    let (embedding, credits) = match body.mode {
        Mode::Fulltext => (None, json!(0)),
        Mode::Semantic | Mode::Hybrid => {
            let begun = deps
                .rpc()
                .invoke(&BeginQueryEmbedding { text: &body.query }, &caller.auth)
                .await?;
            let mut done = embeddings::run_batch(deps, &begun).await?;
            (done.vectors.pop(), done.answer["credits_charged"].take())
        }
    };
    let args = Search {
        embedding,
        query: &body.query,
        scope: body.scope.as_deref(),
        mode: body.mode,
        conversation_id,
        file_ids,
        limit: body.limit,
    };
    let mut found = deps.rpc().invoke(&args, &caller.auth).await?;
    found["mode"] = json!(body.mode);
    found["credits_charged"] = credits;
    Ok(ApiResponse::ok(found))
}

#[cfg(test)]
mod tests {
    use crate::handle;
    use genbase_shared::deps::Inbound;
    use genbase_shared::rpc::RpcAuth;
    use genbase_shared::testing::{block_on, ScriptedDeps};
    use serde_json::{json, Value};

    fn run(
        deps: &ScriptedDeps,
        body: Value,
    ) -> Result<genbase_shared::http::ApiResponse, genbase_shared::ApiError> {
        let req = ScriptedDeps::request("POST", "/v1/search", &body.to_string(), &[]);
        block_on(handle(&req, deps))
    }

    #[test]
    fn a_hybrid_search_embeds_the_query_as_the_user_then_searches_with_it() {
        let begun = json!({"batch_id": "b1", "credits_reserved": 1, "request": {
            "protocol": "openai_embeddings", "provider": "openai", "model": "text-embedding-3-small",
            "dimensions": 2, "inputs": ["tides"]}});
        let deps = ScriptedDeps::default()
            .var("OPENAI_API_URL", "http://fake")
            .answer("begin_query_embedding", Ok(begun))
            .answer("next_provider_token", Ok(json!({"id": "k", "token": "sk"})))
            .http(Ok(Inbound {
                status: 200,
                body: json!({"data": [{"index": 0, "embedding": [0.6, 0.8]}], "usage": {"prompt_tokens": 1}}).to_string(),
            }))
            .answer("report_provider_token", Ok(Value::Null))
            .answer("finish_embeddings", Ok(json!({"embedded": 0, "tokens": 1, "credits_charged": 1})))
            .answer("search", Ok(json!({"items": [{"kind": "chunk", "score": 0.9}]})));
        let r = run(
            &deps,
            json!({"query": "tides", "scope": "files", "limit": 3}),
        )
        .unwrap();
        assert_eq!(
            r.body.unwrap(),
            json!({"items": [{"kind": "chunk", "score": 0.9}], "mode": "hybrid", "credits_charged": 1})
        );
        let calls = deps.upstream.calls.borrow();
        assert_eq!(calls[0].1, json!({"p_text": "tides"}));
        assert!(matches!(calls[0].2, RpcAuth::User(_)));
        let (_, search, auth) = calls.last().unwrap();
        assert!(matches!(auth, RpcAuth::User(_)));
        assert_eq!(
            *search,
            json!({"p_embedding": [0.6, 0.8], "p_query": "tides", "p_scope": "files", "p_mode": "hybrid",
                   "p_conversation_id": null, "p_file_ids": null, "p_limit": 3})
        );
    }

    #[test]
    fn a_fulltext_search_costs_no_embedding() {
        let deps = ScriptedDeps::default().answer("search", Ok(json!({"items": []})));
        let r = run(&deps, json!({"query": "tides", "mode": "fulltext"})).unwrap();
        assert_eq!(r.body.unwrap()["credits_charged"], 0);
        assert_eq!(deps.called(), ["search"]);
        assert_eq!(
            deps.upstream.calls.borrow()[0].1["p_embedding"],
            Value::Null
        );
    }

    #[test]
    fn a_bad_body_costs_nothing() {
        for body in [
            json!({"query": "x", "mode": "fuzzy"}),
            json!({"query": "x", "file_ids": ["nope"]}),
            json!({"query": "x", "conversation_id": 7}),
            json!({"q": "x"}),
        ] {
            let deps = ScriptedDeps::default();
            let e = run(&deps, body.clone()).err().unwrap();
            assert_eq!(e.status, 400, "{body}");
            assert!(deps.called().is_empty(), "{body}");
        }
    }
}
