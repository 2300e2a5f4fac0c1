//! Embeddings through OpenAI's protocol (`POST {base}/v1/embeddings`, a pool key). SQL begins
//! a batch (`api.begin_embeddings`, `api.begin_query_embedding`: the inputs, a hold at list
//! price); [`run_batch`] sends it and always finishes it (`api.finish_embeddings`): the
//! vectors stored and the hold settled at the tokens the provider reported, or the hold
//! released when the provider failed. No batch is left open for a sweep to find.

use crate::deps::{Deps, Outbound};
use crate::error::ApiError;
use crate::rpc::{Rpc, RpcArgs, RpcAuth};
use crate::token_pool::{self, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A begun batch's `request`, as SQL built it.
#[derive(Debug, Deserialize)]
pub struct EmbeddingRequest {
    pub protocol: String,
    pub provider: String,
    pub model: String,
    pub dimensions: usize,
    pub inputs: Vec<String>,
}

/// `api.finish_embeddings`, as the service role: the vectors in the inputs' order, or none
/// to release the batch.
#[derive(Serialize)]
struct FinishEmbeddings<'a> {
    batch_id: &'a Value,
    embeddings: Option<&'a [Value]>,
    tokens: Option<i64>,
}

impl RpcArgs for FinishEmbeddings<'_> {
    const FUNCTION: &'static str = "finish_embeddings";
}

/// A finished batch: SQL's answer (`{embedded, tokens, credits_charged}`) and the vectors.
pub struct Finished {
    pub answer: Value,
    pub vectors: Vec<Value>,
}

/// Embeds the batch `begun` (a begin function's answer) and finishes it; a begin that
/// found nothing to embed (`batch_id` null) answers that nothing was embedded. A provider failure
/// releases the batch and is a 502 (503 when no key is available); a finish that fails on
/// the server is tried once more (it is exactly-once in SQL).
pub async fn run_batch(deps: &impl Deps, begun: &Value) -> Result<Finished, ApiError> {
    let batch_id = &begun["batch_id"];
    if batch_id.is_null() {
        // SQL found everything already embedded: no batch was begun.
        return Ok(Finished {
            answer: json!({"embedded": 0, "tokens": 0, "credits_charged": 0}),
            vectors: Vec::new(),
        });
    }
    let embedded = match serde_json::from_value::<EmbeddingRequest>(begun["request"].clone()) {
        Ok(request) => embed(deps, &request).await,
        Err(e) => Err(ApiError::internal(format!("a begun batch's request: {e}"))),
    };
    let (vectors, tokens) = match &embedded {
        Ok((vectors, tokens)) => (Some(vectors.as_slice()), *tokens),
        Err(_) => (None, None),
    };
    let finish = FinishEmbeddings {
        batch_id,
        embeddings: vectors,
        tokens,
    };
    let answer = match deps.rpc().invoke(&finish, &RpcAuth::ServiceRole).await {
        Err(e) if e.is_server_error() => deps.rpc().invoke(&finish, &RpcAuth::ServiceRole).await,
        done => done,
    }?;
    let (vectors, _) = embedded?;
    Ok(Finished { answer, vectors })
}

/// One call to the provider: the vectors (each checked to have `dimensions` numbers) and
/// the tokens it reported.
async fn embed(
    deps: &impl Deps,
    req: &EmbeddingRequest,
) -> Result<(Vec<Value>, Option<i64>), ApiError> {
    if req.protocol != "openai_embeddings" {
        return Err(ApiError::internal(format!(
            "unknown protocol {}",
            req.protocol
        )));
    }
    let base = token_pool::api_url(deps, &req.provider)
        .ok_or_else(|| ApiError::unavailable(format!("no API URL for {}", req.provider)))?;
    let token = token_pool::take(deps, &req.provider).await?;
    let body = json!({"model": req.model, "input": req.inputs, "dimensions": req.dimensions,
                      "encoding_format": "float"});
    let sent = deps
        .send(Outbound {
            method: "POST",
            url: format!("{base}/v1/embeddings"),
            headers: vec![
                ("authorization".into(), format!("Bearer {}", token.secret)),
                ("content-type".into(), "application/json".into()),
            ],
            body: Some(body.to_string()),
        })
        .await;
    let read = match &sent {
        Ok(answer) if (200..300).contains(&answer.status) => read(req, &answer.body),
        Ok(answer) => Err(format!(
            "answered {}: {}",
            answer.status,
            clip(&answer.body)
        )),
        Err(e) => Err(format!("unreachable: {e}")),
    };
    let outcome = match (&sent, &read) {
        (Ok(_), Ok(_)) => Outcome::Ok,
        (Ok(a), Err(_)) if !(200..300).contains(&a.status) => Outcome::from_status(a.status),
        _ => Outcome::ServerError,
    };
    token_pool::report(deps, &token, outcome).await;
    read.map_err(|cause| ApiError::bad_gateway(format!("embeddings at {}: {cause}", req.provider)))
}

