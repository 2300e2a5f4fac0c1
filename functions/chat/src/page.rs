//! What a keyset list's SQL function answers, `{items, next_cursor}` (the position after the
//! page, null on the last), turned into the API's page with an opaque cursor.

use genbase_shared::error::ApiError;
use genbase_shared::validate::Page;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// `next` is the key under which `function` reports the next position.
pub fn page_of<P: Serialize + DeserializeOwned>(
    function: &str,
    next: &str,
    mut answer: Value,
) -> Result<Value, ApiError> {
    let bad =
        |what: &dyn std::fmt::Display| ApiError::bad_gateway(format!("{function} answered {what}"));
    let items = match answer.get_mut("items").map(Value::take) {
        Some(items @ Value::Array(_)) => items,
        _ => return Err(bad(&"no items")),
    };
    let position = match answer.get_mut(next).map(Value::take) {
        None | Some(Value::Null) => None,
        Some(position) => Some(serde_json::from_value::<P>(position).map_err(|e| bad(&e))?),
    };
    serde_json::to_value(Page::new(items, position)).map_err(|e| ApiError::internal(e.to_string()))
}
