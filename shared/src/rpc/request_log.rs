//! The request log, batched: `api.log_requests(entries, counts, errors)` writes many answered
//! requests in one call. A request made for a known user is an `api_logs` row (the user reads
//! their own history; SQL makes its successful writes `user_activity` rows); an anonymous or
//! refused one (401, or any status before a user is known) is only counted per function,
//! status and minute, so a flood of bad requests costs a few counter rows rather than a row
//! each. A 5xx is also an error: an `error_logs` row with its request id, whoever asked (a
//! server error is ours to look into, and there are few).
//!
//! Runtime-free: a Worker keeps one [`RequestLog`] per isolate, pushes each answered request
//! and sends [`RequestLog::take`] when no flush is under way (genbase-edge).

use super::RpcArgs;
use serde::Serialize;
use uuid::Uuid;

/// Rows a batch holds before further requests are only counted, so a log that cannot be
/// written (database down) does not grow without bound in the isolate.
pub const MAX_LOG_ROWS: usize = 1000;

/// Errors a batch holds; past it a 5xx is only logged or counted as any request.
pub const MAX_ERROR_ROWS: usize = 1000;

/// One answered request.
#[derive(Debug, Clone, PartialEq)]
pub struct AnsweredRequest {
    pub function: &'static str,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub duration_ms: i64,
    /// The verified user, if the request got that far.
    pub user_id: Option<Uuid>,
    pub request_id: String,
    /// When it arrived, in Unix milliseconds: the row's time even if the batch is sent later.
    pub at_ms: i64,
}

/// An `api_logs` row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogRow {
    pub function: &'static str,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub duration_ms: i64,
    pub user_id: Uuid,
    pub request_id: String,
    pub at_ms: i64,
}

/// An `error_logs` row: a 5xx answer. No header, body or query string: nothing secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorRow {
    pub function: &'static str,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub duration_ms: i64,
    pub user_id: Option<Uuid>,
    pub request_id: String,
    pub at_ms: i64,
}

/// An `api_log_counts` increment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogCount {
    pub function: &'static str,
    pub status: u16,
    /// The minute's start, in Unix seconds.
    pub minute: i64,
    pub requests: u32,
}

/// The arguments of `api.log_requests`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogRequests {
    pub entries: Vec<LogRow>,
    pub counts: Vec<LogCount>,
    pub errors: Vec<ErrorRow>,
}

impl RpcArgs for LogRequests {
    const FUNCTION: &'static str = "log_requests";
}

/// Requests answered and not sent yet.
#[derive(Debug, Default)]
pub struct RequestLog {
    rows: Vec<LogRow>,
    /// A handful per batch (one function, a few statuses and minutes): a scan finds them.
    counts: Vec<LogCount>,
    errors: Vec<ErrorRow>,
}

impl RequestLog {
    pub fn push(&mut self, req: AnsweredRequest) {
        if req.status >= 500 && self.errors.len() < MAX_ERROR_ROWS {
            self.errors.push(ErrorRow {
                function: req.function,
                method: req.method.clone(),
                path: req.path.clone(),
                status: req.status,
                duration_ms: req.duration_ms,
                user_id: req.user_id,
                request_id: req.request_id.clone(),
                at_ms: req.at_ms,
            });
        }
        match req.user_id {
            Some(user_id) if self.rows.len() < MAX_LOG_ROWS => self.rows.push(LogRow {
                function: req.function,
                method: req.method,
                path: req.path,
                status: req.status,
                duration_ms: req.duration_ms,
                user_id,
                request_id: req.request_id,
                at_ms: req.at_ms,
            }),
            _ => {
                let minute = req.at_ms.div_euclid(60_000) * 60;
                let key = |c: &&mut LogCount| {
                    (c.function, c.status, c.minute) == (req.function, req.status, minute)
                };
                match self.counts.iter_mut().find(key) {
                    Some(count) => count.requests = count.requests.saturating_add(1),
                    None => self.counts.push(LogCount {
                        function: req.function,
                        status: req.status,
                        minute,
                        requests: 1,
                    }),
                }
            }
        }
    }

