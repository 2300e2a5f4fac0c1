//! The credits function: `GET /v1/credits?limit=&cursor=`, the caller's balance and one page
//! of their ledger, newest first.

#[cfg(test)]
mod handler_tests;

use genbase_shared::deps::{require_user, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::{Cursor, Limit, Page};
use serde::{Deserialize, Serialize};
use serde_json::Value;

genbase_shared::endpoints! {
    enum Endpoint {
        GET "/v1/credits" => Credits,
    }
}

/// Where the next ledger page starts: entries with a smaller id.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerPosition {
    before_id: i64,
}

/// `api.get_my_credits`.
#[derive(Serialize)]
struct GetMyCredits {
    limit: Limit,
    before_id: Option<i64>,
}

impl RpcArgs for GetMyCredits {
    const FUNCTION: &'static str = "get_my_credits";
}

/// What SQL answers: the balance, and the page under SQL's own names.
#[derive(Deserialize)]
struct Ledger {
    balance: Value,
    held: Value,
    available: Value,
    entries: Value,
    next_before_id: Option<i64>,
}

/// The answer: the balance beside the one page shape.
#[derive(Serialize)]
struct Credits {
    balance: Value,
    held: Value,
    available: Value,
    #[serde(flatten)]
    page: Page<LedgerPosition>,
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let Endpoint::Credits = Endpoint::parse(&req.method, &req.path)?;
    let caller = require_user(req, deps).await?;
    let args = GetMyCredits {
        limit: Limit::parse(req.query_param("limit"))?,
        before_id: Cursor::<LedgerPosition>::parse(req.query_param("cursor"))?
            .map(|c| c.into_position().before_id),
    };
    let answer = deps.rpc().invoke(&args, &caller.auth).await?;
    let ledger: Ledger = serde_json::from_value(answer)
        .map_err(|e| ApiError::bad_gateway(format!("get_my_credits answered {e}")))?;
    let next = ledger
        .next_before_id
        .map(|before_id| LedgerPosition { before_id });
    let credits = Credits {
        balance: ledger.balance,
        held: ledger.held,
        available: ledger.available,
        page: Page::new(ledger.entries, next),
    };
    let body = serde_json::to_value(credits).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(ApiResponse::ok(body))
}

genbase_edge::entry!("credits", handle);
