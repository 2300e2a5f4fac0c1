//! What a provider is sent: SQL's `provider_input` with each uploaded file it names (a
//! `$storage` marker, see `genbase_shared::storage_inputs`) replaced by a signed download URL,
//! signed right before the submission so the URL is fresh when the provider fetches it.

use crate::provider;
use genbase_shared::deps::Deps;
use genbase_shared::error::ApiError;
use genbase_shared::storage_inputs::sign_inputs;
use serde_json::Value;

/// Signs the input's files, then creates the prediction; returns its id. A file that cannot
/// be signed fails the submission like a provider refusal does, so the caller releases the
/// hold either way.
pub async fn submit(
    deps: &impl Deps,
    provider_ref: &str,
    generation_id: &str,
    provider_input: &Value,
) -> Result<String, ApiError> {
    let mut input = provider_input.clone();
    sign_inputs(deps, &mut input).await?;
    provider::submit(deps, provider_ref, generation_id, &input).await
}

#[cfg(test)]
mod tests {
    use crate::handle;
    use genbase_shared::deps::Inbound;
    use genbase_shared::rpc::RpcAuth;
    use genbase_shared::testing::{block_on, ScriptedDeps};
    use serde_json::{json, Value};

    const BODY: &str = r#"{"kind":"image","model":"flux-dev","prompt":"a fox, painted","params":{"image":"5b0e2f6e-0c3a-4f1e-9d8e-3f1a2b4c5d6e"}}"#;
    const PATH: &str =
        "a11ce000-0000-4000-8000-000000000001/5b0e2f6e-0c3a-4f1e-9d8e-3f1a2b4c5d6e.png";

    fn deps() -> ScriptedDeps {
        ScriptedDeps::default()
            .var("SUPABASE_URL", "http://sb.test")
            .var("SUPABASE_SERVICE_ROLE_KEY", "svc")
            .var("REPLICATE_API_URL", "https://replicate.test")
            .answer(
                "create_generation",
                Ok(json!({
                    "generation": {"id": "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11"},
                    "created": true, "route": "provider", "provider_ref": "black-forest-labs/flux-dev",
                    "provider_input": {"prompt": "a fox, painted", "image": {"$storage": {"bucket": "media", "path": PATH}}},
                })),
            )
    }

    fn signed(url: Option<&str>) -> Result<Inbound, String> {
        Ok(Inbound {
            status: 200,
            body: json!([{"path": PATH, "signedURL": url}]).to_string(),
        })
    }

    #[test]
    fn the_provider_gets_a_signed_url_of_the_upload_in_place_of_its_marker() {
        let deps = deps()
            .http(signed(Some(&format!("/object/sign/media/{PATH}?token=t"))))
            .answer(
                "next_provider_token",
                Ok(json!({"id": "t1", "token": "r8_pool"})),
            )
            .http(Ok(Inbound {
                status: 201,
                body: r#"{"id":"pred-1"}"#.into(),
            }))
            .answer("report_provider_token", Ok(Value::Null))
            .answer(
                "mark_generation_submitted",
                Ok(json!({"id": "g", "status": "processing"})),
            );
        let req = ScriptedDeps::request("POST", "/v1/generations", BODY, &[]);
        let resp = block_on(handle(&req, &deps)).unwrap();
        assert_eq!(resp.status, 202);
        let sent = deps.sent.borrow();
        assert_eq!(sent[0].url, "http://sb.test/storage/v1/object/sign/media");
        assert!(sent[0]
            .headers
            .contains(&("authorization".into(), "Bearer svc".into())));
        let prediction: Value = serde_json::from_str(sent[1].body.as_deref().unwrap()).unwrap();
        assert_eq!(
            prediction["input"],
            json!({"prompt": "a fox, painted",
                   "image": format!("http://sb.test/storage/v1/object/sign/media/{PATH}?token=t")})
        );
    }

    #[test]
    fn an_upload_gone_before_submission_fails_the_generation_and_reaches_no_provider() {
        let deps = deps()
            .http(signed(None))
            .answer("fail_generation_submission", Ok(json!({})));
        let req = ScriptedDeps::request("POST", "/v1/generations", BODY, &[]);
        let err = block_on(handle(&req, &deps)).unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (422, "input_unavailable"));
        assert_eq!(
            deps.called(),
            ["create_generation", "fail_generation_submission"]
        );
        assert_eq!(deps.upstream.calls.borrow()[1].2, RpcAuth::ServiceRole);
        assert_eq!(deps.sent.borrow().len(), 1, "only the signing request");
    }
}
