//! The usage function: `GET /v1/usage?month=YYYY-MM` (the current month when omitted).

use genbase_shared::deps::{require_user, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::Month;
use serde::Serialize;

genbase_shared::endpoints! {
    enum Endpoint {
        GET "/v1/usage" => Usage,
    }
}

/// `api.get_monthly_usage`: the month as its first day, `YYYY-MM-01`.
#[derive(Serialize)]
struct MonthlyUsage {
    month: String,
}

impl RpcArgs for MonthlyUsage {
    const FUNCTION: &'static str = "get_monthly_usage";
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let Endpoint::Usage = Endpoint::parse(&req.method, &req.path)?;
    let caller = require_user(req, deps).await?;
    let month = match req.query_param("month") {
        Some(m) => Month::parse(m)?.first_day(),
        None => current_month(deps.now_unix()),
    };
    let usage = deps
        .rpc()
        .invoke(&MonthlyUsage { month }, &caller.auth)
        .await?;
    Ok(ApiResponse::ok(usage))
}

/// `YYYY-MM-01` of the UTC month containing `unix`.
fn current_month(unix: i64) -> String {
    let (year, month, _) = genbase_shared::calendar::civil_from_days(unix.div_euclid(86_400));
    format!("{year:04}-{month:02}-01")
}

genbase_edge::entry!("usage", handle);

#[cfg(test)]
mod tests {
    use super::current_month;

    #[test]
    fn current_month_is_the_utc_month_of_the_instant() {
        assert_eq!(current_month(0), "1970-01-01");
        assert_eq!(current_month(1_795_305_600), "2026-11-01"); // 2026-11-22T00:00:00Z
        assert_eq!(current_month(1_709_251_199), "2024-02-01"); // 2024-02-29T23:59:59Z
        assert_eq!(current_month(1_709_251_200), "2024-03-01");
    }
}
