//! A workspace's credits: its balance and a page of its ledger (every entry for its admins,
//! their own for the others: RLS decides), and funding it from the caller's own account.
//! The ledger page has the shape and the cursor of `GET /v1/credits`.

use genbase_shared::deps::{Caller, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse, Params};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::{Cursor, Id, IdempotencyKey, Limit, Page};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where the next ledger page starts: entries with a smaller id.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerPosition {
    before_id: i64,
}

/// `api.get_workspace_credits`.
#[derive(Serialize)]
struct GetWorkspaceCredits {
    workspace_id: Id,
    limit: Limit,
    before_id: Option<i64>,
}

impl RpcArgs for GetWorkspaceCredits {
    const FUNCTION: &'static str = "get_workspace_credits";
}

/// `POST /v1/workspaces/:id/credits/fund` body. SQL checks the amount.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FundBody {
    amount: i64,
}

/// `api.fund_workspace`: a transfer from the caller's account, once per Idempotency-Key.
/// SQL refuses it without one: moving money twice on a retry is the one thing a transfer
/// must never do.
#[derive(Serialize)]
struct FundWorkspace {
    workspace_id: Id,
    amount: i64,
    idempotency_key: Option<IdempotencyKey>,
}

impl RpcArgs for FundWorkspace {
    const FUNCTION: &'static str = "fund_workspace";
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

impl Ledger {
    fn read(function: &str, answer: Value) -> Result<Credits, ApiError> {
        let ledger: Ledger = serde_json::from_value(answer)
            .map_err(|e| ApiError::bad_gateway(format!("{function} answered {e}")))?;
        let next = ledger
            .next_before_id
            .map(|before_id| LedgerPosition { before_id });
        Ok(Credits {
            balance: ledger.balance,
            held: ledger.held,
            available: ledger.available,
            page: Page::new(ledger.entries, next),
        })
    }
}

fn to_body(credits: Credits) -> Result<Value, ApiError> {
    serde_json::to_value(credits).map_err(|e| ApiError::internal(e.to_string()))
}

/// `GET /v1/workspaces/:id/credits?limit=&cursor=`.
pub async fn ledger(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    workspace_id: Id,
) -> Result<ApiResponse, ApiError> {
    let params = Params::new(&req.query, &["limit", "cursor"])?;
    let args = GetWorkspaceCredits {
        workspace_id,
        limit: Limit::parse(params.get("limit"))?,
        before_id: Cursor::<LedgerPosition>::parse(params.get("cursor"))?
            .map(|c| c.into_position().before_id),
    };
    let answer = deps.rpc().invoke(&args, &caller.auth).await?;
    Ok(ApiResponse::ok(to_body(Ledger::read(
        GetWorkspaceCredits::FUNCTION,
        answer,
    )?)?))
}

/// `POST /v1/workspaces/:id/credits/fund {amount}` with an `Idempotency-Key`: 201 with the
/// workspace's credits after the transfer, 200 with them for a replay of the same key.
pub async fn fund(
    req: &ApiRequest,
    deps: &impl Deps,
    caller: &Caller,
    workspace_id: Id,
) -> Result<ApiResponse, ApiError> {
    let FundBody { amount } = req.json_body()?;
    let args = FundWorkspace {
        workspace_id,
        amount,
        idempotency_key: req
            .header("idempotency-key")
            .map(IdempotencyKey::parse)
            .transpose()?,
    };
    let mut answer = deps.rpc().invoke(&args, &caller.auth).await?;
    let created = answer.get_mut("created").map(Value::take);
    let mut body = to_body(Ledger::read(FundWorkspace::FUNCTION, answer)?)?;
    let status = if created == Some(Value::Bool(true)) {
        201
    } else {
        200
    };
    body["created"] = created.unwrap_or(Value::Null);
    Ok(ApiResponse::json(status, body))
}
