//! Identifiers and timestamps in the shapes Replicate uses, so code that validates or logs them
//! sees realistic values.

use genbase_shared::calendar::civil_from_days;
use rand::Rng;
use std::time::{SystemTime, UNIX_EPOCH};

/// Current prediction ids look like `qpt5jq1fssrmc0cmd5hvy31mdg`: 26 characters of lowercase
/// Crockford base32 (no i, l, o, u).
pub fn prediction_id() -> String {
    random_from(b"0123456789abcdefghjkmnpqrstvwxyz", 26)
}

/// Standard Webhooks message ids in the usual `msg_` + 27 base62 shape.
pub fn message_id() -> String {
    format!(
        "msg_{}",
        random_from(
            b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            27
        )
    )
}

fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// RFC 3339 in UTC with microseconds, like Replicate's `2023-09-08T16:19:34.765994Z` (by hand:
/// no date crate in the workspace for one format).
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        let t = UNIX_EPOCH + Duration::from_micros(1_694_189_974_765_994);
        assert_eq!(rfc3339(t), "2023-09-08T16:19:34.765994Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        // A leap day.
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000000Z"
        );
    }

    #[test]
    fn ids_have_the_expected_shape() {
        let id = prediction_id();
        assert_eq!(id.len(), 26);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
        let m = message_id();
        assert!(m.starts_with("msg_") && m.len() == 31);
        assert_ne!(prediction_id(), prediction_id());
    }
}
