//! Replicate's trainings API (HTTP API reference, "trainings.create / get / list / cancel"):
//! a training runs a trainer model's version on the given input and pushes the trained result
//! as a new version of a destination model the caller owns.
//!
//! - `POST /v1/models/{owner}/{name}/versions/{version_id}/trainings`
//!   `{destination, input, webhook?, webhook_events_filter?}`: 201 + the training (`starting`);
//!   `destination` must be `owner/name` (422 otherwise, as Replicate answers a destination it
//!   cannot push to);
//! - `GET /v1/trainings` (newest first, trainings only), `GET /v1/trainings/{id}` (404 for a
//!   prediction's id), `POST /v1/trainings/{id}/cancel`.
//!
//! A training is a prediction of the trainer underneath, so the fake keeps it in the same store
//! and runs it the same way: the markers, the webhooks (the body is the training object), the
//! `Cancel-After` deadline; and, as on Replicate, `GET /v1/predictions/{id}` finds it too. A
//! success's `output` is `{"version": "<destination>:<64 hex>", "weights": "<public
//! url>/files/<id>-0.tar"}`; the weights are a small tar archive (files.rs).

use crate::api::{self, invalid, json_response, not_found, Create, Token};
use crate::{runner, App};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// `POST /v1/models/{owner}/{name}/versions/{version_id}/trainings`.
pub(crate) async fn create(
    State(app): State<Arc<App>>,
    Extension(token): Extension<Token>,
    Path((owner, name, version)): Path<(String, String, String)>,
    headers: HeaderMap,
    create: Create,
) -> Response {
    let destination = match create.raw.get("destination") {
        Some(Value::String(d)) if is_model_name(d) => d.clone(),
        Some(Value::String(d)) => {
            return invalid(format!(
                "destination: {d:?} is not a model you can push to (owner/name)."
            ))
            .into_response()
        }
        Some(_) => return invalid("destination: Invalid type. Expected: string.").into_response(),
        None => return invalid("destination is required.").into_response(),
    };
    let model = format!("{owner}/{name}");
    let endpoint = format!("POST /v1/models/{model}/versions/{version}/trainings");
    api::create_prediction(
        app,
        token,
        &headers,
        endpoint,
        model,
        version,
        create,
        Some(destination),
    )
    .await
}

/// `owner/name`, each part as Replicate names accounts and models.
fn is_model_name(s: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!(s.split_once('/'), Some((owner, name)) if part(owner) && part(name))
}

pub async fn list(State(app): State<Arc<App>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "next": null, "previous": null, "results": app.store.list(true) }),
    )
}

pub async fn get(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match app.store.get_training(&id) {
        Some(t) => json_response(StatusCode::OK, &t),
        None => not_found(),
    }
}

pub async fn cancel(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    if app.store.get_training(&id).is_none() {
        return not_found();
    }
    match runner::cancel(&app.store, &id) {
        Some(t) => json_response(StatusCode::OK, &t),
        None => not_found(),
    }
}

/// A successful training's output: the new version of the destination (a hash derived from the
/// training id, so it is stable) and the URL of its weights.
pub fn trained(base: &str, id: &str, destination: &str) -> Value {
    let hash: String = Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    json!({
        "version": format!("{destination}:{hash}"),
        "weights": format!("{base}/files/{id}-0.tar"),
    })
}

/// The weights file: a ustar archive holding one small `lora.safetensors`, as trainers ship
/// theirs (`trained_model.tar`).
pub fn weights_tar() -> Vec<u8> {
    let content = b"fake-replicate LoRA weights\n";
    let mut header = [0u8; 512];
    let mut put = |at: usize, field: &[u8]| header[at..at + field.len()].copy_from_slice(field);
    put(0, b"lora.safetensors");
    put(100, b"0000644\0");
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{:011o}\0", content.len()).as_bytes());
    put(136, b"00000000000\0");
    put(156, b"0");
    put(257, b"ustar\0");
    put(263, b"00");
    // The checksum counts its own field as spaces.
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());

    let mut tar = header.to_vec();
    tar.extend_from_slice(content);
    tar.resize(512 + content.len().div_ceil(512) * 512, 0);
    // Two zero blocks end the archive.
    tar.resize(tar.len() + 1024, 0);
    tar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_owner_slash_name() {
        assert!(is_model_name("genbase/loras"));
        assert!(is_model_name("acme-co/my_model.v2"));
        for bad in ["loras", "/loras", "genbase/", "a/b/c", "gen base/loras", ""] {
            assert!(!is_model_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_trained_version_belongs_to_the_destination() {
        let out = trained("http://h", "abc", "genbase/loras");
        let version = out["version"].as_str().unwrap();
        let (model, hash) = version.split_once(':').unwrap();
        assert_eq!(model, "genbase/loras");
        assert_eq!(hash.len(), 64);
        assert_eq!(out, trained("http://h", "abc", "genbase/loras"), "stable");
        assert_eq!(out["weights"], "http://h/files/abc-0.tar");
    }

    #[test]
    fn the_weights_are_a_well_formed_tar() {
        let tar = weights_tar();
        assert_eq!(tar.len() % 512, 0);
        assert_eq!(&tar[257..263], b"ustar\0");
        let stored: u32 =
            u32::from_str_radix(std::str::from_utf8(&tar[148..154]).unwrap().trim(), 8).unwrap();
        let mut header = tar[..512].to_vec();
        header[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, header.iter().map(|&b| u32::from(b)).sum::<u32>());
        assert!(tar[tar.len() - 1024..].iter().all(|&b| b == 0));
    }
}
