//! Storage jobs: copying a provider's outputs into the private `generations` bucket, and
//! removing the files of deleted generations. SQL leases the jobs (queue tasks
//! `storage.persist` and `storage.remove`, with the queue's retries and backoff: see
//! migration 20261122000705_stored_outputs.sql); this runs them.
//!
//! A copy is streamed from the provider into Storage (`Deps::copy`). The rules are not
//! this code's: SQL names the path for the type the source declares and refuses a type the
//! kind does not store (`storage_job_paths`), and Storage refuses a file over the bucket's
//! limit (early from its declared length, or once the body grows past it). An upload
//! replaces what is there, so a retried copy rewrites the same objects: one object per
//! output, however many attempts it took. The settlement is not touched: it happened when
//! the generation succeeded.
//!
//! Runs right after a provider's success webhook is answered, for that generation (the
//! webhooks function), and on the media function's Cron Trigger and `POST
//! /v1/admin/storage-jobs` for everything due (an admin's token for the claim, which SQL
//! checks; the local sweeper uses this route). Whichever claims a job first runs it.

use crate::deps::{CopyError, Deps, Outbound, SourceHead};
use crate::error::ApiError;
use crate::rpc::{Rpc, RpcArgs, RpcAuth};
use crate::storage;
use serde::Serialize;
use serde_json::{json, Value};

/// Jobs per claim: a copy is two subrequests and a few RPCs.
const BATCH: u32 = 10;
/// A run claims again while its batches come back full, up to this many jobs: an
/// invocation has a subrequest budget (1,000 on Workers Paid), and a Cron Trigger that
/// leaves work over is followed by another a minute later.
const MAX_JOBS_PER_RUN: usize = 100;
/// Long enough for a large video to stream through; an expired lease is retried.
const LEASE_SECONDS: u32 = 300;

#[derive(Serialize)]
struct Claim<'a> {
    limit: u32,
    lease_seconds: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation_id: Option<&'a str>,
}

impl RpcArgs for Claim<'_> {
    const FUNCTION: &'static str = "claim_storage_jobs";
}

#[derive(Serialize)]
struct Paths<'a> {
    task_id: &'a str,
    content_types: &'a [String],
}

impl RpcArgs for Paths<'_> {
    const FUNCTION: &'static str = "storage_job_paths";
}

#[derive(Serialize)]
struct Complete<'a> {
    task_id: &'a str,
    files: Value,
}

impl RpcArgs for Complete<'_> {
    const FUNCTION: &'static str = "complete_storage_job";
}

#[derive(Serialize)]
struct Fail<'a> {
    task_id: &'a str,
    error: &'a str,
    retryable: bool,
}

impl RpcArgs for Fail<'_> {
    const FUNCTION: &'static str = "fail_storage_job";
}

/// Why a job did not finish, and whether the queue should try it again.
struct Failure {
    message: String,
    retryable: bool,
}

impl From<CopyError> for Failure {
    fn from(e: CopyError) -> Failure {
        match e {
            CopyError::Fetch(m) => Failure {
                message: format!("fetching the output: {m}"),
                retryable: true,
            },
            CopyError::Upload(m) => Failure {
                message: format!("uploading the output: {m}"),
                retryable: true,
            },
            CopyError::Refused { message, retryable } => Failure { message, retryable },
        }
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure {
            retryable: e.is_server_error(),
            message: e.cause.unwrap_or(e.message),
        }
    }
}

/// The Cron Trigger's job.
pub async fn scheduled(deps: &impl Deps) -> Result<Value, ApiError> {
    run(deps, &RpcAuth::ServiceRole, None).await
}

/// What a run did.
#[derive(Default)]
struct Tally {
    claimed: usize,
    stored: u32,
    removed: u32,
    retried: u32,
    failed: u32,
}

/// One run: claims jobs as `auth` (only `generation_id`'s, if given) while batches come
/// back full, runs each, and reports its outcome to SQL as the service role. Returns a
/// summary.
pub async fn run(
    deps: &impl Deps,
    auth: &RpcAuth,
    generation_id: Option<&str>,
) -> Result<Value, ApiError> {
    let mut tally = Tally::default();
    while tally.claimed < MAX_JOBS_PER_RUN {
        let claim = Claim {
            limit: BATCH,
            lease_seconds: LEASE_SECONDS,
            generation_id,
        };
        let jobs = deps.rpc().invoke(&claim, auth).await?;
        let jobs = jobs.as_array().cloned().unwrap_or_default();
        tally.claimed += jobs.len();
        for job in &jobs {
            run_job(deps, job, &mut tally).await?;
        }
        if jobs.len() < BATCH as usize {
            break;
        }
    }
    Ok(json!({
        "claimed": tally.claimed, "stored": tally.stored, "removed": tally.removed,
        "retried": tally.retried, "failed": tally.failed,
    }))
}

