//! The Standard Webhooks signature check: any headers and body are a 400 (the timestamp) or
//! a 401 (the signature), never a panic or a 5xx; a delivery we signed verifies, among other
//! entries of the header, and changing any one byte of it refuses it.

use super::text;
use crate::webhook::{sign_webhook, verify_webhook};
use proptest::prelude::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: i64 = 1_800_000_000;
const TOLERANCE_SECS: i64 = 300;

fn check(id: &str, timestamp: &str, header: &str, body: &[u8]) -> Result<(), (u16, String)> {
    verify_webhook(SECRET, id, timestamp, header, body, NOW, TOLERANCE_SECS)
        .map_err(|err| (err.status, err.code))
}

/// A `webhook-timestamp`: anything, digits (in the window or not, overflowing `i64` or
/// not), and what `str::parse` takes but Unix seconds are not (signs, spaces).
fn timestamp() -> impl Strategy<Value = String> {
    prop_oneof![
        text(),
        "[0-9]{0,25}",
        (NOW - 1000..NOW + 1000).prop_map(|t| t.to_string()),
        (NOW - 1000..NOW + 1000).prop_map(|t| format!("+{t}")),
        (NOW - 1000..NOW + 1000).prop_map(|t| format!(" {t}")),
        any::<i64>().prop_map(|t| t.to_string()),
    ]
}

/// A `webhook-signature` header: anything, and space-separated `v<n>,<base64>` entries.
fn signature_header() -> impl Strategy<Value = String> {
    let entry = ("v[0-9a]?,", prop_oneof!["[A-Za-z0-9+/=]{0,60}", text()])
        .prop_map(|(version, sig)| format!("{version}{sig}"));
    prop_oneof![
        text(),
        prop::collection::vec(entry, 0..4).prop_map(|entries| entries.join(" ")),
    ]
}

fn delivery() -> impl Strategy<Value = (String, i64, Vec<u8>)> {
    (
        "[ -~]{1,40}",
        -TOLERANCE_SECS..=TOLERANCE_SECS,
        prop::collection::vec(any::<u8>(), 0..512),
    )
        .prop_map(|(id, skew, body)| (id, NOW + skew, body))
}

proptest! {
    #[test]
    fn any_delivery_is_refused_as_a_400_or_401(
        id in text(),
        timestamp in timestamp(),
        header in signature_header(),
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let (status, code) = check(&id, &timestamp, &header, &body)
            .expect_err("no random header is a valid signature");
        prop_assert!(
            matches!((status, code.as_str()), (400, "webhook_timestamp") | (401, "webhook_signature")),
            "{status} {code}"
        );
    }

    #[test]
    fn a_signed_delivery_verifies_among_other_entries(
        (id, timestamp, body) in delivery(),
        before in signature_header(),
        after in signature_header(),
    ) {
        let ours = sign_webhook(SECRET, &id, timestamp, &body);
        prop_assert_eq!(check(&id, &timestamp.to_string(), &ours, &body), Ok(()));
        let among = format!("{before} {ours} {after}");
        prop_assert_eq!(check(&id, &timestamp.to_string(), &among, &body), Ok(()));
    }

    #[test]
    fn changing_any_one_byte_of_a_signed_delivery_refuses_it(
        (id, timestamp, body) in delivery(),
        part in 0usize..4,
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let timestamp = timestamp.to_string();
        let header = sign_webhook(SECRET, &id, timestamp.parse().expect("digits"), &body);
        let (mut id, mut timestamp, mut header, mut body) =
            (id.into_bytes(), timestamp.into_bytes(), header.into_bytes(), body);
        // Id, timestamp and header are text, so their bytes change to other ASCII.
        let target = match part {
            0 => &mut id,
            1 => &mut timestamp,
            2 => &mut header,
            _ => &mut body,
        };
        prop_assume!(!target.is_empty());
        let at = at.index(target.len());
        let byte = if part == 3 { byte } else { byte % 0x80 };
        prop_assume!(target[at] != byte);
        target[at] = byte;
        let utf8 = |bytes: Vec<u8>| String::from_utf8(bytes).expect("ASCII");
        let outcome = check(&utf8(id), &utf8(timestamp), &utf8(header), &body);
        prop_assert!(outcome.is_err(), "part {} byte {} at {}", part, byte, at);
    }
}

/// Like [`changing_any_one_byte_of_a_signed_delivery_refuses_it`], exhaustively on the last
/// base64 character of the signature, whose low bits are padding a lax decoder would ignore.
#[test]
fn no_other_spelling_of_the_signature_verifies() {
    let header = sign_webhook(SECRET, "msg_1", NOW, b"{}");
    let at = header.trim_end_matches('=').len() - 1;
    for other in (0x20u8..0x7f).filter(|b| *b != header.as_bytes()[at]) {
        let mut changed = header.clone().into_bytes();
        changed[at] = other;
        let changed = String::from_utf8(changed).expect("ASCII");
        assert!(
            check("msg_1", &NOW.to_string(), &changed, b"{}").is_err(),
            "{changed}"
        );
    }
}
