use super::invalid;
use crate::error::ApiError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use serde_json::Value;

/// Page size: 1 to 100, 20 when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Limit(u32);

impl Limit {
    pub const DEFAULT: u32 = 20;
    pub const MAX: u32 = crate::limits::PAGE_LIMIT_MAX;

    /// From the `limit` query parameter, if any.
    pub fn parse(value: Option<&str>) -> Result<Limit, ApiError> {
        let Some(value) = value else {
            return Ok(Limit::default());
        };
        match value.trim().parse::<u32>() {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Limit(n)),
            _ => Err(invalid(
                "limit",
                &format!("must be an integer from 1 to {}", Self::MAX),
            )),
        }
    }

    pub fn get(&self) -> u32 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Limit {
        Limit(Self::DEFAULT)
    }
}

/// Longest cursor accepted; ours are well under 200.
pub const MAX_CURSOR_CHARS: usize = 512;

/// An opaque keyset-pagination cursor: base64url (unpadded) of a small JSON object such as
/// `{"created_at": "...", "id": "..."}`. Not signed: tampering only moves the page window
/// within rows RLS already lets the caller see.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor(Value);

impl Cursor {
    pub fn encode(position: &Value) -> String {
        URL_SAFE_NO_PAD.encode(position.to_string())
    }

    pub fn decode(cursor: &str) -> Result<Value, ApiError> {
        Self::parse(cursor).map(Cursor::into_value)
    }

    pub fn parse(cursor: &str) -> Result<Cursor, ApiError> {
        let bad = || invalid("cursor", "is not a cursor this API issued");
        if cursor.is_empty() || cursor.len() > MAX_CURSOR_CHARS {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value @ Value::Object(_)) => Ok(Cursor(value)),
            _ => Err(bad()),
        }
    }

    pub fn value(&self) -> &Value {
        &self.0
    }

    pub fn into_value(self) -> Value {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{Gen, MIXED};
    use serde_json::json;

    #[test]
    fn limit_defaults_to_20_and_accepts_1_to_100() {
        assert_eq!(Limit::parse(None).unwrap().get(), 20);
        for n in -200i64..=300 {
            let parsed = Limit::parse(Some(&n.to_string()));
            assert_eq!(parsed.is_ok(), (1..=100).contains(&n), "{n}");
            if let Ok(limit) = parsed {
                assert_eq!(i64::from(limit.get()), n);
            }
        }
        for bad in ["", "ten", "1.5", "0x10", "99999999999999999999"] {
            assert_eq!(
                Limit::parse(Some(bad)).unwrap_err().message,
                "limit must be an integer from 1 to 100"
            );
        }
    }

    #[test]
    fn a_cursor_round_trips_its_position() {
        let position = json!({"created_at": "2025-01-02T03:04:05.123456+00:00", "id": "8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f10"});
        let encoded = Cursor::encode(&position);
        assert!(encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(Cursor::decode(&encoded).unwrap(), position);
    }

    #[test]
    fn garbage_and_oversized_cursors_are_refused() {
        let too_long = Cursor::encode(&json!({"pad": "x".repeat(400)}));
        for bad in [
            "".to_string(),
            "not base64!".to_string(),
            URL_SAFE_NO_PAD.encode("[1,2]"),
            URL_SAFE_NO_PAD.encode("\"str\""),
            URL_SAFE_NO_PAD.encode("{broken"),
            format!("{}==", Cursor::encode(&json!({"a": 1}))),
            too_long,
        ] {
            let err = Cursor::decode(&bad).unwrap_err();
            assert_eq!(
                (err.status, err.message.as_str()),
                (400, "cursor is not a cursor this API issued")
            );
        }
    }

    #[test]
    fn random_objects_round_trip_and_random_strings_never_panic() {
        let mut gen = Gen::new(23);
        for _ in 0..1000 {
            let key = gen.string(MIXED, 10);
            let value = gen.string(MIXED, 40);
            let position = json!({ key: value, "n": gen.next_u64() });
            assert_eq!(
                Cursor::decode(&Cursor::encode(&position)).unwrap(),
                position
            );
        }
        let b64: Vec<char> = ('a'..='z')
            .chain('A'..='Z')
            .chain("0123456789-_=+/".chars())
            .collect();
        for _ in 0..3000 {
            let s = gen.string(&b64, 80);
            if let Ok(value) = Cursor::decode(&s) {
                assert!(value.is_object());
            }
        }
    }
}
