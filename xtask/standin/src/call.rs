//! One RPC call, one transaction, in PostgREST's order (docs.postgrest.org, references/
//! transactions.html): BEGIN with the access mode, transaction-scoped settings (role settings,
//! search_path, role, request.*), the main query, COMMIT (ROLLBACK on any error).

use crate::catalog::{Param, Returns, RoleSettings, Routine, Volatility};
use crate::errors::ApiError;
use crate::jwt::Identity;
use deadpool_postgres::{Pool, PoolError, Transaction};
use serde_json::{Map, Value};
use tokio_postgres::types::{ToSql, Type};

/// Everything the transaction needs besides the pool.
pub struct Call {
    pub routine: Routine,
    /// Named arguments as JSON; GET arguments arrive as strings and are cast by PostgreSQL.
    pub args: Map<String, Value>,
    /// GET/HEAD, or POST to a STABLE/IMMUTABLE function.
    pub read_only: bool,
    pub identity: Identity,
    pub role_settings: RoleSettings,
    pub search_path: String,
    pub method: String,
    pub path: String,
    pub headers: Value,
    pub cookies: Value,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The response body, already JSON text as PostgreSQL rendered it.
    Json(String),
    /// `returns void`.
    NoContent,
}

/// Access mode per PostgREST's table: GET/HEAD are always READ ONLY; POST is READ ONLY unless
/// the function is VOLATILE.
pub fn read_only(method_is_get: bool, volatility: Volatility) -> bool {
    method_is_get || volatility != Volatility::Volatile
}

pub async fn run(pool: &Pool, call: Call) -> Result<Outcome, ApiError> {
    let authed = call.identity.authenticated;
    let db = |e: tokio_postgres::Error| db_error(e, authed);
    let mut client = pool.get().await.map_err(pool_error)?;
    let tx = client
        .build_transaction()
        .read_only(call.read_only)
        .start()
        .await
        .map_err(db)?;
    apply_settings(&tx, &call).await.map_err(db)?;
    let body = main_query(&tx, &call).await.map_err(db)?;
    if response_gucs_set(&tx).await.map_err(db)? {
        tx.rollback().await.map_err(db)?;
        return Err(ApiError::not_implemented(
            "the response.status / response.headers settings (the call was rolled back)",
        ));
    }
    tx.commit().await.map_err(db)?;
    Ok(match call.routine.returns {
        Returns::Void => Outcome::NoContent,
        _ => Outcome::Json(body.unwrap_or_else(|| "null".into())),
    })
}

/// Transaction-scoped settings: the impersonated role's own settings first (as PostgREST), then
/// search_path, role and the request.* values, then the function's statement_timeout.
async fn apply_settings(tx: &Transaction<'_>, call: &Call) -> Result<(), tokio_postgres::Error> {
    if !call.role_settings.is_empty() {
        let (names, values): (Vec<String>, Vec<String>) =
            call.role_settings.iter().cloned().unzip();
        tx.query_typed(
            "select set_config(k, v, true) from unnest($1::text[], $2::text[]) as s(k, v)",
            &[(&names, Type::TEXT_ARRAY), (&values, Type::TEXT_ARRAY)],
        )
        .await?;
    }
    let claims = call.identity.claims.to_string();
    let headers = call.headers.to_string();
    let cookies = call.cookies.to_string();
    let settings: [(&(dyn ToSql + Sync), Type); 7] = [
        (&call.search_path, Type::TEXT),
        (&call.identity.role, Type::TEXT),
        (&claims, Type::TEXT),
        (&call.method, Type::TEXT),
        (&call.path, Type::TEXT),
        (&headers, Type::TEXT),
        (&cookies, Type::TEXT),
    ];
    // set_config('role', ...) is what SET LOCAL ROLE does, with the name as a parameter
    // instead of an identifier spliced into SQL.
    tx.query_typed(
        "select set_config('search_path', $1, true), set_config('role', $2, true), \
         set_config('request.jwt.claims', $3, true), set_config('request.method', $4, true), \
         set_config('request.path', $5, true), set_config('request.headers', $6, true), \
         set_config('request.cookies', $7, true)",
        &settings,
    )
    .await?;
    if let Some(timeout) = &call.routine.statement_timeout {
        tx.query_typed(
            "select set_config('statement_timeout', $1, true)",
            &[(timeout, Type::TEXT)],
        )
        .await?;
    }
    Ok(())
}

/// Runs the call; the JSON text of the result (None for SQL NULL).
async fn main_query(
    tx: &Transaction<'_>,
    call: &Call,
) -> Result<Option<String>, tokio_postgres::Error> {
    let passed: Vec<&Param> = call
        .routine
        .params
        .iter()
        .filter(|p| call.args.contains_key(&p.name))
        .collect();
    let sql = call_sql(&call.routine, &passed);
    let rows = if passed.is_empty() {
        tx.query_typed(&sql, &[]).await?
    } else {
        let args = Value::Object(call.args.clone()).to_string();
        tx.query_typed(&sql, &[(&args, Type::TEXT)]).await?
    };
    Ok(rows.first().and_then(|r| r.get(0)))
}

/// A function can ask PostgREST for another status or extra headers through these settings;
/// the stand-in does not implement that, and says so rather than answer differently.
async fn response_gucs_set(tx: &Transaction<'_>) -> Result<bool, tokio_postgres::Error> {
    let rows = tx
        .query_typed(
            "select nullif(current_setting('response.status', true), '') is not null \
                 or nullif(current_setting('response.headers', true), '') is not null",
            &[],
        )
        .await?;
    Ok(rows.first().map(|r| r.get::<_, bool>(0)).unwrap_or(false))
}

