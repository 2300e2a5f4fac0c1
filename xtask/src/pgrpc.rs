//! One RPC straight against Postgres, the way PostgREST runs it, for the SQL benchmark and the
//! concurrency tests that skip HTTP: a transaction with `set local role`, the JWT claims in
//! `request.jwt.claims`, then the function; committed if it succeeds, rolled back if not.
//! Three round trips (the settings, the call, COMMIT): one more than the stand-in, which
//! pipelines the settings with the call, so the bench never charges an RPC less than the local
//! stack does. COMMIT is a round trip of its own in both, as in PostgREST: a row the function
//! locks stays locked until the client has read the result and committed.

use postgres::types::ToSql;
use postgres::{Client, Statement};
use serde_json::{json, Value};
use uuid::Uuid;

/// Runs `statement` (which selects one jsonb value) as `role`, with claims `{"role"}` plus
/// `"sub"` when a user is given, in a transaction of its own. The error is the function's
/// (its SQLSTATE tells PT409 from the rest); a failed rollback only means the connection is
/// gone, which the next call reports.
pub fn call_as(
    client: &mut Client,
    role: &str,
    sub: Option<Uuid>,
    statement: &Statement,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Value, postgres::Error> {
    begin_as(client, role, sub)?;
    match client.query_one(statement, params) {
        Ok(row) => {
            client.batch_execute("commit")?;
            Ok(row.get(0))
        }
        Err(e) => {
            let _ = client.batch_execute("rollback");
            Err(e)
        }
    }
}

/// Opens the transaction of one RPC: the role and the claims are local to it. For a caller
/// that runs more in the same transaction and then commits it itself.
pub fn begin_as(client: &mut Client, role: &str, sub: Option<Uuid>) -> Result<(), postgres::Error> {
    let claims = match sub {
        Some(sub) => json!({"sub": sub, "role": role}),
        None => json!({"role": role}),
    };
    // One round trip for the three statements: the simple protocol takes no parameters, so
    // the role is quoted as an identifier and the claims as a literal.
    client.batch_execute(&format!(
        "begin; set local role {}; select set_config('request.jwt.claims', {}, true)",
        quote_ident(role),
        quote_literal(&claims.to_string())
    ))
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_names_and_text_whole() {
        assert_eq!(quote_ident("service_role"), "\"service_role\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(
            quote_literal(r#"{"sub":"o'brien"}"#),
            r#"'{"sub":"o''brien"}'"#
        );
    }
}
