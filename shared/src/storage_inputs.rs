//! Inputs that name stored objects. SQL's `private.provider_input` sends a model's `file`
//! parameter (one of the user's uploads, checked there: theirs, arrived, of an allowed type)
//! as the marker `{"$storage": {"bucket": "...", "path": "..."}}`; right before an input
//! leaves for a provider or a GPU worker, [`sign_inputs`] turns every marker into a signed
//! download URL. Signing at the last moment means no URL expires while a generation waits in
//! a queue, and the service role signs because the GPU worker's claim has no user behind it.

use crate::deps::Deps;
use crate::error::ApiError;
use crate::rpc::RpcAuth;
use crate::storage::sign_downloads;
use serde_json::Value;

/// The key of a marker object.
pub const MARKER: &str = "$storage";

/// One marker: where the object is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Object {
    bucket: String,
    path: String,
}

/// Replaces every marker in `input` (at any depth) by a signed download URL of its object,
/// valid for [`crate::storage::DOWNLOAD_URL_SECONDS`]: one Storage request per bucket. An
/// input without markers costs no request. 422 `input_unavailable` when an object is gone
/// (removed after the generation was accepted).
pub async fn sign_inputs(deps: &impl Deps, input: &mut Value) -> Result<(), ApiError> {
    let mut objects = Vec::new();
    collect(input, &mut objects)?;
    if objects.is_empty() {
        return Ok(());
    }
    let mut buckets: Vec<&str> = objects.iter().map(|o| o.bucket.as_str()).collect();
    buckets.sort_unstable();
    buckets.dedup();
    let mut signed: Vec<(Object, String)> = Vec::with_capacity(objects.len());
    for bucket in buckets {
        let mut paths: Vec<String> = objects
            .iter()
            .filter(|o| o.bucket == bucket)
            .map(|o| o.path.clone())
            .collect();
        paths.sort_unstable();
        paths.dedup();
        let urls = sign_downloads(deps, &RpcAuth::ServiceRole, bucket, &paths).await?;
        for (path, url) in paths.into_iter().zip(urls) {
            let url = url.ok_or_else(|| {
                ApiError::new(
                    422,
                    "input_unavailable",
                    "an uploaded file given as input is no longer in storage",
                )
                .with_cause(format!("storage would not sign {bucket}/{path}"))
            })?;
            let object = Object {
                bucket: bucket.to_string(),
                path,
            };
            signed.push((object, url));
        }
    }
    replace(input, &signed);
    Ok(())
}

/// The marker `value` is, if it is one; an object with the marker key and no bucket or path
/// is a bug in SQL, not something to send on.
fn marker(value: &Value) -> Result<Option<Object>, ApiError> {
    let Some(inner) = value.as_object().and_then(|o| o.get(MARKER)) else {
        return Ok(None);
    };
    match (inner["bucket"].as_str(), inner["path"].as_str()) {
        (Some(bucket), Some(path)) if !bucket.is_empty() && !path.is_empty() => Ok(Some(Object {
            bucket: bucket.to_string(),
            path: path.to_string(),
        })),
        _ => Err(ApiError::internal(format!(
            "malformed storage marker: {value}"
        ))),
    }
}

fn collect(value: &Value, into: &mut Vec<Object>) -> Result<(), ApiError> {
    if let Some(object) = marker(value)? {
        into.push(object);
        return Ok(());
    }
    match value {
        Value::Array(items) => items.iter().try_for_each(|v| collect(v, into)),
        Value::Object(fields) => fields.values().try_for_each(|v| collect(v, into)),
        _ => Ok(()),
    }
}

