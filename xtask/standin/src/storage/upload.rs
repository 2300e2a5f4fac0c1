//! An upload's body, as Storage's `fileUploadFromRequest` reads it (storage:
//! src/storage/uploader.ts): `multipart/form-data` (what storage-js sends for a `Blob`/`File`:
//! `cacheControl` and `metadata` fields, then the file) or the raw bytes (a `Buffer`, a
//! stream, a string) with the type in `Content-Type`. The bucket's limits apply: the MIME
//! type before any byte is read, the size while the bytes stream to a temporary file (and
//! at once from `Content-Length` for a raw body). Nothing is held in memory beyond a chunk.

use super::db::Bucket;
use super::error::StorageError;
use super::files::TempFile;
use axum::body::{Body, BodyDataStream};
use axum::http::{header, HeaderMap};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use serde_json::Value;

/// The project-wide upload limit: supabase/config.toml's `[storage] file_size_limit`.
pub const GLOBAL_FILE_SIZE_LIMIT: u64 = 500 * 1024 * 1024;
/// Storage's cap on the `metadata` form field.
const MAX_CUSTOM_METADATA_SIZE: usize = 1024 * 1024;
/// `@fastify/multipart` as Storage registers it: at most 10 fields besides the file.
const MAX_FIELDS: usize = 10;

/// What a bucket allows for one object name.
pub struct Limits {
    pub max_size: u64,
    /// Empty: any type.
    pub allowed_mime_types: Vec<String>,
}

impl Limits {
    /// Storage's rules: the bucket's `file_size_limit` under the global one; an
    /// `.emptyFolderPlaceholder` must be empty and may have any type.
    pub fn of(bucket: &Bucket, name: &str) -> Limits {
        if name.ends_with(".emptyFolderPlaceholder") {
            return Limits {
                max_size: 0,
                allowed_mime_types: Vec::new(),
            };
        }
        let bucket_limit = bucket
            .file_size_limit
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(u64::MAX);
        Limits {
            max_size: bucket_limit.min(GLOBAL_FILE_SIZE_LIMIT),
            allowed_mime_types: bucket.allowed_mime_types.clone().unwrap_or_default(),
        }
    }
}

/// Storage's `validateMimeType`: `type/subtype` must equal an allowed entry or match its
/// `type/*`. Parameters are not stripped, so `text/plain;charset=UTF-8` does not match
/// `text/plain` (as on Supabase).
pub fn validate_mime_type(mime: &str, allowed: &[String]) -> Result<(), StorageError> {
    let mut requested = mime.split('/');
    let (Some(kind), Some(sub)) = (requested.next(), requested.next()) else {
        return Err(StorageError::invalid_mime_type(mime));
    };
    let ok = allowed.iter().any(|a| {
        let mut parts = a.split('/');
        parts.next() == Some(kind) && matches!(parts.next(), Some(s) if s == "*" || s == sub)
    });
    if ok {
        Ok(())
    } else {
        Err(StorageError::invalid_mime_type(mime))
    }
}

/// An upload whose headers (and form fields) are read and checked; its bytes are not.
pub struct Incoming {
    pub mimetype: String,
    pub cache_control: String,
    pub user_metadata: Option<Value>,
    /// `Content-Length` of the request, recorded in the permission check's row as Storage does.
    pub declared_length: Option<u64>,
    source: Source,
    max_size: u64,
}

enum Source {
    Raw(BodyDataStream),
    /// The file part, and the form it came from (the rest of the body is read through it).
    Part(Box<multer::Field<'static>>, Box<multer::Multipart<'static>>),
}

/// How much of a refused body is read and thrown away before answering: a client still
/// sending when the connection closes sees a broken connection, not the 413 (Node's fetch
/// reports "fetch failed"). Beyond this the connection is dropped, as a server must.
const MAX_DRAIN_BYTES: u64 = 1 << 20;

/// The stored bytes' size and MD5 (Storage's eTag for a single-part object).
#[derive(Debug)]
pub struct Saved {
    pub size: u64,
    pub md5_hex: String,
}

/// Reads the request up to the file's first byte and applies the checks that need no bytes.
pub async fn open(
    headers: &HeaderMap,
    body: Body,
    limits: &Limits,
) -> Result<Incoming, StorageError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let declared_length = header(header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse().ok());
    let content_type = header(header::CONTENT_TYPE.as_str());
    if let Some(boundary) = content_type
        .filter(|ct| ct.starts_with("multipart/form-data"))
        .map(multer::parse_boundary)
    {
        let boundary = boundary.map_err(|e| StorageError::no_content_provided(e.to_string()))?;
        return open_form(body, boundary, limits, declared_length).await;
    }
    let mimetype = content_type
        .unwrap_or("application/octet-stream")
        .to_string();
    check_type(&mimetype, limits)?;
    // A raw body's length is the file's: one over the limit is refused before reading it.
    if declared_length.is_some_and(|n| n > limits.max_size) {
        return Err(StorageError::entity_too_large("object"));
    }
    Ok(Incoming {
        user_metadata: metadata_header(headers),
        mimetype,
        cache_control: header(header::CACHE_CONTROL.as_str())
            .unwrap_or("no-cache")
            .to_string(),
        declared_length,
        source: Source::Raw(body.into_data_stream()),
        max_size: limits.max_size,
    })
}