async fn run_job(deps: &impl Deps, job: &Value, tally: &mut Tally) -> Result<(), ApiError> {
    let task_id = job["id"].as_str().unwrap_or_default();
    let outcome = match job["task_type"].as_str() {
        Some("storage.persist") => persist(deps, job).await,
        Some("storage.remove") => remove(deps, job).await.map(|()| Value::Null),
        other => Err(Failure {
            message: format!("unknown storage job {other:?}"),
            retryable: false,
        }),
    };
    let service = RpcAuth::ServiceRole;
    // SQL checks what was stored (each file there, of the right type) before recording
    // it; a refusal there fails the job like a failed copy.
    let outcome = match outcome {
        Ok(files) => {
            let done = Complete { task_id, files };
            deps.rpc()
                .invoke(&done, &service)
                .await
                .map_err(Failure::from)
        }
        Err(f) => Err(f),
    };
    match outcome {
        Ok(_) if job["task_type"] == "storage.remove" => tally.removed += 1,
        Ok(_) => tally.stored += 1,
        Err(f) => {
            let fail = Fail {
                task_id,
                error: &f.message,
                retryable: f.retryable,
            };
            // A lost lease (409) means the sweeper gave the job back: not ours to fail.
            match deps.rpc().invoke(&fail, &service).await {
                Ok(after) if after["status"] == "queued" => tally.retried += 1,
                Ok(_) => tally.failed += 1,
                Err(e) if e.status == 409 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Copies every source of a persist job, in order; returns the files as SQL records them.
async fn persist(deps: &impl Deps, job: &Value) -> Result<Value, Failure> {
    let task_id = job["id"].as_str().unwrap_or_default();
    // SQL names the bucket by the generation's kind: a training run's weights go to its
    // LoRA's bucket (lora-models), everything else to `generations`.
    let bucket = job["bucket"]
        .as_str()
        .unwrap_or(storage::GENERATIONS_BUCKET);
    let sources = job["sources"].as_array().cloned().unwrap_or_default();
    let mut types: Vec<String> = Vec::new();
    let mut files = Vec::new();
    for source in &sources {
        let Some(url) = source.as_str() else {
            return Err(Failure {
                message: "an output is not a URL".into(),
                retryable: false,
            });
        };
        // Where this output went and as what, once the source's head has said.
        let mut named: Option<(String, String)> = None;
        let slot = &mut named;
        let so_far = &types;
        let upload = |head: SourceHead| async move {
            let content_type = check_source(&head)?;
            let mut content_types = so_far.clone();
            content_types.push(content_type.clone());
            let paths = Paths {
                task_id,
                content_types: &content_types,
            };
            let answer = deps
                .rpc()
                .invoke(&paths, &RpcAuth::ServiceRole)
                .await
                .map_err(|e| CopyError::Refused {
                    retryable: e.is_server_error(),
                    message: e.cause.unwrap_or(e.message),
                })?;
            // SQL's own reading of the type (parameters dropped) is what Storage records.
            let named = &answer[content_types.len() - 1];
            let text = |key: &str| named[key].as_str().unwrap_or_default().to_string();
            let (path, content_type) = (text("path"), text("content_type"));
            let req = upload_request(deps, bucket, &path, &content_type, &head)?;
            *slot = Some((path, content_type));
            Ok(req)
        };
        let answer = deps.copy(url, upload).await?;
        if !(200..300).contains(&answer.status) {
            return Err(Failure {
                message: format!(
                    "storage refused the upload: {} {}",
                    answer.status,
                    answer.body.chars().take(300).collect::<String>()
                ),
                // Storage's own limits (size, type) would refuse it again.
                retryable: answer.status >= 500 || answer.status == 429,
            });
        }
        let (path, content_type) = named.unwrap_or_default();
        types.push(content_type);
        files.push(json!({ "path": path }));
    }
    Ok(Value::Array(files))
}

/// The source must have answered with a file; returns the content type it declares (SQL
/// judges it).
fn check_source(head: &SourceHead) -> Result<String, CopyError> {
    if head.status != 200 {
        return Err(CopyError::Refused {
            message: format!("the provider answered {} for an output", head.status),
            // Gone (404, 410) stays gone; anything else may pass.
            retryable: !matches!(head.status, 404 | 410),
        });
    }
    Ok(head.content_type.clone().unwrap_or_default())
}

/// The upload of one output: Storage's object API as the service role, replacing what a
/// previous attempt left.
fn upload_request(
    deps: &impl Deps,
    bucket: &str,
    path: &str,
    content_type: &str,
    head: &SourceHead,
) -> Result<Outbound, CopyError> {
    let refused = |e: ApiError| CopyError::Refused {
        message: e.cause.unwrap_or(e.message),
        retryable: false,
    };
    let mut headers = storage::auth_headers(deps, &RpcAuth::ServiceRole).map_err(refused)?;
    headers.push(("content-type".into(), content_type.into()));
    headers.push(("x-upsert".into(), "true".into()));
    if let Some(len) = head.content_length {
        headers.push(("content-length".into(), len.to_string()));
    }
    Ok(Outbound {
        method: "POST",
        url: format!(
            "{}/object/{bucket}/{path}",
            storage::base_url(deps).map_err(refused)?
        ),
        headers,
        body: None,
    })
}

/// Removes the files of a deleted generation. Already gone counts as removed.
async fn remove(deps: &impl Deps, job: &Value) -> Result<(), Failure> {
    let bucket = job["bucket"]
        .as_str()
        .unwrap_or(storage::GENERATIONS_BUCKET);
    let mut headers = storage::auth_headers(deps, &RpcAuth::ServiceRole)?;
    headers.push(("content-type".into(), "application/json".into()));
    let answer = deps
        .send(Outbound {
            method: "DELETE",
            url: format!("{}/object/{bucket}", storage::base_url(deps)?),
            headers,
            body: Some(json!({ "prefixes": job["paths"] }).to_string()),
        })
        .await
        .map_err(|m| Failure {
            message: format!("removing files: {m}"),
            retryable: true,
        })?;
    if (200..300).contains(&answer.status) {
        Ok(())
    } else {
        Err(Failure {
            message: format!("storage refused the removal: {}", answer.status),
            retryable: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deps::Inbound;
    use crate::testing::{block_on, ScriptedDeps};

    fn persist_job(sources: &[&str]) -> Value {
        json!([{"id": "t1", "task_type": "storage.persist", "attempt": 1, "generation_id": "g1",
                "sources": sources, "bucket": "generations"}])
    }

    fn deps() -> ScriptedDeps {
        ScriptedDeps::default()
            .var("SUPABASE_URL", "http://sb.test")
            .var("SUPABASE_SERVICE_ROLE_KEY", "svc")
    }

    fn png(len: u64) -> Result<SourceHead, String> {
        Ok(SourceHead {
            status: 200,
            content_type: Some("image/png; charset=binary".into()),
            content_length: Some(len),
        })
    }

    fn stored() -> Result<Inbound, String> {
        Ok(Inbound {
            status: 200,
            body: "{}".into(),
        })
    }

    #[test]
    fn every_output_is_streamed_to_the_path_sql_names_and_recorded_in_order() {
        let deps = deps()
            .answer(
                "claim_storage_jobs",
                Ok(persist_job(&["http://p/a", "http://p/b"])),
            )
            .source(png(10))
            .answer(
                "storage_job_paths",
                Ok(json!([{"path": "u1/g1/0.png", "content_type": "image/png"}])),
            )
            .http(stored())
            .source(png(20))
            .answer(
                "storage_job_paths",
                Ok(json!([
                    {"path": "u1/g1/0.png", "content_type": "image/png"},
                    {"path": "u1/g1/1.png", "content_type": "image/png"},
                ])),
            )
            .http(stored())
            .answer("complete_storage_job", Ok(json!({"status": "succeeded"})));
        let summary = block_on(run(&deps, &RpcAuth::ServiceRole, None)).unwrap();
        assert_eq!(summary["stored"], 1, "{summary}");
        let calls = deps.upstream.calls.borrow();
        assert_eq!(
            calls[2].1["p_content_types"],
            json!(["image/png", "image/png; charset=binary"]),
            "the types stored so far as SQL read them, then what this source declared"
        );
        let (name, args, auth) = &calls[3];
        assert_eq!(name, "complete_storage_job");
        assert_eq!(
            args["p_files"],
            json!([{"path": "u1/g1/0.png"}, {"path": "u1/g1/1.png"}])
        );
        assert_eq!(*auth, RpcAuth::ServiceRole);
        let sent = deps.sent.borrow();
        assert_eq!(sent[0].url, "http://p/a");
        assert_eq!(
            sent[1].url,
            "http://sb.test/storage/v1/object/generations/u1/g1/0.png"
        );
        assert!(sent[1]
            .headers
            .contains(&("x-upsert".into(), "true".into())));
        assert!(sent[1]
            .headers
            .contains(&("content-type".into(), "image/png".into())));
    }

    #[test]
    fn a_gone_source_or_a_type_sql_refuses_fails_for_good_without_an_upload() {
        let gone = deps()
            .answer("claim_storage_jobs", Ok(persist_job(&["http://p/a"])))
            .source(Ok(SourceHead {
                status: 404,
                content_type: None,
                content_length: None,
            }))
            .answer("fail_storage_job", Ok(json!({"status": "failed"})));
        let html = deps()
            .answer("claim_storage_jobs", Ok(persist_job(&["http://p/a"])))
            .source(Ok(SourceHead {
                status: 200,
                content_type: Some("text/html".into()),
                content_length: None,
            }))
            .answer(
                "storage_job_paths",
                Err(ApiError::validation(
                    "content_types[0]: a image generation stores image/* files",
                )),
            )
            .answer("fail_storage_job", Ok(json!({"status": "failed"})));
        for deps in [gone, html] {
            let summary = block_on(run(&deps, &RpcAuth::ServiceRole, None)).unwrap();
            assert_eq!(summary["failed"], 1, "{summary}");
            let calls = deps.upstream.calls.borrow();
            let (name, args, _) = calls.last().unwrap();
            assert_eq!(name, "fail_storage_job");
            assert_eq!(args["p_retryable"], false);
            assert_eq!(deps.sent.borrow().len(), 1, "only the source was fetched");
        }
    }

    #[test]
    fn an_unreachable_source_or_a_failing_upload_is_retried() {
        let deps = deps()
            .answer(
                "claim_storage_jobs",
                Ok(json!([
                    persist_job(&["http://p/a"])[0].clone(),
                    {"id": "t2", "task_type": "storage.persist", "sources": ["http://p/b"]},
                ])),
            )
            .source(Err("connection reset".into()))
            .answer("fail_storage_job", Ok(json!({"status": "queued"})))
            .source(png(10))
            .answer("storage_job_paths", Ok(json!([{"path": "u1/g2/0.png"}])))
            .http(Ok(Inbound {
                status: 503,
                body: "{}".into(),
            }))
            .answer("fail_storage_job", Ok(json!({"status": "queued"})));
        let summary = block_on(run(&deps, &RpcAuth::ServiceRole, None)).unwrap();
        assert_eq!(summary["retried"], 2, "{summary}");
        let calls = deps.upstream.calls.borrow();
        assert_eq!(calls[1].1["p_retryable"], true);
        assert_eq!(calls[3].1["p_retryable"], true);
    }

    #[test]
    fn a_removal_deletes_the_paths_in_one_request() {
        let deps = deps()
            .answer(
                "claim_storage_jobs",
                Ok(
                    json!([{"id": "t3", "task_type": "storage.remove", "bucket": "generations",
                           "paths": ["u1/g1/0.png"]}]),
                ),
            )
            .http(stored())
            .answer("complete_storage_job", Ok(json!({"status": "succeeded"})));
        let summary = block_on(run(&deps, &RpcAuth::ServiceRole, None)).unwrap();
        assert_eq!(summary["removed"], 1, "{summary}");
        let sent = deps.sent.borrow();
        assert_eq!(sent[0].method, "DELETE");
        assert_eq!(sent[0].url, "http://sb.test/storage/v1/object/generations");
        assert_eq!(
            sent[0].body.as_deref(),
            Some(r#"{"prefixes":["u1/g1/0.png"]}"#)
        );
    }

    #[test]
    fn a_run_claims_again_while_batches_come_back_full_and_can_keep_to_one_generation() {
        let removal = |i: usize| {
            json!({"id": format!("t{i}"), "task_type": "storage.remove", "bucket": "generations",
                   "paths": [format!("u1/g{i}/0.png")]})
        };
        let mut deps = deps().answer(
            "claim_storage_jobs",
            Ok(Value::Array((0..BATCH as usize).map(removal).collect())),
        );
        for _ in 0..BATCH {
            deps = deps
                .http(stored())
                .answer("complete_storage_job", Ok(json!({"status": "succeeded"})));
        }
        let deps = deps.answer("claim_storage_jobs", Ok(json!([])));
        let summary = block_on(run(&deps, &RpcAuth::ServiceRole, Some("g1"))).unwrap();
        assert_eq!(summary["removed"], BATCH, "{summary}");
        let calls = deps.upstream.calls.borrow();
        let claims: Vec<_> = calls
            .iter()
            .filter(|(name, ..)| name == "claim_storage_jobs")
            .collect();
        assert_eq!(claims.len(), 2, "a full batch is followed by another claim");
        assert_eq!(claims[0].1["p_generation_id"], "g1");
    }
}
