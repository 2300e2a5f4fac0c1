use super::invalid;
use crate::error::ApiError;
use crate::limits;
use serde::Serialize;
use std::fmt;
use uuid::Uuid;

/// A UUID in its canonical hyphenated form (other forms `uuid` accepts, such as braces or
/// `urn:uuid:`, are refused so one id has one spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Id(Uuid);

impl Id {
    pub fn parse(field: &str, value: &str) -> Result<Id, ApiError> {
        if value.len() != 36 {
            return Err(invalid(field, "must be a UUID"));
        }
        Uuid::parse_str(value)
            .map(Id)
            .map_err(|_| invalid(field, "must be a UUID"))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// The `Idempotency-Key` header: 1 to [`limits::IDEMPOTENCY_KEY_CHARS`] printable ASCII
/// characters, kept exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = limits::IDEMPOTENCY_KEY_CHARS;

    pub fn parse(value: &str) -> Result<IdempotencyKey, ApiError> {
        let printable = value.bytes().all(|b| (0x20..0x7f).contains(&b));
        if value.trim().is_empty() || value.len() > Self::MAX_LEN || !printable {
            return Err(invalid(
                "Idempotency-Key",
                &format!("must be 1 to {} printable ASCII characters", Self::MAX_LEN),
            ));
        }
        Ok(IdempotencyKey(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{Gen, MIXED};

    #[test]
    fn a_canonical_uuid_parses_and_prints_lower_case() {
        let id = Id::parse("id", "8D0FD2B3-9CA7-4E54-9D1C-4A9D7E3C2F10").unwrap();
        assert_eq!(id.to_string(), "8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f10");
        assert_eq!(
            serde_json::to_value(id).unwrap(),
            "8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f10"
        );
    }

    #[test]
    fn other_uuid_spellings_and_garbage_are_refused_naming_the_field() {
        for bad in [
            "",
            "8d0fd2b39ca74e549d1c4a9d7e3c2f10",
            "{8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f10}",
            "urn:uuid:8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f10",
            "8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f1g",
            "' or 1=1 --",
        ] {
            let err = Id::parse("generation_id", bad).unwrap_err();
            assert_eq!((err.status, err.code.as_str()), (400, "validation_failed"));
            assert!(err.message.starts_with("generation_id "), "{}", err.message);
        }
    }

    #[test]
    fn every_random_v4_uuid_round_trips_and_random_strings_never_panic() {
        for _ in 0..500 {
            let uuid = Uuid::new_v4();
            let id = Id::parse("id", &uuid.to_string()).unwrap();
            assert_eq!(id.to_string(), uuid.to_string());
        }
        let mut gen = Gen::new(7);
        for _ in 0..2000 {
            let s = gen.string(MIXED, 40);
            if let Ok(id) = Id::parse("id", &s) {
                assert_eq!(id.to_string(), s.to_lowercase());
            }
        }
    }

    #[test]
    fn idempotency_keys_are_printable_ascii_up_to_the_limit() {
        assert_eq!(
            IdempotencyKey::parse("order 42:retry-1").unwrap().as_str(),
            "order 42:retry-1"
        );
        assert!(IdempotencyKey::parse(&"k".repeat(IdempotencyKey::MAX_LEN)).is_ok());
        for bad in ["", "   ", "tab\there", "é", "line\n"] {
            let err = IdempotencyKey::parse(bad).unwrap_err();
            assert!(err.message.starts_with("Idempotency-Key "));
        }
        assert!(IdempotencyKey::parse(&"k".repeat(IdempotencyKey::MAX_LEN + 1)).is_err());
    }

    #[test]
    fn an_accepted_idempotency_key_is_always_printable_and_kept_verbatim() {
        let mut gen = Gen::new(11);
        for _ in 0..2000 {
            let s = gen.string(MIXED, 300);
            match IdempotencyKey::parse(&s) {
                Ok(key) => {
                    assert_eq!(key.as_str(), s);
                    assert!(
                        s.len() <= IdempotencyKey::MAX_LEN
                            && s.bytes().all(|b| (0x20..0x7f).contains(&b))
                    );
                }
                Err(err) => assert_eq!(err.status, 400),
            }
        }
    }
}
