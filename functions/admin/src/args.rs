//! The admin RPCs' arguments, validated from the request bodies.

use genbase_shared::error::ApiError;
use genbase_shared::limits;
use genbase_shared::rpc::RpcArgs;
use genbase_shared::validate::{Id, IdempotencyKey, ShortText};
use serde::{Deserialize, Serialize};

/// `POST /v1/admin/credits` body. `kind` stays a string here so an unknown one is refused
/// with the message below, not serde's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adjustment {
    user_id: String,
    kind: String,
    amount: i64,
    reason: String,
}

/// What an admin may do to a balance; purchases and generation charges have their own paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditKind {
    /// Adds credits.
    Grant,
    /// Corrects a balance either way.
    Adjustment,
}

impl CreditKind {
    pub fn parse(value: &str) -> Result<CreditKind, ApiError> {
        match value {
            "grant" => Ok(CreditKind::Grant),
            "adjustment" => Ok(CreditKind::Adjustment),
            _ => Err(ApiError::validation("kind must be grant or adjustment")),
        }
    }
}

/// `api.admin_adjust_credits`.
#[derive(Debug, Serialize)]
pub struct AdjustCredits {
    user_id: Id,
    kind: CreditKind,
    amount: i64,
    reason: ShortText,
    idempotency_key: IdempotencyKey,
}

impl RpcArgs for AdjustCredits {
    const FUNCTION: &'static str = "admin_adjust_credits";
}

impl AdjustCredits {
    pub fn new(body: Adjustment, idempotency_key: Option<&str>) -> Result<Self, ApiError> {
        let kind = CreditKind::parse(&body.kind)?;
        let amount = body.amount;
        if amount == 0
            || (kind == CreditKind::Grant && amount < 0)
            || amount.abs() > limits::CREDIT_AMOUNT_MAX
        {
            return Err(ApiError::validation(format!(
                "amount must be non-zero, positive for a grant, and at most {}",
                limits::CREDIT_AMOUNT_MAX
            )));
        }
        let key = idempotency_key
            .ok_or_else(|| ApiError::validation("Idempotency-Key header is required"))?;
        Ok(AdjustCredits {
            user_id: Id::parse("user_id", &body.user_id)?,
            kind,
            amount,
            reason: ShortText::parse("reason", &body.reason, limits::REASON_CHARS)?,
            idempotency_key: IdempotencyKey::parse(key)?,
        })
    }
}

/// `POST /v1/admin/workers` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    name: String,
    capabilities: Vec<String>,
}

/// `api.admin_register_worker`.
#[derive(Debug, Serialize)]
pub struct RegisterWorker {
    name: ShortText,
    capabilities: Vec<ShortText>,
}

impl RpcArgs for RegisterWorker {
    const FUNCTION: &'static str = "admin_register_worker";
}

impl RegisterWorker {
    pub fn new(body: Registration) -> Result<Self, ApiError> {
        let capabilities = body
            .capabilities
            .iter()
            .map(|c| ShortText::parse("capabilities", c, limits::TASK_TYPE_CHARS))
            .collect::<Result<Vec<_>, _>>()?;
        if capabilities.is_empty() || capabilities.len() > limits::WORKER_CAPABILITIES_MAX {
            return Err(ApiError::validation(format!(
                "capabilities must name 1 to {} task types",
                limits::WORKER_CAPABILITIES_MAX
            )));
        }
        Ok(RegisterWorker {
            name: ShortText::parse("name", &body.name, limits::WORKER_NAME_CHARS)?,
            capabilities,
        })
    }
}

/// `api.admin_queue_stats()`.
#[derive(Serialize)]
pub struct QueueStats;

impl RpcArgs for QueueStats {
    const FUNCTION: &'static str = "admin_queue_stats";
}

/// `api.admin_stats()`: the stats view as of its last refresh.
#[derive(Serialize)]
pub struct Stats;

impl RpcArgs for Stats {
    const FUNCTION: &'static str = "admin_stats";
}

/// `api.admin_list_provider_tokens()`.
#[derive(Serialize)]
pub struct ListProviderTokens;

impl RpcArgs for ListProviderTokens {
    const FUNCTION: &'static str = "admin_list_provider_tokens";
}

/// `POST /v1/admin/provider-tokens/:id/enable` body: why (the change is audited; SQL checks
/// the reason).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    pub reason: Option<String>,
}

/// `api.admin_enable_provider_token`.
#[derive(Serialize)]
pub struct EnableProviderToken {
    pub token_id: Id,
    pub reason: Option<String>,
}

impl RpcArgs for EnableProviderToken {
    const FUNCTION: &'static str = "admin_enable_provider_token";
}

/// `api.admin_get_generation`.
#[derive(Serialize)]
pub struct GetGeneration {
    pub id: Id,
}

impl RpcArgs for GetGeneration {
    const FUNCTION: &'static str = "admin_get_generation";
}