    /// Everything pushed since the last call, or `None` when there is nothing to send.
    pub fn take(&mut self) -> Option<LogRequests> {
        if self.rows.is_empty() && self.counts.is_empty() && self.errors.is_empty() {
            return None;
        }
        Some(LogRequests {
            entries: std::mem::take(&mut self.rows),
            counts: std::mem::take(&mut self.counts),
            errors: std::mem::take(&mut self.errors),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::sql_args;
    use super::*;
    use serde_json::json;

    const AT: i64 = 1_700_000_010_500;

    fn answered(status: u16, user: Option<u128>, at_ms: i64) -> AnsweredRequest {
        AnsweredRequest {
            function: "profile",
            method: "GET".into(),
            path: "/v1/me".into(),
            status,
            duration_ms: 3,
            user_id: user.map(Uuid::from_u128),
            request_id: format!("req-{status}-{at_ms}"),
            at_ms,
        }
    }

    #[test]
    fn an_empty_log_has_nothing_to_send() {
        assert_eq!(RequestLog::default().take(), None);
    }

    #[test]
    fn a_users_request_is_a_row_and_the_rest_are_counted_per_minute() {
        let mut log = RequestLog::default();
        log.push(answered(200, Some(1), AT));
        log.push(answered(401, None, AT));
        log.push(answered(401, None, AT + 1_000));
        log.push(answered(401, None, AT + 60_000));
        log.push(answered(404, None, AT));
        let batch = log.take().unwrap();
        assert_eq!(batch.entries.len(), 1);
        assert_eq!(batch.entries[0].user_id, Uuid::from_u128(1));
        assert_eq!(batch.entries[0].at_ms, AT);
        let minute = 1_700_000_000 - 1_700_000_000 % 60;
        let counts: Vec<(u16, i64, u32)> = batch
            .counts
            .iter()
            .map(|c| (c.status, c.minute, c.requests))
            .collect();
        assert_eq!(
            counts,
            vec![(401, minute, 2), (401, minute + 60, 1), (404, minute, 1)]
        );
        assert_eq!(log.take(), None, "taking empties the log");
    }

    #[test]
    fn past_the_row_limit_requests_are_counted_instead() {
        let mut log = RequestLog::default();
        for i in 0..MAX_LOG_ROWS + 5 {
            log.push(answered(200, Some(i as u128), AT));
        }
        let batch = log.take().unwrap();
        assert_eq!(batch.entries.len(), MAX_LOG_ROWS);
        assert_eq!(batch.counts.len(), 1);
        assert_eq!((batch.counts[0].status, batch.counts[0].requests), (200, 5));
    }

    #[test]
    fn a_server_error_is_an_error_row_whoever_asked_and_still_logged_or_counted() {
        let mut log = RequestLog::default();
        log.push(answered(502, Some(1), AT));
        log.push(answered(500, None, AT));
        log.push(answered(499, None, AT));
        log.push(answered(200, Some(2), AT));
        let batch = log.take().unwrap();
        let errors: Vec<(u16, Option<Uuid>, &str)> = batch
            .errors
            .iter()
            .map(|e| (e.status, e.user_id, e.request_id.as_str()))
            .collect();
        let (r502, r500) = (format!("req-502-{AT}"), format!("req-500-{AT}"));
        assert_eq!(
            errors,
            vec![
                (502, Some(Uuid::from_u128(1)), r502.as_str()),
                (500, None, r500.as_str())
            ]
        );
        assert_eq!(batch.entries.len(), 2, "the user's 502 and 200 are rows");
        let counted: u32 = batch.counts.iter().map(|c| c.requests).sum();
        assert_eq!(counted, 2, "the anonymous 500 and 499 are counted");
    }

    #[test]
    fn past_the_error_limit_server_errors_are_only_counted() {
        let mut log = RequestLog::default();
        for _ in 0..MAX_ERROR_ROWS + 3 {
            log.push(answered(503, None, AT));
        }
        let batch = log.take().unwrap();
        assert_eq!(batch.errors.len(), MAX_ERROR_ROWS);
        assert_eq!(batch.counts[0].requests as usize, MAX_ERROR_ROWS + 3);
    }

    #[test]
    fn the_batch_goes_to_sql_under_its_parameter_names() {
        let mut log = RequestLog::default();
        log.push(answered(200, Some(1), AT));
        log.push(answered(401, None, AT));
        let args = sql_args(&log.take().unwrap()).unwrap();
        assert_eq!(
            args["p_entries"][0],
            json!({"function": "profile", "method": "GET", "path": "/v1/me", "status": 200,
                   "duration_ms": 3, "user_id": Uuid::from_u128(1), "request_id": format!("req-200-{AT}"),
                   "at_ms": AT})
        );
        assert_eq!(
            args["p_counts"],
            json!([{"function": "profile", "status": 401, "minute": 1_699_999_980, "requests": 1}])
        );
        assert_eq!(args["p_errors"], json!([]));
        let mut log = RequestLog::default();
        log.push(answered(500, None, AT));
        let args = sql_args(&log.take().unwrap()).unwrap();
        assert_eq!(
            args["p_errors"],
            json!([{"function": "profile", "method": "GET", "path": "/v1/me", "status": 500,
                   "duration_ms": 3, "user_id": null, "request_id": format!("req-500-{AT}"),
                   "at_ms": AT}])
        );
    }
}
