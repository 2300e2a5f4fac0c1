//! Supabase Storage's object API at `/storage/v1/object/...`, the part storage-js and genbase
//! use, following Supabase Storage's source (github.com/supabase/storage): uploads (plain,
//! upsert, to a signed URL), downloads (authenticated, public, signed), info, list, remove,
//! signed URLs, and the buckets' size and MIME limits, with Storage's error bodies. Object rows
//! live in `storage.objects` and are read and written as the caller's role, so the table's
//! policies decide; the bytes live under `--storage-dir`. See README.md for the differences.

mod auth;
mod cors;
mod db;
mod error;
mod files;
mod manage;
mod read;
mod route;
mod sign;
mod upload;
mod write;

use crate::http::{json_response, unix_now, App};
use crate::request;
use auth::Identity;
use axum::body::Body;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use db::Scope;
use error::StorageError;
use files::Files;
use route::{Access, Route};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

/// The largest JSON body a Storage route reads (Fastify's default `bodyLimit`).
const MAX_JSON_BODY: usize = 1024 * 1024;

/// Storage's state: where the bytes live and the secret signed URLs are signed with.
pub struct Storage {
    files: Files,
    secret: Vec<u8>,
}

impl Storage {
    /// `secret_file` is the `--jwt-secret-file` (already checked by [`crate::keys::Keys`]).
    pub fn open(dir: &Path, secret_file: &Path) -> Result<Storage, String> {
        let secret = std::fs::read_to_string(secret_file)
            .map_err(|e| format!("{}: {e}", secret_file.display()))?;
        Ok(Storage {
            files: Files::open(dir)?,
            secret: secret.trim().as_bytes().to_vec(),
        })
    }
}

/// Serves one request under `/storage/v1`.
pub async fn serve(app: Arc<App>, parts: Parts, body: Body) -> Response {
    let path = parts
        .uri
        .path()
        .strip_prefix("/storage/v1")
        .unwrap_or_default()
        .to_string();
    if app.storage.is_none() {
        return StorageError::not_implemented("Storage without --storage-dir").into_response();
    }
    if parts.method == axum::http::Method::OPTIONS {
        return cors::preflight(&parts.headers);
    }
    let route = route::route(&parts.method, &path);
    let request = db::Request {
        method: parts.method.to_string(),
        path: match parts.uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        },
        headers: request::headers_json(&parts.headers).to_string(),
    };
    let ctx = Ctx {
        app,
        parts,
        request,
        now: unix_now(),
    };
    let result = match route {
        Route::Upload {
            bucket,
            name,
            update,
        } => write::upload(&ctx, bucket, name, update, body).await,
        Route::UploadSigned { bucket, name } => {
            write::upload_signed(&ctx, bucket, name, body).await
        }
        Route::SignUpload { bucket, name } => write::sign_upload(&ctx, &bucket, &name).await,
        Route::Download {
            bucket,
            name,
            access,
        } => read::download(&ctx, &bucket, &name, access).await,
        Route::Head {
            bucket,
            name,
            access,
        } => read::head(&ctx, &bucket, &name, access).await,
        Route::Info {
            bucket,
            name,
            access,
            head,
        } => read::info(&ctx, &bucket, &name, access, head).await,
        Route::GetSigned { bucket, name, head } => read::signed(&ctx, &bucket, &name, head).await,
        Route::Sign { bucket, name } => sign::sign(&ctx, &bucket, &name, body).await,
        Route::SignMany { bucket } => sign::sign_many(&ctx, &bucket, body).await,
        Route::List { bucket } => manage::list(&ctx, &bucket, body).await,
        Route::Remove { bucket, name } => manage::remove(&ctx, &bucket, &name).await,
        Route::RemoveMany { bucket } => manage::remove_many(&ctx, &bucket, body).await,
        Route::Unsupported => Err(StorageError::not_implemented(format!(
            "{} /storage/v1{path} (Storage: only the object API storage-js uses)",
            ctx.parts.method
        ))),
    };
    let mut response = result.unwrap_or_else(|e| {
        if e.http >= 500 && e.http != 501 {
            eprintln!(
                "postgrest-standin: {} {} -> {} {}",
                ctx.parts.method,
                ctx.parts.uri,
                e.http,
                e.body()
            );
        }
        e.into_response()
    });
    cors::allow_any_origin(response.headers_mut());
    response
}

/// One Storage request.
struct Ctx {
    app: Arc<App>,
    parts: Parts,
    request: db::Request,
    now: i64,
}

impl Ctx {
    fn storage(&self) -> &Storage {
        self.app
            .storage
            .as_ref()
            .expect("serve answers 501 without storage")
    }

    fn header(&self, name: &str) -> Option<&str> {
        request::header_str(&self.parts.headers, name)
    }

    /// The first value of query parameter `name`.
    fn query(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.parts.uri.query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    fn caller(&self, access: Access) -> Result<Identity, StorageError> {
        auth::identify(
            self.header(header::AUTHORIZATION.as_str()),
            &self.app.keys,
            access,
            self.now,
        )
    }

    fn scope<'a>(&'a self, identity: &'a Identity, operation: &'static str) -> Scope<'a> {
        Scope {
            identity,
            request: &self.request,
            operation,
        }
    }

    /// The JSON body of a route that takes one (an empty body is `{}`).
    async fn json_body(&self, body: Body) -> Result<Value, StorageError> {
        let bytes = axum::body::to_bytes(body, MAX_JSON_BODY)
            .await
            .map_err(|_| StorageError::entity_too_large("request body"))?;
        if bytes.is_empty() {
            return Ok(Value::Object(Default::default()));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| StorageError::invalid_request(format!("Body is not valid JSON: {e}")))
    }
}

/// Storage's key rule (`mustBeValidKey`): the characters S3 keys take safely.
fn must_be_valid_key(name: &str) -> Result<(), StorageError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_/!.*'() &$=@;:+,?-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(StorageError::invalid_key(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_s3_safe_characters() {
        for ok in ["u/a.png", "a b/(1)!.txt", "x=y@z;w:v+u,t?s-r*q'p&o$n"] {
            assert!(must_be_valid_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "é.png", "a\\b", "a#b", "a%b", "a\"b"] {
            assert_eq!(
                must_be_valid_key(bad).unwrap_err().code,
                "InvalidKey",
                "{bad}"
            );
        }
    }
}
