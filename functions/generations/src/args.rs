//! The generations function's RPC arguments and the enums its input is checked against.

use genbase_shared::error::ApiError;
use genbase_shared::keyset::NewestFirstArgs;
use genbase_shared::rpc::RpcArgs;
use genbase_shared::validate::{Id, IdempotencyKey, Prompt, ShortText};
use serde::Serialize;
use serde_json::{Map, Value};

/// Declares a closed set of names that SQL also checks (`generations.kind`, `.status`), so a
/// bad one is refused before any network hop with the same message SQL gives.
macro_rules! names {
    ($(#[$meta:meta])* $name:ident ($field:literal) { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub fn parse(value: &str) -> Result<$name, ApiError> {
                match value {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ApiError::validation(concat!(
                        $field, " must be one of ", names!(@list $($text),+)
                    ))),
                }
            }
        }
    };
    (@list $first:literal $(, $rest:literal)*) => { concat!($first $(, ", ", $rest)*) };
}

names! {
    /// What a generation produces (`public.generations.kind`).
    GenerationKind("kind") {
        Image = "image", Video = "video", Audio = "audio", Music = "music", Text = "text", Tts = "tts",
    }
}

names! {
    /// Where a generation is in its life (`public.generations.status`).
    GenerationStatus("status") {
        Queued = "queued", Processing = "processing", Succeeded = "succeeded",
        Failed = "failed", Canceled = "canceled",
    }
}

/// `api.create_generation`: reserve and record in one transaction. `params` go as sent: SQL
/// checks them against the model's declared parameters and derives the units from them.
#[derive(Debug, PartialEq, Serialize)]
pub struct CreateGeneration {
    pub kind: GenerationKind,
    pub model: ShortText,
    pub prompt: Prompt,
    pub params: Map<String, Value>,
    pub idempotency_key: Option<IdempotencyKey>,
    /// The workspace that pays and sees it; SQL checks the caller may spend there.
    pub workspace_id: Option<Id>,
}

impl RpcArgs for CreateGeneration {
    const FUNCTION: &'static str = "create_generation";
}

/// `api.get_generation`.
#[derive(Serialize)]
pub struct GetGeneration {
    pub id: Id,
}

impl RpcArgs for GetGeneration {
    const FUNCTION: &'static str = "get_generation";
}

/// `api.cancel_generation`.
#[derive(Serialize)]
pub struct CancelGeneration {
    pub id: Id,
}

impl RpcArgs for CancelGeneration {
    const FUNCTION: &'static str = "cancel_generation";
}

/// `api.list_generations`: newest first, id to break ties.
#[derive(Debug, Serialize)]
pub struct ListGenerations {
    pub kind: Option<GenerationKind>,
    pub status: Option<GenerationStatus>,
    /// The workspace's generations instead of the caller's; SQL checks membership.
    pub workspace_id: Option<Id>,
    #[serde(flatten)]
    pub page: NewestFirstArgs,
}

impl RpcArgs for ListGenerations {
    const FUNCTION: &'static str = "list_generations";
}

/// `api.mark_generation_submitted`: the provider accepted it under `prediction_id`.
#[derive(Serialize)]
pub struct MarkSubmitted<'a> {
    pub generation_id: &'a str,
    pub provider: &'static str,
    pub prediction_id: &'a str,
}

impl RpcArgs for MarkSubmitted<'_> {
    const FUNCTION: &'static str = "mark_generation_submitted";
}

/// `api.fail_generation_submission`: it never reached the provider; the hold is released.
#[derive(Serialize)]
pub struct FailSubmission<'a> {
    pub generation_id: &'a str,
    pub error: &'a str,
}

impl RpcArgs for FailSubmission<'_> {
    const FUNCTION: &'static str = "fail_generation_submission";
}

/// `api.reconcile_candidates`: SQL picks and stamps the generations a run looks at.
#[derive(Serialize)]
pub struct ReconcileCandidates {
    pub limit: u32,
}

impl RpcArgs for ReconcileCandidates {
    const FUNCTION: &'static str = "reconcile_candidates";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_statuses_are_sqls_names() {
        assert_eq!(GenerationKind::parse("tts"), Ok(GenerationKind::Tts));
        assert_eq!(
            serde_json::to_value(GenerationKind::Image).unwrap(),
            "image"
        );
        assert_eq!(
            serde_json::to_value(GenerationStatus::Canceled).unwrap(),
            "canceled"
        );
        let err = GenerationKind::parse("Image").unwrap_err();
        assert_eq!(
            (err.status, err.message.as_str()),
            (
                400,
                "kind must be one of image, video, audio, music, text, tts"
            )
        );
        let err = GenerationStatus::parse("done").unwrap_err();
        assert_eq!(
            err.message,
            "status must be one of queued, processing, succeeded, failed, canceled"
        );
    }
}
