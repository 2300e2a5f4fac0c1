//! Supabase Storage's HTTP API, the part functions call: signed download URLs (in batches) and
//! signed upload URLs. A call made for a user carries the user's own token, so Storage reads
//! `storage.objects` as them and its policies decide what they may sign; the service role is
//! for work no user drives (persisting a provider's outputs).
//!
//! Generated media lives in the private `generations` bucket under
//! `{user_id}/{generation_id}/{n}.{ext}`; a generation's `outputs.files` lists those paths and
//! the API hands out signed URLs for them ([`render_outputs`]).

use crate::deps::{Deps, Outbound};
use crate::error::ApiError;
use crate::rpc::RpcAuth;
use serde_json::{json, Value};

pub const GENERATIONS_BUCKET: &str = "generations";
/// How long a signed download URL the API returns stays valid. Stated in every response
/// (`outputs.urls_expire_at`) so a client knows when to ask again.
pub const DOWNLOAD_URL_SECONDS: i64 = 3600;
/// How long a signed upload URL stays valid. Supabase's own, fixed: two hours.
pub const UPLOAD_URL_SECONDS: i64 = 7200;

/// `<SUPABASE_URL>/storage/v1`.
pub fn base_url(deps: &impl Deps) -> Result<String, ApiError> {
    let url = deps
        .var("SUPABASE_URL")
        .ok_or_else(|| ApiError::unavailable("SUPABASE_URL is not configured"))?;
    Ok(format!("{}/storage/v1", url.trim_end_matches('/')))
}

/// The `authorization` and `apikey` headers Storage expects for `auth`.
pub fn auth_headers(deps: &impl Deps, auth: &RpcAuth) -> Result<Vec<(String, String)>, ApiError> {
    let (bearer, apikey) = match auth {
        RpcAuth::User(token) => (
            token.clone(),
            deps.var("SUPABASE_ANON_KEY").unwrap_or_default(),
        ),
        RpcAuth::ServiceRole => {
            let key = deps.var("SUPABASE_SERVICE_ROLE_KEY").ok_or_else(|| {
                ApiError::unavailable("SUPABASE_SERVICE_ROLE_KEY is not configured")
            })?;
            (key.clone(), key)
        }
    };
    Ok(vec![
        ("authorization".into(), format!("Bearer {bearer}")),
        ("apikey".into(), apikey),
    ])
}

/// Storage answered something other than success: its own error body goes to the log only.
fn storage_error(what: &str, status: u16, body: &str) -> ApiError {
    // Paths are chosen by the server, so a refusal here is ours, not the client's.
    ApiError::bad_gateway(format!(
        "storage {what}: {status} {}",
        body.chars().take(300).collect::<String>()
    ))
}

async fn post_json(
    deps: &impl Deps,
    auth: &RpcAuth,
    url: String,
    body: Value,
    extra: &[(&str, &str)],
    what: &str,
) -> Result<Value, ApiError> {
    let mut headers = auth_headers(deps, auth)?;
    headers.push(("content-type".into(), "application/json".into()));
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let answer = deps
        .send(Outbound {
            method: "POST",
            url,
            headers,
            body: Some(body.to_string()),
        })
        .await
        .map_err(|e| ApiError::bad_gateway(format!("storage {what}: {e}")))?;
    if !(200..300).contains(&answer.status) {
        return Err(storage_error(what, answer.status, &answer.body));
    }
    serde_json::from_str(&answer.body)
        .map_err(|e| ApiError::bad_gateway(format!("storage {what}: unreadable answer: {e}")))
}

/// Signed download URLs for `paths` in `bucket`, in order, each valid for
/// [`DOWNLOAD_URL_SECONDS`]; `None` for a path Storage would not sign (gone, or not the
/// caller's). One request for the whole batch (`POST /object/sign/{bucket}`).
pub async fn sign_downloads(
    deps: &impl Deps,
    auth: &RpcAuth,
    bucket: &str,
    paths: &[String],
) -> Result<Vec<Option<String>>, ApiError> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let base = base_url(deps)?;
    let answer = post_json(
        deps,
        auth,
        format!("{base}/object/sign/{bucket}"),
        json!({ "expiresIn": DOWNLOAD_URL_SECONDS, "paths": paths }),
        &[],
        "sign",
    )
    .await?;
    let items = answer.as_array().cloned().unwrap_or_default();
    Ok(paths
        .iter()
        .map(|path| {
            items
                .iter()
                .find(|i| i["path"].as_str() == Some(path.as_str()))
                .and_then(|i| i["signedURL"].as_str())
                .map(|rel| format!("{base}{rel}"))
        })
        .collect())
}

/// A signed upload URL: `PUT` the bytes to `url` (no other credential needed) until it
/// expires.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedUpload {
    pub url: String,
    pub token: String,
}

/// `POST /object/upload/sign/{bucket}/{path}`: a URL that uploads exactly `path`.
/// With `upsert`, an upload replaces what is there (a retried copy writes the same object).
pub async fn sign_upload(
    deps: &impl Deps,
    auth: &RpcAuth,
    bucket: &str,
    path: &str,
    upsert: bool,
) -> Result<SignedUpload, ApiError> {
    let base = base_url(deps)?;
    let upsert = if upsert { "true" } else { "false" };
    let answer = post_json(
        deps,
        auth,
        format!("{base}/object/upload/sign/{bucket}/{path}"),
        json!({}),
        &[("x-upsert", upsert)],
        "upload sign",
    )
    .await?;
    let rel = answer["url"]
        .as_str()
        .ok_or_else(|| ApiError::bad_gateway("storage upload sign: no url in the answer"))?;
    let token = rel
        .split_once("token=")
        .map(|(_, t)| t.split('&').next().unwrap_or(t).to_string())
        .ok_or_else(|| ApiError::bad_gateway("storage upload sign: no token in the url"))?;
    Ok(SignedUpload {
        url: format!("{base}{rel}"),
        token,
    })
}

