//! Standard Webhooks signatures (https://www.standardwebhooks.com), as Replicate sends them:
//! `webhook-signature: v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))> ...`, the key
//! being the base64 part of the `whsec_...` secret.

use crate::error::ApiError;
use base64ct::{Base64, Encoding};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Shorter keys are refused: an empty or tiny key would let anyone forge deliveries.
const MIN_KEY_BYTES: usize = 16;

/// The HMAC key: `whsec_` is optional; a secret that is not base64 is used as raw bytes, as
/// the reference libraries do.
fn key_bytes(secret: &str) -> Vec<u8> {
    let encoded = secret.trim();
    let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
    Base64::decode_vec(encoded).unwrap_or_else(|_| encoded.as_bytes().to_vec())
}

fn mac(key: &[u8], webhook_id: &str, webhook_timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac accepts any key length");
    mac.update(webhook_id.as_bytes());
    mac.update(b".");
    mac.update(webhook_timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` header value for a delivery (for the fake provider and tests).
pub fn sign_webhook(secret: &str, webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(&key_bytes(secret), webhook_id, &timestamp.to_string(), body).finalize();
    format!("v1,{}", Base64::encode_string(&tag.into_bytes()))
}

/// Accepts the delivery if its timestamp is within `tolerance_secs` of `now_unix` (either
/// way) and any `v1` entry of the signature header matches, compared in constant time.
pub fn verify_webhook(
    secret: &str,
    webhook_id: &str,
    webhook_timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), ApiError> {
    let key = key_bytes(secret);
    if key.len() < MIN_KEY_BYTES {
        return Err(ApiError::internal(
            "webhook signing secret is missing or shorter than 16 bytes",
        ));
    }
    let timestamp: i64 = webhook_timestamp
        .trim()
        .parse()
        .ok()
        .filter(|_| webhook_timestamp.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            ApiError::new(
                400,
                "webhook_timestamp",
                "webhook-timestamp must be Unix seconds",
            )
        })?;
    if (now_unix - timestamp).abs() > tolerance_secs {
        return Err(ApiError::new(
            400,
            "webhook_timestamp",
            "webhook-timestamp is outside the accepted window",
        ));
    }
    let bad_signature =
        || ApiError::new(401, "webhook_signature", "webhook signature does not match");
    if webhook_id.is_empty() {
        return Err(bad_signature());
    }
    let expected = mac(&key, webhook_id, webhook_timestamp, body);
    let matched = signature_header
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|sig| Base64::decode_vec(sig).ok())
        .any(|sig| expected.clone().verify_slice(&sig).is_ok());
    if matched {
        Ok(())
    } else {
        Err(bad_signature())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Standard Webhooks specification's published test vector.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    /// The spec's replay window; the webhooks function passes its own (Replicate's, the same).
    const TOLERANCE_SECS: i64 = 300;

    fn check(
        secret: &str,
        id: &str,
        ts: &str,
        sig: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), ApiError> {
        verify_webhook(secret, id, ts, sig, body, now, TOLERANCE_SECS)
    }

    #[test]
    fn signing_reproduces_the_standard_webhooks_test_vector() {
        assert_eq!(sign_webhook(SECRET, ID, TS, BODY), SIGNATURE);
    }

    #[test]
    fn the_test_vector_verifies_with_or_without_the_whsec_prefix() {
        assert!(check(SECRET, ID, "1614265330", SIGNATURE, BODY, TS).is_ok());
        assert!(check(
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ID,
            "1614265330",
            SIGNATURE,
            BODY,
            TS
        )
        .is_ok());
    }

    #[test]
    fn one_matching_entry_among_several_is_enough() {
        let header = format!("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v1a,xyz {SIGNATURE}");
        assert!(check(SECRET, ID, "1614265330", &header, BODY, TS).is_ok());
    }

    #[test]
    fn a_tampered_body_id_or_timestamp_is_a_401() {
        for (id, ts, body) in [
            (ID, "1614265330", &br#"{"test": 2432232315}"#[..]),
            ("msg_other", "1614265330", BODY),
            (ID, "1614265331", BODY),
        ] {
            let err = check(SECRET, id, ts, SIGNATURE, body, TS).unwrap_err();
            assert_eq!((err.status, err.code.as_str()), (401, "webhook_signature"));
        }
    }

    #[test]
    fn a_wrong_secret_or_missing_signature_is_a_401() {
        let other = "whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA==";
        for (secret, sig) in [
            (other, SIGNATURE),
            (SECRET, ""),
            (SECRET, "v1,"),
            (SECRET, "v2,abc"),
            (SECRET, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        ] {
            let err = check(secret, ID, "1614265330", sig, BODY, TS).unwrap_err();
            assert_eq!(err.code, "webhook_signature", "{sig}");
        }
        assert_eq!(
            check(SECRET, "", "1614265330", SIGNATURE, BODY, TS)
                .unwrap_err()
                .status,
            401
        );
    }

    #[test]
    fn stale_and_future_timestamps_beyond_tolerance_are_a_400() {
        for now in [TS + 301, TS - 301] {
            let err = check(SECRET, ID, "1614265330", SIGNATURE, BODY, now).unwrap_err();
            assert_eq!((err.status, err.code.as_str()), (400, "webhook_timestamp"));
        }
        assert!(check(SECRET, ID, "1614265330", SIGNATURE, BODY, TS + 300).is_ok());
        assert!(check(SECRET, ID, "1614265330", SIGNATURE, BODY, TS - 300).is_ok());
    }

    #[test]
    fn a_non_numeric_timestamp_is_a_400() {
        for ts in ["", "abc", "-1614265330", "1614265330.5", "+1614265330"] {
            let err = check(SECRET, ID, ts, SIGNATURE, BODY, TS).unwrap_err();
            assert_eq!(err.code, "webhook_timestamp", "{ts}");
        }
    }

    #[test]
    fn an_empty_or_short_secret_is_our_misconfiguration_not_a_forgery_hole() {
        let forged = sign_webhook("", ID, TS, BODY);
        for secret in ["", "whsec_", "whsec_c2hvcnQ="] {
            let err = check(secret, ID, "1614265330", &forged, BODY, TS).unwrap_err();
            assert_eq!(err.status, 500);
            assert!(!err.cause.unwrap().contains("c2hvcnQ"));
        }
    }

    #[test]
    fn signing_then_verifying_round_trips_for_many_deliveries() {
        let mut gen = crate::test_support::Gen::new(29);
        for i in 0..300 {
            let body: Vec<u8> = (0..gen.below(200)).map(|_| gen.next_u64() as u8).collect();
            let id = format!("msg_{i}");
            let ts = TS + i;
            let sig = sign_webhook(SECRET, &id, ts, &body);
            assert!(check(SECRET, &id, &ts.to_string(), &sig, &body, ts).is_ok());
        }
    }
}
