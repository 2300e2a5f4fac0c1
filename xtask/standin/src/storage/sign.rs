//! Signed download URLs (storage: routes getSignedURL, getSignedURLs; `signObjectUrl(s)` in
//! src/storage/object.ts). Only an object the caller can read (as their role) is signed; the
//! URL is relative to `/storage/v1` and carries the token.

use super::auth::{self, Identity};
use super::db::transaction;
use super::error::StorageError;
use super::route::Access;
use super::{json_response, must_be_valid_key, Ctx};
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

/// At most this many paths in one batch (Storage's `MAX_OBJECTS_PER_REQUEST`).
const MAX_PATHS: usize = 1000;

/// `POST /object/sign/{bucket}/{name}` with `{expiresIn}` -> `{signedURL}`.
pub async fn sign(
    ctx: &Ctx,
    bucket: &str,
    name: &str,
    body: Body,
) -> Result<Response, StorageError> {
    let identity = ctx.caller(Access::Required)?;
    let body = ctx.json_body(body).await?;
    let expires_in = auth::expires_in(&body, ctx.now)?;
    must_be_valid_key(name)?;
    let found = readable(
        ctx,
        &identity,
        bucket,
        std::slice::from_ref(&name.to_string()),
        "storage.object.sign",
    )
    .await?;
    if found.is_empty() {
        return Err(StorageError::no_such_key());
    }
    let url = format!("{bucket}/{name}");
    let token = auth::sign_download(&ctx.storage().secret, &url, expires_in, ctx.now);
    Ok(json_response(
        StatusCode::OK,
        json!({ "signedURL": format!("/object/sign/{url}?token={token}") }).to_string(),
    ))
}

/// `POST /object/sign/{bucket}` with `{expiresIn, paths}` -> `[{error, path, signedURL}]`, in
/// the order of `paths`.
pub async fn sign_many(ctx: &Ctx, bucket: &str, body: Body) -> Result<Response, StorageError> {
    let identity = ctx.caller(Access::Required)?;
    let body = ctx.json_body(body).await?;
    let expires_in = auth::expires_in(&body, ctx.now)?;
    let paths = paths(&body)?;
    let found = readable(ctx, &identity, bucket, &paths, "storage.object.sign_many").await?;
    let secret = &ctx.storage().secret;
    let items: Vec<Value> = paths
        .iter()
        .map(|path| {
            if found.contains(path) {
                let url = format!("{bucket}/{path}");
                let token = auth::sign_download(secret, &url, expires_in, ctx.now);
                json!({ "error": null, "path": path, "signedURL": format!("/object/sign/{url}?token={token}") })
            } else {
                json!({
                    "error": "Either the object does not exist or you do not have access to it",
                    "path": path,
                    "signedURL": null,
                })
            }
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        Value::Array(items).to_string(),
    ))
}

/// `paths`: 1 to 1000 strings (the route's schema).
fn paths(body: &Value) -> Result<Vec<String>, StorageError> {
    let list = body
        .get("paths")
        .ok_or_else(|| StorageError::invalid_request("body must have required property 'paths'"))?
        .as_array()
        .ok_or_else(|| StorageError::invalid_request("body/paths must be array"))?;
    if list.is_empty() {
        return Err(StorageError::invalid_request(
            "body/paths must NOT have fewer than 1 items",
        ));
    }
    if list.len() > MAX_PATHS {
        return Err(StorageError::invalid_request(format!(
            "body/paths must NOT have more than {MAX_PATHS} items"
        )));
    }
    list.iter()
        .enumerate()
        .map(|(i, p)| {
            p.as_str().map(String::from).ok_or_else(|| {
                StorageError::invalid_request(format!("body/paths/{i} must be string"))
            })
        })
        .collect()
}

/// Which of `names` the caller can read.
async fn readable(
    ctx: &Ctx,
    identity: &Identity,
    bucket: &str,
    names: &[String],
    operation: &'static str,
) -> Result<Vec<String>, StorageError> {
    transaction(
        &ctx.app.pool,
        &ctx.scope(identity, operation),
        false,
        async |tx| tx.visible_names(bucket, names).await,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_schema() {
        assert_eq!(
            paths(&json!({"paths": ["a", "b"]})).unwrap(),
            vec!["a", "b"]
        );
        for bad in [
            json!({}),
            json!({"paths": []}),
            json!({"paths": "a"}),
            json!({"paths": [1]}),
        ] {
            assert_eq!(paths(&bad).unwrap_err().code, "InvalidRequest", "{bad}");
        }
        let many: Vec<String> = (0..=MAX_PATHS).map(|i| i.to_string()).collect();
        assert!(paths(&json!({ "paths": many })).is_err());
    }
}