/// Gives every stored output of `generations` (generation objects of the API) a signed URL,
/// in one Storage request: `outputs.urls` become the signed URLs of `outputs.files` (in
/// order) and `outputs.urls_expire_at` says until when (unix seconds). While the copy is
/// pending (or after it failed), `outputs.urls` are the provider's URLs, which last as
/// long as the provider keeps them; `outputs.storage` says which. Text is left alone.
pub async fn render_outputs(
    deps: &impl Deps,
    auth: &RpcAuth,
    generations: &mut [&mut Value],
) -> Result<(), ApiError> {
    for g in generations.iter_mut() {
        // Not copied yet (or the copy gave up): the provider's own URLs, while they last.
        if g["outputs"]["storage"] != "stored" && g["outputs"]["provider_urls"].is_array() {
            g["outputs"]["urls"] = g["outputs"]["provider_urls"].clone();
        }
    }
    let paths: Vec<String> = generations
        .iter()
        .flat_map(|g| file_paths(&g["outputs"]))
        .collect();
    if paths.is_empty() {
        return Ok(());
    }
    let signed = sign_downloads(deps, auth, GENERATIONS_BUCKET, &paths).await?;
    let expire_at = deps.now_unix() + DOWNLOAD_URL_SECONDS;
    let mut signed = signed.into_iter();
    for g in generations.iter_mut() {
        let n = file_paths(&g["outputs"]).len();
        if n == 0 {
            continue;
        }
        let urls: Vec<Value> = signed.by_ref().take(n).map(|u| json!(u)).collect();
        g["outputs"]["urls"] = Value::Array(urls);
        g["outputs"]["urls_expire_at"] = json!(expire_at);
    }
    Ok(())
}

fn file_paths(outputs: &Value) -> Vec<String> {
    outputs["files"]
        .as_array()
        .map(|files| {
            files
                .iter()
                .filter_map(|f| f["path"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deps::Inbound;
    use crate::testing::{block_on, ScriptedDeps};

    fn deps() -> ScriptedDeps {
        ScriptedDeps::default().var("SUPABASE_URL", "http://sb.test/")
    }

    #[test]
    fn outputs_get_signed_urls_in_one_batch_and_text_is_left_alone() {
        let deps = deps().http(Ok(Inbound {
            status: 200,
            body: json!([
                {"error": null, "path": "u/g1/0.png", "signedURL": "/object/sign/generations/u/g1/0.png?token=a"},
                {"error": null, "path": "u/g1/1.png", "signedURL": "/object/sign/generations/u/g1/1.png?token=b"},
                {"error": "Either the object does not exist or you do not have access to it", "path": "u/g2/0.mp4", "signedURL": null},
            ])
            .to_string(),
        }));
        let mut g1 = json!({"outputs": {"storage": "stored", "files": [{"path": "u/g1/0.png"}, {"path": "u/g1/1.png"}]}});
        let mut text = json!({"outputs": {"text": "hello"}});
        let mut g2 = json!({"outputs": {"storage": "stored", "files": [{"path": "u/g2/0.mp4"}]}});
        let auth = RpcAuth::User("t".into());
        block_on(render_outputs(
            &deps,
            &auth,
            &mut [&mut g1, &mut text, &mut g2],
        ))
        .unwrap();
        assert_eq!(
            g1["outputs"]["urls"],
            json!([
                "http://sb.test/storage/v1/object/sign/generations/u/g1/0.png?token=a",
                "http://sb.test/storage/v1/object/sign/generations/u/g1/1.png?token=b"
            ])
        );
        assert_eq!(g2["outputs"]["urls"], json!([null]));
        assert_eq!(text, json!({"outputs": {"text": "hello"}}));
        let sent = deps.sent.borrow();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0].url,
            "http://sb.test/storage/v1/object/sign/generations"
        );
        assert!(sent[0]
            .headers
            .contains(&("authorization".into(), "Bearer t".into())));
    }

    #[test]
    fn nothing_stored_means_no_request() {
        let deps = deps();
        let mut g = json!({"outputs": {"storage": "pending", "provider_urls": ["http://p/x.png"]}});
        block_on(render_outputs(
            &deps,
            &RpcAuth::User("t".into()),
            &mut [&mut g],
        ))
        .unwrap();
        assert!(deps.sent.borrow().is_empty());
    }

    #[test]
    fn an_upload_url_carries_its_token() {
        let deps = deps()
            .var("SUPABASE_SERVICE_ROLE_KEY", "svc")
            .http(Ok(Inbound {
                status: 200,
                body: json!({"url": "/object/upload/sign/generations/u/g/0.png?token=tok"})
                    .to_string(),
            }));
        let up = block_on(sign_upload(
            &deps,
            &RpcAuth::ServiceRole,
            "generations",
            "u/g/0.png",
            true,
        ))
        .unwrap();
        assert_eq!(up.token, "tok");
        assert_eq!(
            up.url,
            "http://sb.test/storage/v1/object/upload/sign/generations/u/g/0.png?token=tok"
        );
        assert!(deps.sent.borrow()[0]
            .headers
            .contains(&("x-upsert".into(), "true".into())));
    }

    #[test]
    fn a_storage_refusal_is_a_bad_gateway() {
        let deps = deps().http(Ok(Inbound {
            status: 500,
            body: "{}".into(),
        }));
        let err = block_on(sign_upload(
            &deps,
            &RpcAuth::User("t".into()),
            "b",
            "p",
            false,
        ))
        .unwrap_err();
        assert_eq!(err.status, 502);
    }
}
