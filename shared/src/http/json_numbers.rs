//! Numbers a request may carry. Postgres keeps a JSON number as an exact decimal, and near the
//! largest double that decimal reads back out of range (`-1.7976931348623157e308` goes in and
//! cannot come out: found by Schemathesis in a profile's `settings`). No value this API takes
//! comes near: a body with a larger number is refused before anything stores it.

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// The largest magnitude a request's numbers may have.
pub const MAX_NUMBER_MAGNITUDE: f64 = 1e300;

/// Walks a document without keeping it; an error names the first number past the bound.
pub struct BoundedNumbers;

impl<'de> Deserialize<'de> for BoundedNumbers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BoundedNumbers)
    }
}

impl<'de> Visitor<'de> for BoundedNumbers {
    type Value = BoundedNumbers;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if v.abs() > MAX_NUMBER_MAGNITUDE {
            return Err(E::custom(format!(
                "numbers must be between -1e300 and 1e300, not {v:e}"
            )));
        }
        Ok(self)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(self)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(self)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(self)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(self)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<BoundedNumbers>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, BoundedNumbers>()?.is_some() {}
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::BoundedNumbers;

    fn check(body: &str) -> Result<(), String> {
        serde_json::from_str::<BoundedNumbers>(body)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn ordinary_documents_pass() {
        for body in [
            r#"{"a": [1, -2, 3.5, 1e300, -1e300, 18446744073709551615], "b": {"c": null, "d": "x"}}"#,
            "[]",
            "true",
        ] {
            assert_eq!(check(body), Ok(()), "{body}");
        }
    }

    #[test]
    fn a_number_near_the_largest_double_is_refused_wherever_it_sits() {
        for body in [
            r#"{"settings": {"x": [1, {"y": -1.7976931348623157e308}]}}"#,
            "[1e301]",
            "12345678901234567890e285",
        ] {
            let err = check(body).unwrap_err();
            assert!(err.contains("between -1e300 and 1e300"), "{body}: {err}");
        }
    }
}
