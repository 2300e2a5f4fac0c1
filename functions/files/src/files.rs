//! `POST /v1/files` registers one of the caller's uploads as a document (SQL checks it is
//! theirs, arrived, of a type `file_type_configs` accepts and within its size, and queues
//! its ingestion); list, get and delete follow. The file's `status` says where ingestion is:
//! pending, processing, completed, or failed with an `error` the user can read.

use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse, Params};
use genbase_shared::keyset::{self, NewestFirst, NewestFirstArgs};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::Id;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    upload_id: String,
    /// A display name; the upload's filename when absent.
    name: Option<String>,
}

/// `api.create_file`.
#[derive(Serialize)]
struct CreateFile {
    upload_id: Id,
    name: Option<String>,
}

impl RpcArgs for CreateFile {
    const FUNCTION: &'static str = "create_file";
}

/// `api.list_files`, newest first.
#[derive(Serialize)]
struct ListFiles<'q> {
    status: Option<&'q str>,
    #[serde(flatten)]
    page: NewestFirstArgs,
}

impl RpcArgs for ListFiles<'_> {
    const FUNCTION: &'static str = "list_files";
}

#[derive(Serialize)]
struct GetFile {
    id: Id,
}

impl RpcArgs for GetFile {
    const FUNCTION: &'static str = "get_file";
}

#[derive(Serialize)]
struct DeleteFile {
    id: Id,
}

impl RpcArgs for DeleteFile {
    const FUNCTION: &'static str = "delete_file";
}

/// 201 with the file, `pending` until the ingest worker takes it.
pub async fn create(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let body: CreateBody = req.json_body()?;
    let args = CreateFile {
        upload_id: Id::parse("upload_id", &body.upload_id)?,
        name: body.name,
    };
    Ok(ApiResponse::created(
        deps.rpc().invoke(&args, &caller.auth).await?,
    ))
}

/// `?status=&cursor=&limit=`: `{items, next_cursor}`; SQL checks the status.
pub async fn list(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
) -> Result<ApiResponse, ApiError> {
    let params = Params::new(&req.query, &["status", "cursor", "limit"])?;
    let args = ListFiles {
        status: params.get("status"),
        page: NewestFirstArgs::parse(params.get("cursor"), params.get("limit"))?,
    };
    let page = keyset::fetch::<_, NewestFirst>(deps, &args, &caller.auth).await?;
    keyset::page_response(page)
}

pub async fn get(deps: &impl Deps, caller: &Caller, id: Id) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::ok(
        deps.rpc().invoke(&GetFile { id }, &caller.auth).await?,
    ))
}

/// 204: the file is gone from lists and search at once; its chunks are deleted with it and
/// its stored object is removed by a storage job.
pub async fn delete(deps: &impl Deps, caller: &Caller, id: Id) -> Result<ApiResponse, ApiError> {
    deps.rpc().invoke(&DeleteFile { id }, &caller.auth).await?;
    Ok(ApiResponse::no_content())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle;
    use genbase_shared::rpc::RpcAuth;
    use genbase_shared::testing::{block_on, ScriptedDeps};
    use serde_json::json;

    const UPLOAD: &str = "a0000000-0000-4000-8000-000000000001";

    fn run(
        deps: &ScriptedDeps,
        method: &str,
        path: &str,
        body: &str,
    ) -> Result<ApiResponse, ApiError> {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut req = ScriptedDeps::request(method, path, body, &[]);
        req.query = genbase_shared::http::parse_query(query);
        block_on(handle(&req, deps))
    }

    #[test]
    fn a_file_is_registered_as_the_user() {
        let deps = ScriptedDeps::default()
            .answer("create_file", Ok(json!({"id": "f1", "status": "pending"})));
        let r = run(
            &deps,
            "POST",
            "/v1/files",
            &json!({"upload_id": UPLOAD, "name": "notes.md"}).to_string(),
        )
        .unwrap();
        assert_eq!(r.status, 201);
        let calls = deps.upstream.calls.borrow();
        assert_eq!(
            calls[0].1,
            json!({"p_upload_id": UPLOAD, "p_name": "notes.md"})
        );
        assert!(matches!(calls[0].2, RpcAuth::User(_)));
    }

    #[test]
    fn bad_bodies_and_queries_reach_no_rpc() {
        for (method, path, body) in [
            ("POST", "/v1/files", r#"{"upload_id": "nope"}"#),
            (
                "POST",
                "/v1/files",
                r#"{"upload_id": "a0000000-0000-4000-8000-000000000001", "size": 1}"#,
            ),
            ("GET", "/v1/files?state=done", ""),
            ("GET", "/v1/files?limit=0", ""),
            ("GET", "/v1/files/not-an-id", ""),
        ] {
            let deps = ScriptedDeps::default();
            let e = run(&deps, method, path, body)
                .err()
                .unwrap_or_else(|| panic!("{path} {body}"));
            assert_eq!(e.status, 400, "{path} {body}: {e}");
            assert!(deps.called().is_empty());
        }
    }

    #[test]
    fn a_list_passes_its_status_and_cursor() {
        let deps = ScriptedDeps::default()
            .answer("list_files", Ok(json!({"items": [], "next_cursor": null})));
        let r = run(&deps, "GET", "/v1/files?status=failed&limit=5", "").unwrap();
        assert_eq!(r.body.unwrap(), json!({"items": [], "next_cursor": null}));
        assert_eq!(
            deps.upstream.calls.borrow()[0].1,
            json!({"p_status": "failed", "p_limit": 5, "p_cursor_created_at": null, "p_cursor_id": null})
        );
    }
}
