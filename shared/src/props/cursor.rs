//! The keyset cursor: any string a client sends as `cursor` (with any `limit`) is a page
//! position or a 400 naming the cursor, and every position a list reports comes back from
//! the cursor made of it.

use super::{json_value, text};
use crate::keyset::{NewestFirst, NewestFirstArgs};
use crate::validate::{Cursor, MAX_CURSOR_CHARS};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The ledger's position (credits and workspace credits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ledger {
    before_id: i64,
}

const REFUSAL: &str = "cursor is not a cursor this API issued";

/// What a client may send: any text, the base64url alphabet (with the padding and standard
/// characters it does not use), base64url of any JSON, and longer strings than we accept.
fn cursor_text() -> impl Strategy<Value = String> {
    prop_oneof![
        text(),
        any::<String>(),
        "[A-Za-z0-9_=+/-]{0,700}",
        json_value().prop_map(|v| URL_SAFE_NO_PAD.encode(v.to_string())),
    ]
}

/// A timestamp as Postgres renders `timestamptz` into JSON, and a UUID: what every
/// newest-first list reports.
fn newest_first() -> impl Strategy<Value = NewestFirst> {
    (
        "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?\\+00:00",
        "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
    )
        .prop_map(|(created_at, id)| NewestFirst { created_at, id })
}

proptest! {
    #[test]
    fn any_cursor_and_limit_are_a_position_or_a_400(
        cursor in cursor_text(),
        limit in prop::option::of(prop_oneof![text(), any::<i64>().prop_map(|n| n.to_string())]),
    ) {
        for outcome in [
            Cursor::<NewestFirst>::parse(Some(&cursor)).map(|_| ()),
            Cursor::<Ledger>::parse(Some(&cursor)).map(|_| ()),
            Cursor::<Value>::parse(Some(&cursor)).map(|_| ()),
        ] {
            if let Err(err) = outcome {
                prop_assert_eq!((err.status, err.code.as_str(), err.message.as_str()),
                                (400, "validation_failed", REFUSAL));
            }
        }
        if let Err(err) = NewestFirstArgs::parse(Some(&cursor), limit.as_deref()) {
            prop_assert_eq!((err.status, err.code.as_str()), (400, "validation_failed"));
            prop_assert!(
                ["cursor ", "limit "].iter().any(|p| err.message.starts_with(p)),
                "{}", err.message
            );
        }
    }

    #[test]
    fn only_a_json_object_of_the_lists_shape_is_a_position(value in json_value()) {
        let cursor = URL_SAFE_NO_PAD.encode(value.to_string());
        // Arrays would deserialize into a struct too: only an object is a position.
        let expected = (cursor.len() <= MAX_CURSOR_CHARS && value.is_object())
            .then(|| serde_json::from_value::<Ledger>(value).ok())
            .flatten();
        let parsed = Cursor::<Ledger>::parse(Some(&cursor))
            .ok()
            .flatten()
            .map(Cursor::into_position);
        prop_assert_eq!(parsed, expected);
    }

    #[test]
    fn a_position_round_trips_through_its_cursor_while_it_fits(
        created_at in text(), id in text(), before_id in any::<i64>(),
    ) {
        let position = NewestFirst { created_at, id };
        let encoded = Cursor::new(position).encode();
        let parsed = Cursor::<NewestFirst>::parse(Some(&encoded));
        if encoded.len() <= MAX_CURSOR_CHARS {
            let back = parsed.expect("a cursor we issued").expect("present").into_position();
            let again = Cursor::new(back).encode();
            prop_assert_eq!(again, encoded);
        } else {
            prop_assert_eq!(parsed.expect_err("too long").message, REFUSAL);
        }
        let ledger = Cursor::new(Ledger { before_id }).encode();
        let back = Cursor::<Ledger>::parse(Some(&ledger)).expect("ours").expect("present");
        prop_assert_eq!(back.into_position(), Ledger { before_id });
    }

    #[test]
    fn every_newest_first_position_comes_back_as_sql_arguments(position in newest_first()) {
        let (created_at, id) = (position.created_at.clone(), position.id.clone());
        let cursor = Cursor::new(position).encode();
        prop_assert!(cursor.len() <= MAX_CURSOR_CHARS);
        let args = NewestFirstArgs::parse(Some(&cursor), None).expect("a cursor we issued");
        let args = serde_json::to_value(args).expect("serializes");
        prop_assert_eq!(&args["cursor_created_at"], &Value::from(created_at));
        prop_assert_eq!(&args["cursor_id"], &Value::from(id));
    }
}