/// Puts the signed URLs in place of their markers (every marker was signed by then).
fn replace(value: &mut Value, signed: &[(Object, String)]) {
    if let Ok(Some(object)) = marker(value) {
        if let Some((_, url)) = signed.iter().find(|(o, _)| *o == object) {
            *value = Value::String(url.clone());
        }
        return;
    }
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| replace(v, signed)),
        Value::Object(fields) => fields.values_mut().for_each(|v| replace(v, signed)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deps::Inbound;
    use crate::testing::{block_on, ScriptedDeps};
    use serde_json::json;

    fn deps() -> ScriptedDeps {
        ScriptedDeps::default()
            .var("SUPABASE_URL", "http://sb.test")
            .var("SUPABASE_SERVICE_ROLE_KEY", "svc")
    }

    fn signed(items: Value) -> Result<Inbound, String> {
        Ok(Inbound {
            status: 200,
            body: items.to_string(),
        })
    }

    fn mark(bucket: &str, path: &str) -> Value {
        json!({ MARKER: {"bucket": bucket, "path": path} })
    }

    #[test]
    fn every_marker_becomes_a_signed_url_with_one_request_per_bucket_as_the_service_role() {
        // Buckets in name order.
        let deps = deps()
            .http(signed(json!([
                {"path": "u/c.wav", "signedURL": "/object/sign/audio-recordings/u/c.wav?token=c"},
            ])))
            .http(signed(json!([
                {"path": "u/a.png", "signedURL": "/object/sign/media/u/a.png?token=a"},
                {"path": "u/b.png", "signedURL": "/object/sign/media/u/b.png?token=b"},
            ])));
        let mut input = json!({
            "prompt": "a cat",
            "image": mark("media", "u/a.png"),
            "mask": mark("media", "u/b.png"),
            "more": [mark("media", "u/a.png"), {"voice": mark("audio-recordings", "u/c.wav")}],
            "seed": 7,
        });
        block_on(sign_inputs(&deps, &mut input)).unwrap();
        let a = "http://sb.test/storage/v1/object/sign/media/u/a.png?token=a";
        assert_eq!(
            input,
            json!({
                "prompt": "a cat",
                "image": a,
                "mask": "http://sb.test/storage/v1/object/sign/media/u/b.png?token=b",
                "more": [a, {"voice": "http://sb.test/storage/v1/object/sign/audio-recordings/u/c.wav?token=c"}],
                "seed": 7,
            })
        );
        let sent = deps.sent.borrow();
        assert_eq!(
            sent.iter().map(|r| r.url.as_str()).collect::<Vec<_>>(),
            [
                "http://sb.test/storage/v1/object/sign/audio-recordings",
                "http://sb.test/storage/v1/object/sign/media",
            ]
        );
        let media: Value = serde_json::from_str(sent[1].body.as_deref().unwrap()).unwrap();
        assert_eq!(
            media,
            json!({"expiresIn": 3600, "paths": ["u/a.png", "u/b.png"]}),
            "a path named twice is signed once"
        );
        assert!(sent.iter().all(|r| r
            .headers
            .contains(&("authorization".into(), "Bearer svc".into()))));
    }

    #[test]
    fn an_input_without_markers_is_left_alone_without_a_request() {
        let deps = deps();
        let mut input = json!({"prompt": "x", "nested": {"bucket": "media", "path": "p"}});
        let before = input.clone();
        block_on(sign_inputs(&deps, &mut input)).unwrap();
        assert_eq!(input, before);
        assert!(deps.sent.borrow().is_empty());
    }

    #[test]
    fn an_object_storage_will_not_sign_is_a_422_and_the_input_keeps_its_markers() {
        let deps = deps().http(signed(json!([
            {"path": "u/a.png", "error": "Either the object does not exist or you do not have access to it", "signedURL": null},
        ])));
        let mut input = json!({"image": mark("media", "u/a.png")});
        let err = block_on(sign_inputs(&deps, &mut input)).unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (422, "input_unavailable"));
        assert_eq!(input, json!({"image": mark("media", "u/a.png")}));
    }

    #[test]
    fn a_malformed_marker_is_our_bug_and_sends_nothing() {
        let deps = deps();
        let mut input = json!({"image": {MARKER: {"bucket": "media"}}});
        let err = block_on(sign_inputs(&deps, &mut input)).unwrap_err();
        assert_eq!(err.status, 500);
        assert!(deps.sent.borrow().is_empty());
    }
}
