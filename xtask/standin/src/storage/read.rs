//! Downloads, `HEAD` and info (storage: routes getObject, getPublicObject, getSignedObject,
//! getObjectInfo; src/storage/renderer). The row is found as Storage finds it: a private
//! bucket needs a valid JWT and the row is read as its role; a public bucket (and a signed
//! URL) reads as the service role. The bytes stream from disk; `Range` and `If-None-Match`
//! are honoured.

use super::auth::{self, Identity};
use super::db::{transaction, Obj};
use super::error::StorageError;
use super::route::Access;
use super::{json_response, must_be_valid_key, Ctx};
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use std::io::SeekFrom;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

/// Bytes read from disk per chunk of a download.
const READ_CHUNK: usize = 64 * 1024;

/// What JavaScript's `encodeURIComponent` leaves as it is.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// `GET /object/{bucket}/{name}` and its `authenticated` and `public` forms.
pub async fn download(
    ctx: &Ctx,
    bucket: &str,
    name: &str,
    access: Access,
) -> Result<Response, StorageError> {
    let operation = match access {
        Access::Public => "storage.object.get_public",
        _ => "storage.object.get_authenticated",
    };
    let obj = find(ctx, bucket, name, access, operation).await?;
    serve(ctx, &obj, None, false).await
}

/// `HEAD` of the same paths: the object's headers.
pub async fn head(
    ctx: &Ctx,
    bucket: &str,
    name: &str,
    access: Access,
) -> Result<Response, StorageError> {
    let obj = find(ctx, bucket, name, access, "object.head_authenticated_info").await?;
    let mut resp = StatusCode::OK.into_response();
    let h = resp.headers_mut();
    object_headers(h, &obj);
    cache_control(h, &obj.metadata);
    if let Some(n) = obj.metadata["contentLength"].as_u64() {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    Ok(resp)
}

/// `GET /object/info/...`: the object's description as JSON.
pub async fn info(
    ctx: &Ctx,
    bucket: &str,
    name: &str,
    access: Access,
    head: bool,
) -> Result<Response, StorageError> {
    let operation = match access {
        Access::Public => "storage.object.info_public",
        _ => "object.get_authenticated_info",
    };
    let obj = find(ctx, bucket, name, access, operation).await?;
    let m = &obj.metadata;
    let body = json!({
        "id": obj.id,
        "name": obj.name,
        "version": obj.version,
        "bucket_id": obj.bucket_id,
        "size": m["size"].as_u64(),
        "content_type": m["mimetype"].as_str(),
        "cache_control": m["cacheControl"].as_str(),
        "etag": m["eTag"].as_str(),
        "metadata": obj.user_metadata,
        "last_modified": obj.updated_at,
        "created_at": obj.created_at,
    });
    let mut resp = json_response(
        StatusCode::OK,
        if head {
            String::new()
        } else {
            body.to_string()
        },
    );
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    set(h, header::ETAG, m["eTag"].as_str());
    set(h, header::LAST_MODIFIED, obj.last_modified.as_deref());
    set(h, header::CACHE_CONTROL, m["cacheControl"].as_str());
    Ok(resp)
}

/// `GET /object/sign/{bucket}/{name}?token=`: the bytes, for whoever holds a valid token.
pub async fn signed(
    ctx: &Ctx,
    bucket: &str,
    name: &str,
    head: bool,
) -> Result<Response, StorageError> {
    let token = ctx.query("token").ok_or_else(|| {
        StorageError::invalid_request("querystring must have required property 'token'")
    })?;
    let claims = auth::verify_signed(
        &token,
        &ctx.app.keys,
        auth::Scope::Download,
        &format!("{bucket}/{name}"),
        ctx.now,
    )?;
    let service = Identity::service_role();
    let scope = ctx.scope(&service, "storage.object.get_signed");
    let obj = transaction(&ctx.app.pool, &scope, false, async |tx| {
        tx.object(bucket, name).await
    })
    .await?
    .ok_or_else(StorageError::no_such_key)?;
    serve(ctx, &obj, claims["exp"].as_i64(), head).await
}

/// The row behind a read route.
async fn find(
    ctx: &Ctx,
    bucket: &str,
    name: &str,
    access: Access,
    operation: &'static str,
) -> Result<Obj, StorageError> {
    let identity = ctx.caller(access)?;
    must_be_valid_key(name)?;
    let service = Identity::service_role();
    // Storage's `isAuthenticated`: the public routes have no caller at all.
    let authenticated = access != Access::Public && identity.authenticated;
    transaction(
        &ctx.app.pool,
        &ctx.scope(&service, operation),
        false,
        async |tx| {
            let found = tx.bucket(bucket).await?;
            let b = found.ok_or_else(StorageError::no_such_bucket)?;
            if !authenticated && !b.public {
                return Err(StorageError::no_such_bucket());
            }
            if !b.public && access != Access::Public {
                tx.set_scope(&ctx.scope(&identity, operation)).await?;
            }
            tx.object(bucket, name)
                .await?
                .ok_or_else(StorageError::no_such_key)
        },
    )
    .await
}

/// The object's bytes (or, with `head`, only its headers). `expires` (a signed URL's `exp`)
/// replaces `Cache-Control` with `Expires`.
async fn serve(
    ctx: &Ctx,
    obj: &Obj,
    expires: Option<i64>,
    head: bool,
) -> Result<Response, StorageError> {
    let files = &ctx.storage().files;
    let path = obj.version.as_deref().and_then(|v| files.object_path(v));
    let opened = match path {
        Some(p) => tokio::fs::File::open(p).await.ok(),
        None => None,
    };
    // The row exists but the bytes do not: Storage's renderer answers this way.
    let Some(mut file) = opened else {
        let mut resp = StorageError::asset_not_found().into_response();
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(resp);
    };
    let size = file
        .metadata()
        .await
        .map_err(|e| StorageError::internal(format!("storage folder: {e}")))?
        .len();

    let mut resp = StatusCode::OK.into_response();
    let h = resp.headers_mut();
    object_headers(h, obj);
    match expires {
        Some(exp) => {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(exp.max(0) as u64);
            set(h, header::EXPIRES, Some(&httpdate::fmt_http_date(at)));
        }
        None => cache_control(h, &obj.metadata),
    }
    if let Some(name) = ctx.query("download") {
        set(
            h,
            header::CONTENT_DISPOSITION,
            Some(&content_disposition(&name)),
        );
    }

    let etag = obj.metadata["eTag"].as_str();
    if etag.is_some() && ctx.header(header::IF_NONE_MATCH.as_str()) == etag {
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(resp);
    }
    let (from, len) = match ctx.header(header::RANGE.as_str()) {
        Some(range) => {
            let (from, to) = parse_range(range, size)?;
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            set(
                resp.headers_mut(),
                header::CONTENT_RANGE,
                Some(&format!("bytes {from}-{to}/{size}")),
            );
            (from, to - from + 1)
        }
        None => (0, size),
    };
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if head {
        return Ok(resp);
    }
    file.seek(SeekFrom::Start(from))
        .await
        .map_err(|e| StorageError::internal(format!("storage folder: {e}")))?;
    *resp.body_mut() = Body::from_stream(ReaderStream::with_capacity(file.take(len), READ_CHUNK));
    Ok(resp)
}

/// The headers every rendering of an object carries (Storage's `Renderer.setHeaders`).
fn object_headers(h: &mut HeaderMap, obj: &Obj) {
    let m = &obj.metadata;
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let mimetype = m["mimetype"].as_str().unwrap_or("application/octet-stream");
    // Storage never serves HTML as HTML from a bucket.
    let mimetype = if mimetype.contains("text/html") {
        "text/plain"
    } else {
        mimetype
    };
    set(h, header::CONTENT_TYPE, Some(mimetype));
    set(h, header::ETAG, m["eTag"].as_str());
    h.insert("x-robots-tag", HeaderValue::from_static("none"));
    set(h, header::LAST_MODIFIED, obj.last_modified.as_deref());
}

fn cache_control(h: &mut HeaderMap, metadata: &Value) {
    set(
        h,
        header::CACHE_CONTROL,
        Some(metadata["cacheControl"].as_str().unwrap_or("no-cache")),
    );
}

fn set(h: &mut HeaderMap, name: HeaderName, value: Option<&str>) {
    if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
        h.insert(name, v);
    }
}

