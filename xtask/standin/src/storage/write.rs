//! Uploads (storage: src/storage/uploader.ts, routes createObject, updateObject,
//! uploadSignedObject, getSignedUploadURL). In Storage's order: the bucket, the checks that
//! need no bytes (type, declared size), whether the caller may write the row (the insert, tried
//! and rolled back, so a refusal comes before any byte is read), the bytes into a temporary
//! file, then one transaction that locks the name, writes the row as the caller and commits,
//! with the bytes moved in place just before. A refused or failed upload leaves neither row
//! nor file; of concurrent upserts of one name the last to commit stays, and each removes the
//! bytes of the version it replaced.

use super::auth::{self, Identity};
use super::db::{self, transaction, NewObject, Scope};
use super::error::StorageError;
use super::files::TempFile;
use super::route::Access;
use super::upload::{self, Limits};
use super::{json_response, must_be_valid_key, Ctx};
use crate::http::App;
use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use std::sync::Arc;

/// `POST` (create; `x-upsert: true` replaces) or `PUT` (update) `/object/{bucket}/{name}`.
pub async fn upload(
    ctx: &Ctx,
    bucket: String,
    name: String,
    update: bool,
    body: Body,
) -> Result<Response, StorageError> {
    let identity = ctx.caller(Access::Required)?;
    let upsert = update || ctx.header("x-upsert") == Some("true");
    let operation = if update {
        "storage.object.upload_update"
    } else {
        "storage.object.upload"
    };
    let key = format!("{bucket}/{name}");
    let target = Target {
        bucket,
        name,
        owner: identity.sub.clone(),
        upsert,
        operation,
    };
    let id = store(ctx, identity, target, body).await?;
    Ok(json_response(
        StatusCode::OK,
        json!({ "Id": id, "Key": key }).to_string(),
    ))
}

/// `PUT /object/upload/sign/{bucket}/{name}?token=`: as the service role, for the token's
/// owner, replacing only if the token says so.
pub async fn upload_signed(
    ctx: &Ctx,
    bucket: String,
    name: String,
    body: Body,
) -> Result<Response, StorageError> {
    let token = ctx.query("token").ok_or_else(|| {
        StorageError::invalid_request("querystring must have required property 'token'")
    })?;
    let key = format!("{bucket}/{name}");
    let claims = auth::verify_signed(&token, &ctx.app.keys, auth::Scope::Upload, &key, ctx.now)?;
    let target = Target {
        bucket,
        name,
        owner: claims
            .get("owner")
            .and_then(Value::as_str)
            .map(String::from),
        upsert: claims.get("upsert").and_then(Value::as_bool) == Some(true),
        operation: "storage.object.upload_signed",
    };
    store(ctx, Identity::service_role(), target, body).await?;
    Ok(json_response(
        StatusCode::OK,
        json!({ "Key": key }).to_string(),
    ))
}

/// `POST /object/upload/sign/{bucket}/{name}`: a token that uploads exactly this name, issued
/// only if the caller may write it now (`x-upsert: true`: may replace it).
pub async fn sign_upload(ctx: &Ctx, bucket: &str, name: &str) -> Result<Response, StorageError> {
    let identity = ctx.caller(Access::Required)?;
    let upsert = ctx.header("x-upsert") == Some("true");
    let probe = NewObject {
        bucket,
        name,
        owner: identity.sub.as_deref(),
        version: "1",
        metadata: probe_metadata(
            ctx.header(header::CONTENT_TYPE.as_str()),
            ctx.header(header::CONTENT_LENGTH.as_str())
                .and_then(|n| n.parse().ok()),
        ),
        stamp: false,
        user_metadata: upload::metadata_header(&ctx.parts.headers),
    };
    let scope = ctx.scope(&identity, "storage.object.sign_upload_url");
    transaction(&ctx.app.pool, &scope, false, async |tx| {
        tx.write_object(&probe, upsert).await
    })
    .await?;
    let url = format!("{bucket}/{name}");
    let token = auth::sign_upload(
        &ctx.storage().secret,
        identity.sub.as_deref(),
        &url,
        upsert,
        ctx.now,
    );
    Ok(json_response(
        StatusCode::OK,
        json!({ "url": format!("/object/upload/sign/{url}?token={token}"), "token": token })
            .to_string(),
    ))
}

