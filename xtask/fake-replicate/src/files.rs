//! `GET /files/{name}`: the output files the fake's predictions point at, so output URLs resolve
//! for code that downloads, stores or sniffs them.

use crate::api::not_found;
use crate::runner;
use crate::App;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;

/// Serves `<prediction id>-<n>.<ext>` for predictions that succeeded: a 1x1 PNG, an empty WAV or
/// a bare MP4 header, and a training's weights (a small tar). Enough for code that downloads or sniffs outputs; nothing renders them.
/// Like Replicate's, the files are gone (404) once `--files-expire-ms` has passed since the
/// prediction completed. A `[flakyfiles]` prediction's first downloads are answered 503.
pub async fn file(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return not_found();
    };
    let Some((id, n)) = stem.rsplit_once('-') else {
        return not_found();
    };
    let expire = app.config.files_expire;
    let mut flaky = false;
    let known = app
        .store
        .update(id, |p, base| {
            p.file_fetches += 1;
            flaky = runner::has_marker(&p.input, "[flakyfiles]")
                && p.file_fetches <= runner::FLAKY_FILE_FETCHES;
            let fresh = !p.files_expired
                && p.completed_at
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age < expire);
            let json = p.to_json(base);
            fresh
                && json["status"] == "succeeded"
                && n.parse::<usize>()
                    .is_ok_and(|i| i < output_files(&json["output"]))
        })
        .unwrap_or(false);
    if !known {
        return not_found();
    }
    if flaky {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let (content_type, bytes): (&str, Vec<u8>) = match ext {
        "png" => ("image/png", PNG_1X1.to_vec()),
        "wav" => ("audio/wav", empty_wav()),
        "mp4" => ("video/mp4", MP4_FTYP.to_vec()),
        "tar" => ("application/x-tar", crate::trainings::weights_tar()),
        _ => return not_found(),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        bytes,
    )
        .into_response()
}

/// How many files an output names: a prediction's list of URLs, or a training's one weights
/// file.
fn output_files(output: &Value) -> usize {
    match output {
        Value::Array(urls) => urls.len(),
        Value::Object(o) if o.get("weights").is_some_and(Value::is_string) => 1,
        _ => 0,
    }
}

/// A valid 1x1 transparent PNG.
const PNG_1X1: [u8; 67] = [
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

/// An MP4 `ftyp` box: what file sniffers look at.
const MP4_FTYP: [u8; 24] = *b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41";

/// A RIFF/WAVE header for 16-bit mono 16 kHz PCM with no samples.
fn empty_wav() -> Vec<u8> {
    let mut w = Vec::with_capacity(44);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&36u32.to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&16_000u32.to_le_bytes()); // sample rate
    w.extend_from_slice(&32_000u32.to_le_bytes()); // byte rate
    w.extend_from_slice(&2u16.to_le_bytes()); // block align
    w.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    w.extend_from_slice(b"data");
    w.extend_from_slice(&0u32.to_le_bytes());
    w
}
