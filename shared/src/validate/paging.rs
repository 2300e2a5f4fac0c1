use super::invalid;
use crate::error::ApiError;
use base64ct::{Base64UrlUnpadded, Encoding};
use serde::de::DeserializeOwned;
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

/// Longest cursor accepted: room for the longest position a list reports, a prompt
/// template's (a name of up to 100 characters, six bytes each as escaped JSON, and its id:
/// 874 characters encoded). A limit under that refused cursors the API itself had issued.
pub const MAX_CURSOR_CHARS: usize = 1024;

/// An opaque keyset-pagination cursor: where the next page of one list starts. `P` is that
/// list's position, the columns of its order (`{created_at, id}` for generations, `{before_id}`
/// for the ledger); the client sees base64url (unpadded) of its JSON. Not signed: tampering
/// only moves the page window within rows RLS already lets the caller see. A cursor of another
/// list, or of another shape, is refused like garbage.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor<P>(P);

impl<P: Serialize + DeserializeOwned> Cursor<P> {
    pub fn new(position: P) -> Cursor<P> {
        Cursor(position)
    }

    /// The `cursor` query parameter, if the request has one.
    pub fn parse(cursor: Option<&str>) -> Result<Option<Cursor<P>>, ApiError> {
        let Some(cursor) = cursor else {
            return Ok(None);
        };
        let bad = || invalid("cursor", "is not a cursor this API issued");
        if cursor.is_empty() || cursor.len() > MAX_CURSOR_CHARS {
            return Err(bad());
        }
        let bytes = Base64UrlUnpadded::decode_vec(cursor).map_err(|_| bad())?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value @ Value::Object(_)) => serde_json::from_value(value)
                .map(|p| Some(Cursor(p)))
                .map_err(|_| bad()),
            _ => Err(bad()),
        }
    }

    pub fn encode(&self) -> String {
        let json = serde_json::to_string(&self.0).unwrap_or_default();
        Base64UrlUnpadded::encode_string(json.as_bytes())
    }

    pub fn into_position(self) -> P {
        self.0
    }
}

/// Sent to clients as the opaque string.
impl<P: Serialize + DeserializeOwned> Serialize for Cursor<P> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.encode())
    }
}

/// One page of a keyset list, the shape every list answers with: `{items, next_cursor}`,
/// `next_cursor` null on the last page. Lists with a summary (the credits balance) flatten
/// this into their answer.
#[derive(Debug, Serialize)]
pub struct Page<P: Serialize + DeserializeOwned> {
    pub items: Value,
    pub next_cursor: Option<Cursor<P>>,
}

impl<P: Serialize + DeserializeOwned> Page<P> {
    /// `items` as SQL returned them, and the position after the last one, if more follow.
    pub fn new(items: Value, next: Option<P>) -> Page<P> {
        Page {
            items,
            next_cursor: next.map(Cursor::new),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{Gen, MIXED};
    use serde::Deserialize;
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

    /// A position like the generations list's.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct At {
        created_at: String,
        id: String,
    }

    /// A position like the ledger's.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Before {
        before_id: i64,
    }

    fn at() -> At {
        At {
            created_at: "2025-01-02T03:04:05.123456+00:00".into(),
            id: "8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f10".into(),
        }
    }

    #[test]
    fn a_cursor_round_trips_its_position() {
        let encoded = Cursor::new(at()).encode();
        assert!(encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let parsed = Cursor::<At>::parse(Some(&encoded)).unwrap().unwrap();
        assert_eq!(parsed.into_position(), at());
        assert_eq!(Cursor::<At>::parse(None), Ok(None));
    }

    #[test]
    fn a_page_is_items_and_an_opaque_next_cursor() {
        let page = Page::new(json!([{"id": 1}]), Some(Before { before_id: 1 }));
        let sent = serde_json::to_value(&page).unwrap();
        let cursor = sent["next_cursor"].as_str().unwrap();
        assert_eq!(sent["items"], json!([{"id": 1}]));
        assert_eq!(
            Cursor::<Before>::parse(Some(cursor))
                .unwrap()
                .unwrap()
                .into_position(),
            Before { before_id: 1 }
        );
        let last = serde_json::to_value(Page::<Before>::new(json!([]), None)).unwrap();
        assert_eq!(last, json!({"items": [], "next_cursor": null}));
    }

    #[test]
    fn garbage_oversized_and_foreign_cursors_are_refused() {
        // A position of the right shape, refused for its length alone.
        let too_long = Cursor::new(At {
            created_at: "x".repeat(MAX_CURSOR_CHARS),
            id: at().id,
        })
        .encode();
        for bad in [
            "".to_string(),
            "not base64!".to_string(),
            Base64UrlUnpadded::encode_string("[1,2]".as_bytes()),
            Base64UrlUnpadded::encode_string("\"str\"".as_bytes()),
            Base64UrlUnpadded::encode_string("{broken".as_bytes()),
            format!("{}==", Cursor::new(at()).encode()),
            Cursor::new(Before { before_id: 5 }).encode(),
            Base64UrlUnpadded::encode_string(r#"{"created_at": "x", "id": 5}"#.as_bytes()),
            too_long,
        ] {
            let err = Cursor::<At>::parse(Some(&bad)).unwrap_err();
            assert_eq!(
                (err.status, err.message.as_str()),
                (400, "cursor is not a cursor this API issued"),
                "{bad}"
            );
        }
    }

    #[test]
    fn random_positions_round_trip_and_random_strings_never_panic() {
        let mut gen = Gen::new(23);
        for _ in 0..1000 {
            let position = At {
                created_at: gen.string(MIXED, 20),
                id: gen.string(MIXED, 20),
            };
            let encoded = Cursor::new(position.clone()).encode();
            let parsed = Cursor::<At>::parse(Some(&encoded)).unwrap().unwrap();
            assert_eq!(parsed.into_position(), position);
        }
        let b64: Vec<char> = ('a'..='z')
            .chain('A'..='Z')
            .chain("0123456789-_=+/".chars())
            .collect();
        for _ in 0..3000 {
            let s = gen.string(&b64, 80);
            if let Err(err) = Cursor::<Before>::parse(Some(&s)) {
                assert_eq!(err.status, 400);
            }
        }
    }
}
