//! The usage function: `GET /v1/usage?month=YYYY-MM` (the current month when omitted), the
//! caller's monthly totals per action and model; `GET /v1/usage/costs?month=YYYY-MM&user_id=`
//! (004's `get_monthly_api_costs`), what a user's generations cost in the month, per day and
//! per model (another user's takes an admin: SQL's rule).

use genbase_shared::deps::{require_user, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse, Params};
use genbase_shared::rpc::{Rpc, RpcArgs};
use genbase_shared::validate::{Id, Month};
use serde::Serialize;

genbase_shared::endpoints! {
    enum Endpoint {
        GET "/v1/usage" => Usage,
        GET "/v1/usage/costs" => Costs,
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

/// `api.get_monthly_api_costs`: `user_id` null is the caller.
#[derive(Serialize)]
struct MonthlyCosts {
    user_id: Option<Id>,
    month: String,
}

impl RpcArgs for MonthlyCosts {
    const FUNCTION: &'static str = "get_monthly_api_costs";
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let endpoint = Endpoint::parse(&req.method, &req.path)?;
    let caller = require_user(req, deps).await?;
    let out = match endpoint {
        Endpoint::Usage => {
            let month = month(req.query_param("month"), deps)?;
            deps.rpc()
                .invoke(&MonthlyUsage { month }, &caller.auth)
                .await?
        }
        Endpoint::Costs => {
            let params = Params::new(&req.query, &["month", "user_id"])?;
            let args = MonthlyCosts {
                user_id: params
                    .get("user_id")
                    .map(|u| Id::parse("user_id", u))
                    .transpose()?,
                month: month(params.get("month"), deps)?,
            };
            deps.rpc().invoke(&args, &caller.auth).await?
        }
    };
    Ok(ApiResponse::ok(out))
}

/// The `month` parameter as its first day, the current month when omitted.
fn month(param: Option<&str>, deps: &impl Deps) -> Result<String, ApiError> {
    Ok(match param {
        Some(m) => Month::parse(m)?.first_day(),
        None => current_month(deps.now_unix()),
    })
}

/// `YYYY-MM-01` of the UTC month containing `unix`.
fn current_month(unix: i64) -> String {
    let (year, month, _) = genbase_shared::calendar::civil_from_days(unix.div_euclid(86_400));
    format!("{year:04}-{month:02}-01")
}

genbase_edge::entry!("usage", handle);

#[cfg(test)]
mod handler_tests;

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