/// `?download` (attachment) or `?download=name` (attachment with that file name).
fn content_disposition(name: &str) -> String {
    if name.is_empty() {
        return "attachment;".into();
    }
    let n = utf8_percent_encode(name, URI_COMPONENT);
    format!("attachment; filename={n}; filename*=UTF-8''{n}")
}

/// One `bytes=` range as Storage parses it: `a-b`, `a-`, `-n`; the end is clamped to the
/// object. Anything else is 416.
fn parse_range(range: &str, size: u64) -> Result<(u64, u64), StorageError> {
    let bad = StorageError::invalid_range;
    let spec = range.strip_prefix("bytes=").ok_or_else(bad)?;
    let (start, end) = spec.split_once('-').ok_or_else(bad)?;
    let number = |s: &str| -> Result<Option<u64>, StorageError> {
        if s.is_empty() {
            Ok(None)
        } else if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().map(Some).map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    if size == 0 {
        return Err(bad());
    }
    match (number(start)?, number(end)?) {
        (None, None) => Err(bad()),
        (None, Some(0)) => Err(bad()),
        (None, Some(suffix)) => Ok((size.saturating_sub(suffix), size - 1)),
        (Some(from), end) => {
            let to = end.unwrap_or(size - 1);
            if to < from || from >= size {
                return Err(bad());
            }
            Ok((from, to.min(size - 1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-", 10), Ok((0, 9)));
        assert_eq!(parse_range("bytes=2-4", 10), Ok((2, 4)));
        assert_eq!(parse_range("bytes=2-40", 10), Ok((2, 9)));
        assert_eq!(parse_range("bytes=-3", 10), Ok((7, 9)));
        assert_eq!(parse_range("bytes=-30", 10), Ok((0, 9)));
        for bad in [
            "bytes=-",
            "bytes=5-2",
            "bytes=10-",
            "bytes=-0",
            "items=0-1",
            "bytes=a-1",
            "bytes=0-1,3-4",
        ] {
            let e = parse_range(bad, 10).unwrap_err();
            assert_eq!((e.http, e.code), (416, "InvalidRange"), "{bad}");
        }
        assert!(parse_range("bytes=0-", 0).is_err());
    }

    #[test]
    fn downloads_name_their_file_like_storage() {
        assert_eq!(content_disposition(""), "attachment;");
        assert_eq!(
            content_disposition("my cat (1).png"),
            "attachment; filename=my%20cat%20(1).png; filename*=UTF-8''my%20cat%20(1).png"
        );
    }
}
