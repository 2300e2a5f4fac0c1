//! Typed RPC arguments. Each RPC a function calls is a struct of validated values whose
//! fields carry the HTTP API's names (`user_id`, `kind`, ...); [`RpcArgs`] names the SQL
//! function, and [`sql_args`] is the one place that turns the fields into SQL's parameter
//! names (`p_user_id`, ...), so no call site spells a `p_*` name.

use crate::error::ApiError;
use serde::Serialize;
use serde_json::{Map, Value};

pub trait RpcArgs: Serialize {
    /// The function in the `api` schema.
    const FUNCTION: &'static str;
    /// What SQL puts before each field's name. Every RPC uses `p_` except
    /// `api.update_my_profile(patch)`, whose parameter predates the convention.
    const PREFIX: &'static str = "p_";
}

/// The named arguments of `args`: its fields under SQL's parameter names. A unit struct is
/// an RPC without arguments.
pub fn sql_args<A: RpcArgs>(args: &A) -> Result<Value, ApiError> {
    prefixed(A::FUNCTION, A::PREFIX, serde_json::to_value(args))
}

/// The part of [`sql_args`] that does not depend on the arguments' type, so a function links
/// it once rather than once per RPC it calls (with, each time, the sort that collecting into
/// a map brings).
fn prefixed(
    function: &str,
    prefix: &str,
    fields: Result<Value, serde_json::Error>,
) -> Result<Value, ApiError> {
    let fields = match fields {
        Ok(Value::Object(fields)) => fields,
        Ok(Value::Null) => Map::new(),
        Ok(other) => {
            return Err(ApiError::internal(format!(
                "{function} arguments are not a struct: {other}"
            )))
        }
        Err(e) => return Err(ApiError::internal(format!("{function}: {e}"))),
    };
    let mut named = Map::new();
    for (name, value) in fields {
        named.insert(format!("{prefix}{name}"), value);
    }
    Ok(Value::Object(named))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Serialize)]
    struct Cancel {
        id: u32,
        reason: Option<String>,
    }
    impl RpcArgs for Cancel {
        const FUNCTION: &'static str = "cancel";
    }

    #[derive(Serialize)]
    struct Stats;
    impl RpcArgs for Stats {
        const FUNCTION: &'static str = "stats";
    }

    #[derive(Serialize)]
    struct Patch {
        patch: Value,
    }
    impl RpcArgs for Patch {
        const FUNCTION: &'static str = "patch";
        const PREFIX: &'static str = "";
    }

    #[derive(Serialize)]
    struct NotAStruct(u32);
    impl RpcArgs for NotAStruct {
        const FUNCTION: &'static str = "bad";
    }

    #[test]
    fn fields_get_the_sql_prefix_and_values_stay_as_they_are() {
        let args = sql_args(&Cancel {
            id: 7,
            reason: None,
        })
        .unwrap();
        assert_eq!(args, json!({"p_id": 7, "p_reason": null}));
        let args = sql_args(&Patch {
            patch: json!({"p_x": 1}),
        })
        .unwrap();
        assert_eq!(
            args,
            json!({"patch": {"p_x": 1}}),
            "only top-level names change"
        );
    }

    #[test]
    fn a_unit_struct_has_no_arguments_and_a_bare_value_is_our_bug() {
        assert_eq!(sql_args(&Stats).unwrap(), json!({}));
        assert_eq!(sql_args(&NotAStruct(1)).unwrap_err().status, 500);
    }
}
