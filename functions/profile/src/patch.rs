//! A validated partial update of the caller's profile. Only editable fields pass; fields that
//! would change privileges or billing are refused with 403 so a client learns they are not
//! theirs to set, rather than being silently dropped.

use genbase_shared::error::ApiError;
use genbase_shared::validate::{DisplayName, HttpUrl, ShortText};
use serde::Serialize;
use serde_json::{Map, Value};

/// Keys a user may never set on themselves.
const PRIVILEGED: [&str; 9] = [
    "id",
    "role",
    "is_active",
    "plan",
    "email",
    "credits",
    "balance",
    "created_at",
    "updated_at",
];
const MAX_SETTINGS_BYTES: usize = 16 * 1024;

/// Sent to SQL as the JSON object of the fields to change.
#[derive(Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ProfilePatch(Map<String, Value>);

impl ProfilePatch {
    pub fn parse(body: Value) -> Result<ProfilePatch, ApiError> {
        let Value::Object(fields) = body else {
            return Err(ApiError::validation(
                "body must be a JSON object of profile fields",
            ));
        };
        if fields.is_empty() {
            return Err(ApiError::validation("nothing to update"));
        }
        let mut out = Map::new();
        for (key, value) in fields {
            if PRIVILEGED.contains(&key.as_str()) {
                return Err(ApiError::forbidden(format!(
                    "{key} cannot be changed by its owner"
                )));
            }
            let clean = match key.as_str() {
                "display_name" => Value::String(
                    DisplayName::parse(text(&key, &value)?)?
                        .as_str()
                        .to_string(),
                ),
                "avatar_url" => nullable(&key, &value, |s| {
                    Ok(HttpUrl::parse("avatar_url", s)?.as_str().to_string())
                })?,
                "telegram_username" => nullable(&key, &value, |s| short(&key, s, 64))?,
                "preferred_model_provider" => nullable(&key, &value, |s| short(&key, s, 64))?,
                "preferred_model_name" => nullable(&key, &value, |s| short(&key, s, 128))?,
                "settings" => settings(value)?,
                other => return Err(ApiError::validation(format!("unknown field {other:?}"))),
            };
            out.insert(key, clean);
        }
        Ok(ProfilePatch(out))
    }
}

fn text<'a>(key: &str, value: &'a Value) -> Result<&'a str, ApiError> {
    value
        .as_str()
        .ok_or_else(|| ApiError::validation(format!("{key} must be a string")))
}

fn short(key: &str, s: &str, max: usize) -> Result<String, ApiError> {
    Ok(ShortText::parse(key, s, max)?.into_string())
}

/// `null` clears an optional field; anything else must be a valid string.
fn nullable(
    key: &str,
    value: &Value,
    parse: impl FnOnce(&str) -> Result<String, ApiError>,
) -> Result<Value, ApiError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    Ok(Value::String(parse(text(key, value)?)?))
}

fn settings(value: Value) -> Result<Value, ApiError> {
    if !value.is_object() {
        return Err(ApiError::validation("settings must be a JSON object"));
    }
    if value.to_string().len() > MAX_SETTINGS_BYTES {
        return Err(ApiError::validation("settings must be at most 16 KiB"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn editable_fields_pass_through_trimmed() {
        let p =
            ProfilePatch::parse(json!({"display_name": "  Ada  ", "avatar_url": null})).unwrap();
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"display_name": "Ada", "avatar_url": null})
        );
    }

    #[test]
    fn privileged_fields_are_forbidden() {
        for key in ["role", "is_active", "credits"] {
            let err = ProfilePatch::parse(json!({ key: "admin" })).unwrap_err();
            assert_eq!(err.status, 403, "{key}");
        }
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_bad_requests() {
        for body in [
            json!({"nickname": "x"}),
            json!({"display_name": 42}),
            json!({"display_name": ""}),
            json!({"display_name": "x".repeat(81)}),
            json!({"avatar_url": "javascript:alert(1)"}),
            json!({"settings": [1, 2]}),
            json!({"settings": {"blob": "x".repeat(17 * 1024)}}),
            json!({}),
            json!([1]),
        ] {
            let err = ProfilePatch::parse(body.clone()).unwrap_err();
            assert_eq!(err.status, 400, "{body}");
        }
    }
}
