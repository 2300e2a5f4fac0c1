//! One RPC call, one transaction, in PostgREST's order (docs.postgrest.org, references/
//! transactions.html): BEGIN with the access mode, transaction-scoped settings (role settings,
//! search_path, role, request.*), the main query, COMMIT (ROLLBACK on any error).
//!
//! Two round trips to Postgres: BEGIN, the settings (one statement) and the call are pipelined
//! in one write, then COMMIT or ROLLBACK. Both statements are prepared once per connection.

use crate::catalog::{Param, Returns, RoleSettings, Routine, Volatility};
use crate::errors::ApiError;
use crate::jwt::Identity;
use deadpool_postgres::{Object, Pool, PoolError};
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

/// Every transaction-scoped setting in one statement, applied in array order.
const SETTINGS_SQL: &str =
    "select set_config(k, v, true) from unnest($1::text[], $2::text[]) as s(k, v)";

pub async fn run(pool: &Pool, call: Call) -> Result<Outcome, ApiError> {
    let authed = call.identity.authenticated;
    let db = |e: tokio_postgres::Error| db_error(e, authed);
    let client = pool.get().await.map_err(pool_error)?;
    // Prepared before BEGIN: it names only built-in functions, so the role it is parsed as
    // does not matter; after the first call on this connection it is a cache hit.
    let settings = client
        .prepare_typed_cached(SETTINGS_SQL, &[Type::TEXT_ARRAY, Type::TEXT_ARRAY])
        .await
        .map_err(db)?;
    let (names, values) = settings_of(&call);
    let settings_params: [&(dyn ToSql + Sync); 2] = [&names, &values];
    let passed: Vec<&Param> = call
        .routine
        .params
        .iter()
        .filter(|p| call.args.contains_key(&p.name))
        .collect();
    let sql = main_sql(&call.routine, &passed, &call.identity.role);
    let args = Value::Object(call.args.clone()).to_string();
    let (types, params): (&[Type], Vec<&(dyn ToSql + Sync)>) = if passed.is_empty() {
        (&[], vec![])
    } else {
        (&[Type::TEXT], vec![&args as &(dyn ToSql + Sync)])
    };
    let begin = if call.read_only {
        "start transaction read only"
    } else {
        "start transaction read write"
    };
    // tokio-postgres sends a request when its future is first polled, and join! polls these in
    // order, so all three go out in one write and run in that order. A main statement this
    // connection has not prepared yet is parsed after the settings, as the request's role (one
    // more round trip, once per connection); a cached one is bound at once.
    let (began, applied, called) = tokio::join!(
        client.batch_execute(begin),
        client.execute(&settings, &settings_params),
        async {
            let main = client.prepare_typed_cached(&sql, types).await?;
            client.query(&main, &params).await
        },
    );
    // The first failure is the cause; the later statements then only report the aborted
    // transaction.
    let rows = match began.and(applied).and(called) {
        Ok(rows) => rows,
        Err(e) => {
            rollback(client).await;
            return Err(db(e));
        }
    };
    let row = rows.first();
    if row.is_some_and(|r| r.get::<_, bool>(1)) {
        rollback(client).await;
        return Err(ApiError::not_implemented(
            "the response.status / response.headers settings (the call was rolled back)",
        ));
    }
    client.batch_execute("commit").await.map_err(db)?;
    Ok(match call.routine.returns {
        Returns::Void => Outcome::NoContent,
        _ => Outcome::Json(
            row.and_then(|r| r.get::<_, Option<String>>(0))
                .unwrap_or_else(|| "null".into()),
        ),
    })
}

/// Ends a transaction that must not commit. A connection that cannot even roll back leaves the
/// pool rather than reach the next request mid-transaction.
async fn rollback(client: Object) {
    if client.batch_execute("rollback").await.is_err() {
        drop(Object::take(client));
    }
}