/// `x-metadata`: the user metadata of a raw upload, base64 JSON; unreadable means none.
pub fn metadata_header(headers: &HeaderMap) -> Option<Value> {
    let m = headers.get("x-metadata")?.to_str().ok()?;
    let json = base64::engine::general_purpose::STANDARD.decode(m).ok()?;
    serde_json::from_slice(&json).ok()
}

fn check_type(mimetype: &str, limits: &Limits) -> Result<(), StorageError> {
    if limits.allowed_mime_types.is_empty() {
        Ok(())
    } else {
        validate_mime_type(mimetype, &limits.allowed_mime_types)
    }
}

fn form_error(e: multer::Error) -> StorageError {
    StorageError::no_content_provided(e.to_string())
}

/// The form's fields up to its first file part, and that part.
async fn open_form(
    body: Body,
    boundary: String,
    limits: &Limits,
    declared_length: Option<u64>,
) -> Result<Incoming, StorageError> {
    let mut form = multer::Multipart::new(body.into_data_stream(), boundary);
    let mut fields: Vec<(String, String)> = Vec::new();
    let file = loop {
        let Some(mut field) = form.next_field().await.map_err(form_error)? else {
            return Err(StorageError::no_content_provided("No content provided"));
        };
        if field.file_name().is_some() {
            break field;
        }
        if fields.len() == MAX_FIELDS {
            return Err(StorageError::no_content_provided("Reach fields limit"));
        }
        let name = field.name().unwrap_or_default().to_string();
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(form_error)? {
            value.extend_from_slice(&chunk);
            if value.len() > MAX_CUSTOM_METADATA_SIZE {
                return Err(StorageError::entity_too_large("user_metadata"));
            }
        }
        fields.push((name, String::from_utf8_lossy(&value).into_owned()));
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    // busboy's default type for a part without one.
    let mimetype = field("contentType")
        .map(str::to_string)
        .or_else(|| file.content_type().map(ToString::to_string))
        .unwrap_or_else(|| "text/plain".to_string());
    check_type(&mimetype, limits)?;
    let user_metadata = field("metadata")
        .or_else(|| field("userMetadata"))
        .and_then(|m| serde_json::from_str(m).ok());
    Ok(Incoming {
        mimetype,
        cache_control: field("cacheControl")
            .map(|t| format!("max-age={t}"))
            .unwrap_or_else(|| "no-cache".to_string()),
        user_metadata,
        declared_length,
        source: Source::Part(Box::new(file), Box::new(form)),
        max_size: limits.max_size,
    })
}

impl Incoming {
    async fn next_chunk(&mut self) -> Option<Result<Bytes, StorageError>> {
        let aborted = |e: String| {
            StorageError::no_content_provided(format!(
                "Request stream closed before upload could complete: {e}"
            ))
        };
        match &mut self.source {
            Source::Raw(stream) => stream
                .next()
                .await
                .map(|r| r.map_err(|e| aborted(e.to_string()))),
            Source::Part(field, _) => field.chunk().await.map_err(form_error).transpose(),
        }
    }

    /// Reads what is left of the body (up to [`MAX_DRAIN_BYTES`]) and keeps none of it.
    async fn drain(mut self) {
        let mut drained = 0u64;
        while let Some(Ok(chunk)) = self.next_chunk().await {
            drained += chunk.len() as u64;
            if drained > MAX_DRAIN_BYTES {
                return;
            }
        }
        // A form's closing boundary (and any part after the file) is read through the form,
        // once the file part is let go.
        if let Source::Part(field, mut form) = self.source {
            drop(field);
            while let Ok(Some(mut next)) = form.next_field().await {
                while let Ok(Some(chunk)) = next.chunk().await {
                    drained += chunk.len() as u64;
                    if drained > MAX_DRAIN_BYTES {
                        return;
                    }
                }
            }
        }
    }

    /// Streams the bytes into `file`. Past the size limit it stops reading and refuses.
    pub async fn save(mut self, file: &mut TempFile) -> Result<Saved, StorageError> {
        let mut size: u64 = 0;
        let mut md5 = Md5::new();
        while let Some(chunk) = self.next_chunk().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            if size > self.max_size {
                self.drain().await;
                return Err(StorageError::entity_too_large("object"));
            }
            md5.update(&chunk);
            file.write(&chunk)
                .await
                .map_err(|e| StorageError::internal(format!("cannot write the upload: {e}")))?;
        }
        let md5_hex = md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Saved { size, md5_hex })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::files::Files;
    use axum::http::HeaderValue;

    #[test]
    fn mime_types_match_exactly_or_by_wildcard() {
        let allowed = vec!["image/*".to_string(), "text/plain".to_string()];
        assert!(validate_mime_type("image/png", &allowed).is_ok());
        assert!(validate_mime_type("text/plain", &allowed).is_ok());
        for bad in ["video/mp4", "text/plain;charset=UTF-8", "text", "imagepng"] {
            let e = validate_mime_type(bad, &allowed).unwrap_err();
            assert_eq!((e.status_code, e.code), (415, "InvalidMimeType"), "{bad}");
            assert_eq!(e.message, format!("mime type {bad} is not supported"));
        }
    }

    #[test]
    fn limits_come_from_the_bucket_under_the_global_one() {
        let bucket = |limit, types: Option<Vec<&str>>| Bucket {
            public: false,
            file_size_limit: limit,
            allowed_mime_types: types.map(|t| t.into_iter().map(String::from).collect()),
        };
        let l = Limits::of(&bucket(Some(10), Some(vec!["image/*"])), "u/a.png");
        assert_eq!((l.max_size, l.allowed_mime_types.len()), (10, 1));
        let l = Limits::of(&bucket(None, None), "u/a.png");
        assert_eq!(l.max_size, GLOBAL_FILE_SIZE_LIMIT);
        let l = Limits::of(
            &bucket(Some(10), Some(vec!["image/*"])),
            "u/.emptyFolderPlaceholder",
        );
        assert_eq!((l.max_size, l.allowed_mime_types.len()), (0, 0));
    }

    /// A storage folder for one test, removed when dropped.
    struct Scratch(std::path::PathBuf, Files);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn scratch() -> Scratch {
        let dir = std::env::temp_dir().join(format!("standin-upload-{}", uuid::Uuid::new_v4()));
        let files = Files::open(&dir).unwrap();
        Scratch(dir, files)
    }

    fn limits(max_size: u64) -> Limits {
        Limits {
            max_size,
            allowed_mime_types: vec!["image/*".into()],
        }
    }

    #[tokio::test]
    async fn raw_bodies_are_typed_by_content_type_and_capped() {
        let scratch = scratch();
        let files = &scratch.1;
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("image/png"));
        headers.insert("cache-control", HeaderValue::from_static("max-age=60"));
        let incoming = open(&headers, Body::from("abc"), &limits(3)).await.unwrap();
        assert_eq!(
            (incoming.mimetype.as_str(), incoming.cache_control.as_str()),
            ("image/png", "max-age=60")
        );
        let mut t = files.temp().await.unwrap();
        let saved = incoming.save(&mut t).await.unwrap();
        assert_eq!(
            (saved.size, saved.md5_hex.as_str()),
            (3, "900150983cd24fb0d6963f7d28e17f72")
        );

        let incoming = open(&headers, Body::from("abcd"), &limits(3))
            .await
            .unwrap();
        let e = incoming
            .save(&mut files.temp().await.unwrap())
            .await
            .unwrap_err();
        assert_eq!((e.status_code, e.code), (413, "EntityTooLarge"));

        headers.insert("content-length", HeaderValue::from_static("4"));
        let e = open(&headers, Body::from("abcd"), &limits(3))
            .await
            .err()
            .unwrap();
        assert_eq!(e.code, "EntityTooLarge");

        headers.insert("content-type", HeaderValue::from_static("video/mp4"));
        let e = open(&headers, Body::from("a"), &limits(3))
            .await
            .err()
            .unwrap();
        assert_eq!(e.code, "InvalidMimeType");
    }

    #[tokio::test]
    async fn forms_carry_fields_then_the_file() {
        let scratch = scratch();
        let files = &scratch.1;
        let form = "--XX\r\nContent-Disposition: form-data; name=\"cacheControl\"\r\n\r\n3600\r\n\
                    --XX\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{\"k\":1}\r\n\
                    --XX\r\nContent-Disposition: form-data; name=\"\"; filename=\"blob\"\r\n\
                    Content-Type: image/png\r\n\r\nPNG!\r\n--XX--\r\n";
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            HeaderValue::from_static("multipart/form-data; boundary=XX"),
        );
        let incoming = open(&headers, Body::from(form), &limits(4)).await.unwrap();
        assert_eq!(incoming.mimetype, "image/png");
        assert_eq!(incoming.cache_control, "max-age=3600");
        assert_eq!(incoming.user_metadata, Some(serde_json::json!({"k": 1})));
        let saved = incoming
            .save(&mut files.temp().await.unwrap())
            .await
            .unwrap();
        assert_eq!(saved.size, 4);

        let e = open(&headers, Body::from(form), &limits(3))
            .await
            .unwrap()
            .save(&mut files.temp().await.unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.code, "EntityTooLarge");

        let no_file =
            "--XX\r\nContent-Disposition: form-data; name=\"cacheControl\"\r\n\r\n1\r\n--XX--\r\n";
        let e = open(&headers, Body::from(no_file), &limits(3))
            .await
            .err()
            .unwrap();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("InvalidRequest", "No content provided")
        );
    }
}
