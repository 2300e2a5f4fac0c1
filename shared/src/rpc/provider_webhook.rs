//! The arguments of `api.handle_provider_webhook`, shared by the two paths that report a
//! prediction's end: the provider's webhook (webhooks function) and the reconciler's look-up
//! (generations function), so both apply it the same way, exactly once per webhook id.

use super::RpcArgs;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderWebhook {
    pub provider: &'static str,
    /// The provider's delivery id, or `poll:<prediction id>` for a reconciler look-up.
    pub webhook_id: String,
    pub prediction_id: String,
    pub status: String,
    /// As the provider sent it: SQL normalizes it by the generation's kind and measures the
    /// usage from it and from `metrics`.
    pub output: Value,
    /// A short text, or null.
    pub error: Value,
    pub metrics: Value,
}

impl RpcArgs for ProviderWebhook {
    const FUNCTION: &'static str = "handle_provider_webhook";
}
