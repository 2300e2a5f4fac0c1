//! What each task type does, from a claimed task to the output that completes it.
//!
//! - `ingest.file`: download the file (`params.input.file`, signed at claim), extract its
//!   text by `params.mime_type`, chunk it by `params.chunk_tokens` / `overlap_tokens`, send
//!   the chunks to be stored and embedded in batches, and complete with
//!   `{chunk_count, extracted_chars}`.
//! - `embed.messages`: one embeddings call that embeds the task's messages; complete with `{}`.
//!
//! Chunking is deterministic, so a retried attempt sends the same chunks under the same
//! indexes, and the API replaces them rather than adding more.

use crate::api::{Api, CallError};
use crate::chunk::{self, Chunk};
use crate::download::download;
use crate::extract;
use crate::heartbeat::Heartbeat;
use serde_json::{json, Value};

pub const INGEST_FILE: &str = "ingest.file";
pub const EMBED_MESSAGES: &str = "embed.messages";

/// The most chunks one embeddings call carries (the API's limit).
pub const BATCH_CHUNKS: usize = 64;
/// The most JSON one embeddings call carries: 64 long chunks of multi-byte text would
/// otherwise be well over a megabyte.
pub const BATCH_BYTES: usize = 512 * 1024;

/// The most chunks a file may have (the API numbers them from 0 to 99,999).
pub const MAX_CHUNKS: usize = 100_000;

/// Why a task did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The file or the account is the problem (unreadable, empty, too large, out of
    /// credits): no retry would help. The reason is shown to the file's owner.
    Final(String),
    /// Something on the way failed (a download, the embeddings after their retries): the
    /// queue tries again later, with its backoff.
    Transient(String),
    /// The task is no longer this worker's: nothing to report.
    LeaseLost,
}

/// What a task runs with.
pub struct Context<'a> {
    pub api: &'a Api,
    pub agent: &'a ureq::Agent,
    pub max_bytes: u64,
    pub heartbeat: &'a Heartbeat,
}

impl Context<'_> {
    /// Stops the work once the lease is gone: another worker may be doing it now.
    fn check_lease(&self) -> Result<(), Failure> {
        if self.heartbeat.lost() {
            return Err(Failure::LeaseLost);
        }
        Ok(())
    }

    fn embed(&self, task_id: &str, body: &Value) -> Result<Value, Failure> {
        self.check_lease()?;
        self.api
            .embeddings(task_id, body)
            .map_err(|e| embeddings_failure(&e))
    }
}

fn embeddings_failure(e: &CallError) -> Failure {
    match e.status {
        Some(402) => Failure::Final("not enough credits to embed the text".into()),
        Some(409) => Failure::LeaseLost,
        _ if e.is_transient() => Failure::Transient(format!("embedding failed: {e}")),
        _ => Failure::Final(format!("embedding was refused: {}", e.message)),
    }
}

pub fn ingest_file(ctx: &Context, task_id: &str, params: &Value) -> Result<Value, Failure> {
    let url = params["input"]["file"]
        .as_str()
        .ok_or_else(|| Failure::Final("the task names no file to read".into()))?;
    let mime_type = params["mime_type"].as_str().unwrap_or_default();
    let bytes = download(ctx.agent, url, ctx.max_bytes)?;
    ctx.check_lease()?;
    let sections =
        extract::extract(mime_type, &bytes).map_err(|unreadable| Failure::Final(unreadable.0))?;
    let chunks = chunk::chunks(&sections, chunk::Size::from_params(params));
    // Refused before any batch is embedded, so no credits go to a file that cannot complete.
    if chunks.len() > MAX_CHUNKS {
        return Err(Failure::Final(format!(
            "the file has too much text to index: it makes {} chunks, and at most {MAX_CHUNKS} are allowed",
            chunks.len()
        )));
    }
    for batch in batches(&chunks) {
        ctx.embed(task_id, &json!({ "chunks": batch }))?;
    }
    Ok(json!({
        "chunk_count": chunks.len(),
        "extracted_chars": extract::char_count(&sections),
    }))
}

pub fn embed_messages(ctx: &Context, task_id: &str) -> Result<Value, Failure> {
    ctx.embed(task_id, &json!({}))?;
    Ok(json!({}))
}

/// Consecutive runs of chunks within [`BATCH_CHUNKS`] and [`BATCH_BYTES`].
fn batches(chunks: &[Chunk]) -> Vec<&[Chunk]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        let size = serde_json::to_vec(chunk).map_or(0, |v| v.len()) + 1;
        if i > start && (i - start == BATCH_CHUNKS || bytes + size > BATCH_BYTES) {
            out.push(&chunks[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < chunks.len() {
        out.push(&chunks[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(index: usize, chars: usize) -> Chunk {
        Chunk {
            index,
            content: "é".repeat(chars),
            page: None,
            heading: None,
        }
    }

    #[test]
    fn batches_hold_at_most_64_chunks_and_512_kib() {
        let small: Vec<Chunk> = (0..130).map(|i| chunk(i, 10)).collect();
        let sizes: Vec<usize> = batches(&small).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, vec![64, 64, 2]);

        // 8000 two-byte characters: 16 KB of JSON each, so 32 fit in 512 KiB and 33 do not.
        let large: Vec<Chunk> = (0..70).map(|i| chunk(i, 8000)).collect();
        let got = batches(&large);
        assert_eq!(
            got.iter().map(|b| b.len()).collect::<Vec<_>>(),
            vec![32, 32, 6]
        );
        let body = serde_json::to_vec(&json!({ "chunks": got[0] })).unwrap();
        assert!(body.len() <= BATCH_BYTES, "{} bytes", body.len());
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn embeddings_answers_map_to_final_transient_or_lost() {
        let e = |status, message: &str| CallError {
            status,
            message: message.into(),
        };
        assert_eq!(
            embeddings_failure(&e(Some(402), "not enough credits")),
            Failure::Final("not enough credits to embed the text".into())
        );
        assert_eq!(
            embeddings_failure(&e(Some(409), "lease lost")),
            Failure::LeaseLost
        );
        assert_eq!(
            embeddings_failure(&e(Some(503), "busy")),
            Failure::Transient("embedding failed: 503 busy".into())
        );
        assert_eq!(
            embeddings_failure(&e(None, "connection refused")),
            Failure::Transient("embedding failed: connection refused".into())
        );
        assert_eq!(
            embeddings_failure(&e(Some(400), "content must be at most 8000 characters")),
            Failure::Final("embedding was refused: content must be at most 8000 characters".into())
        );
    }
}