/// A 2xx answer: `data[i].embedding` in `index` order, and `usage.prompt_tokens`.
fn read(req: &EmbeddingRequest, body: &str) -> Result<(Vec<Value>, Option<i64>), String> {
    let mut json: Value =
        serde_json::from_slice(body.as_bytes()).map_err(|e| format!("unreadable answer: {e}"))?;
    let tokens = json["usage"]["prompt_tokens"].as_i64().filter(|n| *n >= 0);
    let mut data = match json.get_mut("data").map(Value::take) {
        Some(Value::Array(data)) => data,
        _ => return Err("an answer without data".into()),
    };
    if data.len() != req.inputs.len() {
        return Err(format!(
            "{} vectors for {} inputs",
            data.len(),
            req.inputs.len()
        ));
    }
    data.sort_by_key(|d| d["index"].as_u64());
    data.into_iter()
        .map(|mut d| match d.get_mut("embedding").map(Value::take) {
            Some(v @ Value::Array(_))
                if v.as_array().is_some_and(|a| {
                    a.len() == req.dimensions && a.iter().all(Value::is_number)
                }) =>
            {
                Ok(v)
            }
            _ => Err(format!("a vector that is not {} numbers", req.dimensions)),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|vectors| (vectors, tokens))
}

fn clip(text: &str) -> String {
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deps::Inbound;
    use crate::testing::{block_on, ScriptedDeps};

    const BATCH: &str = "b0000000-0000-4000-8000-000000000001";

    fn begun(inputs: &[&str]) -> Value {
        json!({"batch_id": BATCH, "credits_reserved": 1, "request": {
            "protocol": "openai_embeddings", "provider": "openai", "model": "text-embedding-3-small",
            "dimensions": 3, "inputs": inputs}})
    }

    fn answer(vectors: &[[f64; 3]], tokens: i64) -> Result<Inbound, String> {
        // Out of order on purpose: `index` decides.
        let data: Vec<Value> = vectors
            .iter()
            .enumerate()
            .rev()
            .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
            .collect();
        Ok(Inbound {
            status: 200,
            body: json!({"object": "list", "data": data, "model": "text-embedding-3-small",
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
            .to_string(),
        })
    }

    fn deps() -> ScriptedDeps {
        ScriptedDeps::default()
            .var("OPENAI_API_URL", "http://fake")
            .answer(
                "next_provider_token",
                Ok(json!({"id": "k1", "token": "sk-pool"})),
            )
    }

    #[test]
    fn a_batch_is_embedded_in_order_and_finished_with_the_reported_tokens() {
        let deps = deps()
            .http(answer(&[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], 7))
            .answer("report_provider_token", Ok(Value::Null))
            .answer(
                "finish_embeddings",
                Ok(json!({"embedded": 2, "tokens": 7, "credits_charged": 1})),
            );
        let done = block_on(run_batch(&deps, &begun(&["a b", "c d"]))).unwrap();
        assert_eq!(done.answer["credits_charged"], 1);
        assert_eq!(
            done.vectors,
            vec![json!([1.0, 0.0, 0.0]), json!([0.0, 1.0, 0.0])]
        );

        let sent = deps.sent.borrow();
        assert_eq!(sent[0].url, "http://fake/v1/embeddings");
        let body: Value = serde_json::from_str(sent[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(body["input"], json!(["a b", "c d"]));
        assert_eq!(body["dimensions"], 3);
        let calls = deps.upstream.calls.borrow();
        let (_, args, auth) = calls.last().unwrap();
        assert_eq!(*auth, RpcAuth::ServiceRole);
        assert_eq!(
            *args,
            json!({"p_batch_id": BATCH, "p_embeddings": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "p_tokens": 7})
        );
    }

    #[test]
    fn nothing_begun_is_nothing_sent() {
        let deps = ScriptedDeps::default();
        let done = block_on(run_batch(
            &deps,
            &json!({"batch_id": null, "request": null}),
        ))
        .unwrap();
        assert_eq!(done.answer["embedded"], 0);
        assert!(deps.sent.borrow().is_empty() && deps.called().is_empty());
    }

    #[test]
    fn a_failed_or_malformed_answer_releases_the_batch() {
        let short = answer(&[[1.0, 0.0, 0.0]], 3);
        let wrong_size = Ok(Inbound {
            status: 200,
            body: json!({"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [1.0]}]})
                .to_string(),
        });
        let refused = Ok(Inbound {
            status: 500,
            body: "{\"error\": {}}".into(),
        });
        for http in [short, wrong_size, refused, Err("reset".to_string())] {
            let deps = deps()
                .http(http)
                .answer("report_provider_token", Ok(Value::Null))
                .answer(
                    "finish_embeddings",
                    Ok(json!({"embedded": 0, "tokens": 0, "credits_charged": 0})),
                );
            let e = block_on(run_batch(&deps, &begun(&["a", "b"])))
                .err()
                .unwrap();
            assert_eq!(e.status, 502);
            let calls = deps.upstream.calls.borrow();
            let (_, args, _) = calls.last().unwrap();
            assert_eq!(args["p_embeddings"], Value::Null, "released");
            assert_eq!(calls[1].1["p_outcome"], "server_error");
        }
    }
}
