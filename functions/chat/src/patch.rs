//! The body of a `PATCH`: a non-empty JSON object, sent to SQL as it came. The SQL function
//! names the fields it accepts and checks each one (PT400, a 400 here), so the list of
//! changeable fields lives in one place.

use genbase_shared::error::ApiError;
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Patch(Map<String, Value>);

impl Patch {
    /// `fields` is what the resource lets its owner change, for the message.
    pub fn parse(body: Value, fields: &str) -> Result<Patch, ApiError> {
        match body {
            Value::Object(map) if !map.is_empty() => Ok(Patch(map)),
            Value::Object(_) => Err(ApiError::validation(format!(
                "nothing to update: send {fields}"
            ))),
            _ => Err(ApiError::validation(format!(
                "body must be a JSON object with {fields}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_non_empty_object_is_a_patch() {
        let patch = Patch::parse(json!({"active": false}), "content or active").unwrap();
        assert_eq!(
            serde_json::to_value(patch).unwrap(),
            json!({"active": false})
        );
        for (body, message) in [
            (json!({}), "nothing to update: send content or active"),
            (
                json!([1]),
                "body must be a JSON object with content or active",
            ),
            (
                json!(null),
                "body must be a JSON object with content or active",
            ),
        ] {
            let err = Patch::parse(body, "content or active").unwrap_err();
            assert_eq!((err.status, err.message.as_str()), (400, message));
        }
    }
}
