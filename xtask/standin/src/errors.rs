//! The `{code, message, details, hint}` error body and PostgREST's SQLSTATE -> HTTP status table
//! (docs.postgrest.org, references/errors.html, "HTTP Status Codes").

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Every error the stand-in answers with, whatever produced it (PostgreSQL, JWT check, request
/// parsing, or "not implemented here").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub details: Option<String>,
    pub hint: Option<String>,
    /// `WWW-Authenticate` challenge, the one extra header PostgREST sends with errors (on 401s).
    /// Boxed to keep the error small: it travels in every `Result` of the request path.
    pub www_authenticate: Option<Box<str>>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            details: None,
            hint: None,
            www_authenticate: None,
        }
    }

    pub fn details(mut self, details: impl Into<String>) -> ApiError {
        self.details = Some(details.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> ApiError {
        self.hint = Some(hint.into());
        self
    }

    pub fn www_authenticate(mut self, challenge: impl Into<String>) -> ApiError {
        self.www_authenticate = Some(challenge.into().into_boxed_str());
        self
    }

    /// The stand-in's answer for anything outside the part of PostgREST it implements: say so
    /// plainly instead of guessing what PostgREST would have done.
    pub fn not_implemented(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(501, "STANDIN501", format!("postgrest-standin does not implement {what}"))
            .details("The local stand-in implements only the PostgREST RPC contract genbase uses (see xtask/standin/README.md).")
            .hint("use a real Supabase project")
    }

    /// A PostgreSQL error raised while serving the request. `authenticated` is true when the
    /// request runs as a role other than the anonymous one (it decides 401 vs 403 for 42501).
    pub fn from_db(err: &tokio_postgres::error::DbError, authenticated: bool) -> ApiError {
        let code = err.code().code();
        let mut e = ApiError::new(sqlstate_status(code, authenticated), code, err.message());
        e.details = err.detail().map(String::from);
        e.hint = err.hint().map(String::from);
        if e.status == 401 {
            // PostgREST adds this to every 401 that comes from the database.
            e = e.www_authenticate("Bearer");
        }
        e
    }

    pub fn body(&self) -> serde_json::Value {
        json!({
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "hint": self.hint,
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = crate::http::json_response(status, self.body().to_string());
        let headers = resp.headers_mut();
        if let Some(v) = self
            .www_authenticate
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, v);
        }
        resp
    }
}

/// How a row of the table decides the status.
#[derive(Debug, Clone, Copy)]
enum Rule {
    Status(u16),
    /// 42501: 403 if the request was authenticated (runs as a non-anonymous role), else 401.
    AuthenticatedOr401,
}

/// PostgREST's documented table, in its order: the first matching row wins, so exact codes come
/// before the class (`NN*`) they belong to. `PTxyz` and "everything else is 400" are handled in
/// [`sqlstate_status`].
const TABLE: &[(&str, Rule)] = &[
    ("08*", Rule::Status(503)),          // pg connection err
    ("09*", Rule::Status(500)),          // triggered action exception
    ("0L*", Rule::Status(403)),          // invalid grantor
    ("0P*", Rule::Status(403)),          // invalid role specification
    ("23503", Rule::Status(409)),        // foreign key violation
    ("23505", Rule::Status(409)),        // uniqueness violation
    ("25006", Rule::Status(405)),        // read only sql transaction
    ("25*", Rule::Status(500)),          // invalid transaction state
    ("28*", Rule::Status(403)),          // invalid auth specification
    ("2D*", Rule::Status(500)),          // invalid transaction termination
    ("38*", Rule::Status(500)),          // external routine exception
    ("39*", Rule::Status(500)),          // external routine invocation
    ("3B*", Rule::Status(500)),          // savepoint exception
    ("40*", Rule::Status(500)),          // transaction rollback
    ("53400", Rule::Status(500)),        // config limit exceeded
    ("53*", Rule::Status(503)),          // insufficient resources
    ("54*", Rule::Status(500)),          // too complex
    ("55*", Rule::Status(500)),          // obj not in prerequisite state
    ("57*", Rule::Status(500)),          // operator intervention
    ("58*", Rule::Status(500)),          // system error
    ("F0*", Rule::Status(500)),          // config file error
    ("HV*", Rule::Status(500)),          // foreign data wrapper error
    ("P0001", Rule::Status(400)),        // default code for "raise"
    ("P0*", Rule::Status(500)),          // PL/pgSQL error
    ("XX*", Rule::Status(500)),          // internal error
    ("42883", Rule::Status(404)),        // undefined function
    ("42P01", Rule::Status(404)),        // undefined table
    ("42P17", Rule::Status(500)),        // infinite recursion
    ("42501", Rule::AuthenticatedOr401), // insufficient privileges
];

/// The HTTP status PostgREST answers for a SQLSTATE.
pub fn sqlstate_status(code: &str, authenticated: bool) -> u16 {
    // `raise sqlstate 'PT402'` -> 402: the SQL picks the status. A PT code that is not a
    // valid status is a server bug, hence 500 (as PostgREST).
    if let Some(n) = code.strip_prefix("PT") {
        return match n.parse::<u16>() {
            Ok(s) if n.len() == 3 && (100..=599).contains(&s) => s,
            _ => 500,
        };
    }
    for (pattern, rule) in TABLE {
        let hit = match pattern.strip_suffix('*') {
            Some(prefix) => code.starts_with(prefix),
            None => code == *pattern,
        };
        if hit {
            return match rule {
                Rule::Status(s) => *s,
                Rule::AuthenticatedOr401 if authenticated => 403,
                Rule::AuthenticatedOr401 => 401,
            };
        }
    }
    400
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test per row of the documented table, with a real SQLSTATE of that row.
    macro_rules! row {
        ($($name:ident: $code:expr, $authed:expr => $status:expr;)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(sqlstate_status($code, $authed), $status, "SQLSTATE {}", $code);
            }
        )*};
    }

    row! {
        row_08_connection: "08006", false => 503;
        row_09_triggered_action: "09000", false => 500;
        row_0l_invalid_grantor: "0LP01", false => 403;
        row_0p_invalid_role_spec: "0P000", false => 403;
        row_23503_fk_violation: "23503", false => 409;
        row_23505_unique_violation: "23505", false => 409;
        row_25006_read_only_tx: "25006", false => 405;
        row_25_invalid_tx_state: "25P02", false => 500;
        row_28_invalid_auth_spec: "28P01", false => 403;
        row_2d_invalid_tx_termination: "2D000", false => 500;
        row_38_external_routine: "38001", false => 500;
        row_39_external_routine_invocation: "39004", false => 500;
        row_3b_savepoint: "3B001", false => 500;
        row_40_tx_rollback: "40001", false => 500;
        row_53400_config_limit: "53400", false => 500;
        row_53_insufficient_resources: "53100", false => 503;
        row_54_too_complex: "54001", false => 500;
        row_55_prerequisite_state: "55P03", false => 500;
        row_57_operator_intervention: "57014", false => 500;
        row_58_system_error: "58030", false => 500;
        row_f0_config_file: "F0000", false => 500;
        row_hv_fdw: "HV000", false => 500;
        row_p0001_raise: "P0001", false => 400;
        row_p0_plpgsql: "P0004", false => 500;
        row_xx_internal: "XX000", false => 500;
        row_42883_undefined_function: "42883", false => 404;
        row_42p01_undefined_table: "42P01", false => 404;
        row_42p17_infinite_recursion: "42P17", false => 500;
        row_42501_anonymous: "42501", false => 401;
        row_42501_authenticated: "42501", true => 403;
        row_pt_custom_402: "PT402", false => 402;
        row_pt_custom_409: "PT409", true => 409;
        row_pt_not_a_status: "PTabc", false => 500;
        row_pt_out_of_range: "PT999", false => 500;
        row_other_check_violation: "23514", false => 400;
        row_other_invalid_text: "22P02", false => 400;
        row_other_undefined_column: "42703", false => 400;
    }

    #[test]
    fn error_body_has_the_four_fields_with_nulls() {
        let e = ApiError::new(404, "PGRST202", "m");
        assert_eq!(
            e.body(),
            json!({"code": "PGRST202", "message": "m", "details": null, "hint": null})
        );
    }
}