/// The main query. Arguments go through `json_to_record($1::json)` with the parameters' own
/// types, as PostgREST does, so PostgreSQL does every conversion and reports bad input with
/// its own SQLSTATE (22P02 for a malformed uuid, ...). Calling the function in FROM makes a
/// composite result (table type, OUT parameters, `returns table`) a JSON object per row while a
/// scalar stays a scalar; `returns record` has no column list, so it is called in the select
/// list instead.
pub fn call_sql(routine: &Routine, passed: &[&Param]) -> String {
    let columns: Vec<String> = passed
        .iter()
        .map(|p| format!("{} {}", ident(&p.name), p.sql_type))
        .collect();
    let named: Vec<String> = passed
        .iter()
        .map(|p| {
            let variadic = if p.variadic { "variadic " } else { "" };
            format!(
                "{variadic}{} := _pgrst_args.{}",
                ident(&p.name),
                ident(&p.name)
            )
        })
        .collect();
    let call = format!(
        "{}.{}({})",
        ident(&routine.schema),
        ident(&routine.name),
        named.join(", ")
    );
    let args_from = if passed.is_empty() {
        String::new()
    } else {
        format!(
            "json_to_record($1::json) as _pgrst_args({})",
            columns.join(", ")
        )
    };
    let from_call = if args_from.is_empty() {
        format!("from {call} _pgrst_call")
    } else {
        format!("from {args_from}, {call} _pgrst_call")
    };
    let from_args = if args_from.is_empty() {
        String::new()
    } else {
        format!(" from {args_from}")
    };
    match routine.returns {
        Returns::Void => format!("select null::text {from_call}"),
        Returns::Single => format!("select to_json(_pgrst_call)::text {from_call}"),
        Returns::Set => {
            format!("select coalesce(json_agg(_pgrst_call), '[]')::text {from_call}")
        }
        Returns::UntypedSingle => format!("select to_json({call})::text{from_args}"),
        Returns::UntypedSet => format!(
            "select coalesce(json_agg(_pgrst_row._pgrst_call), '[]')::text \
             from (select {call} as _pgrst_call{from_args}) _pgrst_row"
        ),
    }
}

/// A quoted SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn db_error(e: tokio_postgres::Error, authenticated: bool) -> ApiError {
    match e.as_db_error() {
        // `raise sqlstate 'PGRST' using message = '{json}', detail = '{json}'` hands PostgREST
        // the whole response; the stand-in does not parse that form.
        Some(db) if db.code().code() == "PGRST" => ApiError::not_implemented(format!(
            "RAISE SQLSTATE 'PGRST' (full response control); message was {:?}",
            db.message()
        )),
        Some(db) => ApiError::from_db(db, authenticated),
        None => client_error(&e),
    }
}

/// The connection broke mid-request (PostgREST: PGRST001, 503).
pub fn client_error(e: &tokio_postgres::Error) -> ApiError {
    ApiError::new(
        503,
        "PGRST001",
        "Database client error. Retrying the connection.",
    )
    .details(e.to_string())
}

/// No connection could be had: 504 PGRST003 on pool timeout, else 503 PGRST000.
pub fn pool_error(e: PoolError) -> ApiError {
    match e {
        PoolError::Timeout(_) => ApiError::new(
            504,
            "PGRST003",
            "Timed out acquiring connection from connection pool.",
        ),
        other => ApiError::new(
            503,
            "PGRST000",
            "Database connection error. Retrying the connection.",
        )
        .details(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routine(returns: Returns) -> Routine {
        Routine {
            schema: "api".into(),
            name: "f".into(),
            params: vec![
                Param {
                    name: "a".into(),
                    sql_type: "uuid".into(),
                    required: true,
                    variadic: false,
                },
                Param {
                    name: "b\"x".into(),
                    sql_type: "text".into(),
                    required: false,
                    variadic: false,
                },
            ],
            has_unnamed_params: false,
            volatility: Volatility::Volatile,
            returns,
            statement_timeout: None,
        }
    }

    #[test]
    fn sql_passes_named_args_through_json_to_record() {
        let r = routine(Returns::Single);
        let sql = call_sql(&r, &r.params.iter().collect::<Vec<_>>());
        assert_eq!(
            sql,
            "select to_json(_pgrst_call)::text from json_to_record($1::json) as _pgrst_args(\"a\" uuid, \"b\"\"x\" text), \
             \"api\".\"f\"(\"a\" := _pgrst_args.\"a\", \"b\"\"x\" := _pgrst_args.\"b\"\"x\") _pgrst_call"
        );
    }

    #[test]
    fn sql_without_args_and_per_return_shape() {
        let r = routine(Returns::Set);
        assert_eq!(
            call_sql(&r, &[]),
            "select coalesce(json_agg(_pgrst_call), '[]')::text from \"api\".\"f\"() _pgrst_call"
        );
        assert_eq!(
            call_sql(&routine(Returns::UntypedSingle), &[]),
            "select to_json(\"api\".\"f\"())::text"
        );
        assert!(call_sql(&routine(Returns::Void), &[]).starts_with("select null::text from"));
    }

    #[test]
    fn access_mode_follows_postgrest_table() {
        assert!(read_only(true, Volatility::Volatile));
        assert!(read_only(false, Volatility::Stable));
        assert!(read_only(false, Volatility::Immutable));
        assert!(!read_only(false, Volatility::Volatile));
    }
}