/// The transaction-scoped settings, in order: the impersonated role's own settings first (as
/// PostgREST), then search_path, role and the request.* values, then the function's
/// statement_timeout. set_config('role', ...) is what SET LOCAL ROLE does, with the name as a
/// parameter instead of an identifier spliced into SQL.
fn settings_of(call: &Call) -> (Vec<String>, Vec<String>) {
    let request = [
        ("search_path", call.search_path.clone()),
        ("role", call.identity.role.clone()),
        ("request.jwt.claims", call.identity.claims.to_string()),
        ("request.method", call.method.clone()),
        ("request.path", call.path.clone()),
        ("request.headers", call.headers.to_string()),
        ("request.cookies", call.cookies.to_string()),
    ];
    call.role_settings
        .iter()
        .cloned()
        .chain(request.into_iter().map(|(k, v)| (k.to_string(), v)))
        .chain(
            call.routine
                .statement_timeout
                .iter()
                .map(|t| ("statement_timeout".to_string(), t.clone())),
        )
        .unzip()
}

/// The main statement: the call (see [`call_sql`]) and, after it, whether it set the
/// response.status / response.headers settings, which the stand-in does not implement. The
/// MATERIALIZED CTE runs the call before the check reads the settings.
///
/// The statement names the role (hex, so no name can end the comment) because it is prepared
/// and cached per connection: an inlined SQL function's EXECUTE privilege is checked when the
/// plan is made, so a plan made for one role must never run as another.
fn main_sql(routine: &Routine, passed: &[&Param], role: &str) -> String {
    let role_hex: String = role.bytes().map(|b| format!("{b:02x}")).collect();
    format!(
        "/* role {role_hex} */ with _pgrst_result(body) as materialized ({}) \
         select body, nullif(current_setting('response.status', true), '') is not null \
         or nullif(current_setting('response.headers', true), '') is not null from _pgrst_result",
        call_sql(routine, passed)
    )
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
    fn main_statement_names_the_role_and_checks_response_settings_after_the_call() {
        let r = routine(Returns::Void);
        let sql = main_sql(&r, &[], "anon */ x");
        assert!(
            sql.starts_with("/* role 616e6f6e202a2f2078 */ with _pgrst_result(body) as materialized (select null::text from"),
            "{sql}"
        );
        assert!(sql.ends_with("is not null from _pgrst_result"), "{sql}");
        assert_ne!(sql, main_sql(&r, &[], "authenticated"));
    }

    #[test]
    fn settings_go_in_postgrest_order_in_one_list() {
        let mut r = routine(Returns::Void);
        r.statement_timeout = Some("1s".into());
        let call = Call {
            routine: r,
            args: Map::new(),
            read_only: false,
            identity: Identity {
                role: "authenticated".into(),
                claims: serde_json::json!({"role": "authenticated"}),
                authenticated: true,
            },
            role_settings: std::sync::Arc::new(vec![("work_mem".into(), "8MB".into())]),
            search_path: "\"api\"".into(),
            method: "POST".into(),
            path: "/rpc/f".into(),
            headers: serde_json::json!({}),
            cookies: serde_json::json!({}),
        };
        let (names, values) = settings_of(&call);
        assert_eq!(
            names,
            [
                "work_mem",
                "search_path",
                "role",
                "request.jwt.claims",
                "request.method",
                "request.path",
                "request.headers",
                "request.cookies",
                "statement_timeout"
            ]
        );
        assert_eq!(
            values,
            [
                "8MB",
                "\"api\"",
                "authenticated",
                "{\"role\":\"authenticated\"}",
                "POST",
                "/rpc/f",
                "{}",
                "{}",
                "1s"
            ]
        );
    }

    #[test]
    fn access_mode_follows_postgrest_table() {
        assert!(read_only(true, Volatility::Volatile));
        assert!(read_only(false, Volatility::Stable));
        assert!(read_only(false, Volatility::Immutable));
        assert!(!read_only(false, Volatility::Volatile));
    }
}