/// The metadata of the row Storage's permission check inserts.
fn probe_metadata(mimetype: Option<&str>, content_length: Option<u64>) -> Value {
    let mut m = json!({});
    if let Some(t) = mimetype {
        m["mimetype"] = json!(t);
    }
    if let Some(n) = content_length {
        m["contentLength"] = json!(n);
    }
    m
}

/// Where an upload goes and how.
struct Target {
    bucket: String,
    name: String,
    /// The uploader: the caller's `sub`, or a signed upload token's `owner`.
    owner: Option<String>,
    upsert: bool,
    operation: &'static str,
}

/// The whole upload as `identity`; returns the row's id.
async fn store(
    ctx: &Ctx,
    identity: Identity,
    target: Target,
    body: Body,
) -> Result<String, StorageError> {
    must_be_valid_key(&target.name)?;
    let service = Identity::service_role();
    let bucket = transaction(
        &ctx.app.pool,
        &ctx.scope(&service, target.operation),
        false,
        async |tx| tx.bucket(&target.bucket).await,
    )
    .await?
    .ok_or_else(StorageError::no_such_bucket)?;
    let incoming =
        upload::open(&ctx.parts.headers, body, &Limits::of(&bucket, &target.name)).await?;
    let probe = NewObject {
        bucket: &target.bucket,
        name: &target.name,
        owner: target.owner.as_deref(),
        version: "1",
        metadata: probe_metadata(Some(&incoming.mimetype), incoming.declared_length),
        stamp: false,
        user_metadata: incoming.user_metadata.clone(),
    };
    transaction(
        &ctx.app.pool,
        &ctx.scope(&identity, target.operation),
        false,
        async |tx| tx.write_object(&probe, target.upsert).await,
    )
    .await?;

    let mut temp = ctx.storage().files.temp().await.map_err(disk)?;
    let mimetype = incoming.mimetype.clone();
    let cache_control = incoming.cache_control.clone();
    let user_metadata = incoming.user_metadata.clone().unwrap_or_else(|| json!({}));
    let saved = incoming.save(&mut temp).await?;
    let stored = Stored {
        target,
        metadata: json!({
            "eTag": format!("\"{}\"", saved.md5_hex),
            "size": saved.size,
            "mimetype": mimetype,
            "cacheControl": cache_control,
            "contentLength": saved.size,
            "httpStatusCode": 200,
        }),
        user_metadata,
    };
    // The bytes are in: the rest runs to its end even if the client hangs up now (as on
    // Supabase), so the row either commits with its bytes or neither stays.
    let app = ctx.app.clone();
    let request = ctx.request.clone();
    tokio::spawn(async move { commit(app, request, identity, stored, temp).await })
        .await
        .map_err(|e| StorageError::internal(format!("upload task failed: {e}")))?
}

/// What the final transaction writes.
struct Stored {
    target: Target,
    metadata: Value,
    user_metadata: Value,
}

async fn commit(
    app: Arc<App>,
    request: db::Request,
    identity: Identity,
    stored: Stored,
    temp: TempFile,
) -> Result<String, StorageError> {
    let files = &app
        .storage
        .as_ref()
        .expect("uploads run only with storage")
        .files;
    let version = uuid::Uuid::new_v4().to_string();
    let placed = temp.place(files, &version).await.map_err(disk)?;
    let t = &stored.target;
    let row = NewObject {
        bucket: &t.bucket,
        name: &t.name,
        owner: t.owner.as_deref(),
        version: &version,
        metadata: stored.metadata.clone(),
        stamp: true,
        user_metadata: Some(stored.user_metadata.clone()),
    };
    let service = Identity::service_role();
    let as_service = Scope {
        identity: &service,
        request: &request,
        operation: t.operation,
    };
    let as_caller = Scope {
        identity: &identity,
        request: &request,
        operation: t.operation,
    };
    let (id, previous) = transaction(&app.pool, &as_service, true, async |tx| {
        // Writers of one name queue here; the version read under the lock is the one this
        // upload replaces.
        let previous = tx.lock_object(&t.bucket, &t.name).await?;
        tx.set_scope(&as_caller).await?;
        let id = tx.write_object(&row, t.upsert).await?;
        Ok((id, previous))
    })
    .await?;
    placed.keep();
    if let Some(Some(old)) = previous {
        files.remove(&old).await;
    }
    Ok(id)
}

fn disk(e: std::io::Error) -> StorageError {
    StorageError::internal(format!("storage folder: {e}"))
}
