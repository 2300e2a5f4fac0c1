//! `GET /v1/media?kind=image,video&favorite=true&q=&cursor=&limit=`, parsed into
//! `api.list_media`'s arguments. Every parameter is checked here, with SQL's own messages, so
//! a bad one is a 400 before any network hop; an unknown one is refused rather than ignored,
//! since a misspelt filter would otherwise list everything.

use genbase_shared::error::ApiError;
use genbase_shared::keyset::NewestFirstArgs;
use genbase_shared::limits;
use genbase_shared::rpc::RpcArgs;
use genbase_shared::validate::ShortText;
use serde::Serialize;

/// `public.generations.kind`, in SQL's order.
const KINDS: [&str; 6] = ["image", "video", "audio", "music", "text", "tts"];
const PARAMS: [&str; 5] = ["kind", "favorite", "q", "cursor", "limit"];

/// `api.list_media`. Its page is newest first, id to break ties: the same position as
/// `GET /v1/generations`.
#[derive(Debug, PartialEq, Serialize)]
pub struct ListMedia {
    pub kinds: Option<Vec<&'static str>>,
    pub favorite: Option<bool>,
    pub q: Option<ShortText>,
    #[serde(flatten)]
    pub page: NewestFirstArgs,
}

impl RpcArgs for ListMedia {
    const FUNCTION: &'static str = "list_media";
}

impl ListMedia {
    pub fn from_query(query: &[(String, String)]) -> Result<ListMedia, ApiError> {
        for (i, (name, _)) in query.iter().enumerate() {
            if !PARAMS.contains(&name.as_str()) {
                return Err(ApiError::validation(format!(
                    "unknown query parameter {name} (use {})",
                    PARAMS.join(", ")
                )));
            }
            if query[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(ApiError::validation(format!(
                    "{name} is given more than once (several kinds go in one: kind=image,video)"
                )));
            }
        }
        let param = |name: &str| {
            query
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        Ok(ListMedia {
            page: NewestFirstArgs::parse(param("cursor"), param("limit"))?,
            kinds: param("kind").map(parse_kinds).transpose()?,
            favorite: param("favorite").map(parse_favorite).transpose()?,
            q: param("q")
                .map(|q| ShortText::parse("q", q, limits::Q_CHARS))
                .transpose()?,
        })
    }
}

fn parse_kinds(value: &str) -> Result<Vec<&'static str>, ApiError> {
    value
        .split(',')
        .map(|kind| {
            KINDS
                .iter()
                .find(|k| **k == kind.trim())
                .copied()
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "kind must be a comma-separated list of {}",
                        KINDS.join(", ")
                    ))
                })
        })
        .collect()
}

fn parse_favorite(value: &str) -> Result<bool, ApiError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::validation("favorite must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use genbase_shared::http::parse_query;
    use genbase_shared::keyset::NewestFirst;
    use genbase_shared::rpc::sql_args;
    use genbase_shared::validate::Cursor;
    use serde_json::json;

    fn parse(query: &str) -> Result<ListMedia, ApiError> {
        ListMedia::from_query(&parse_query(query))
    }

    #[test]
    fn every_filter_reaches_sql_under_its_parameter_name() {
        let cursor = Cursor::new(NewestFirst {
            created_at: "2026-01-02T03:04:05+00:00".into(),
            id: "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11".into(),
        })
        .encode();
        let args = parse(&format!(
            "kind=image,%20video&favorite=true&q=+red+fox+&limit=5&cursor={cursor}"
        ))
        .unwrap();
        assert_eq!(
            sql_args(&args).unwrap(),
            json!({"p_kinds": ["image", "video"], "p_favorite": true, "p_q": "red fox",
                   "p_limit": 5, "p_cursor_created_at": "2026-01-02T03:04:05+00:00",
                   "p_cursor_id": "7d1f0a36-1c55-4f43-9d57-8f2b7a1e0c11"})
        );
        assert_eq!(
            sql_args(&parse("").unwrap()).unwrap(),
            json!({"p_kinds": null, "p_favorite": null, "p_q": null, "p_limit": 20,
                   "p_cursor_created_at": null, "p_cursor_id": null})
        );
    }

    #[test]
    fn bad_parameters_are_refused_with_a_message_naming_them() {
        let too_long = format!("q={}", "a".repeat(limits::Q_CHARS + 1));
        for (query, message) in [
            (
                "kind=picture",
                "kind must be a comma-separated list of image, video, audio, music, text, tts",
            ),
            (
                "kind=image,",
                "kind must be a comma-separated list of image, video, audio, music, text, tts",
            ),
            (
                "kind=",
                "kind must be a comma-separated list of image, video, audio, music, text, tts",
            ),
            ("favorite=yes", "favorite must be true or false"),
            ("q=", "q must be 1 to 200 characters"),
            (too_long.as_str(), "q must be 1 to 200 characters"),
            ("q=a%00b", "q must not contain control characters"),
            ("limit=0", "limit must be an integer from 1 to 100"),
            ("cursor=zzz", "cursor is not a cursor this API issued"),
            (
                "kinds=image",
                "unknown query parameter kinds (use kind, favorite, q, cursor, limit)",
            ),
            (
                "kind=image&kind=video",
                "kind is given more than once (several kinds go in one: kind=image,video)",
            ),
        ] {
            let err = parse(query).unwrap_err();
            assert_eq!(
                (err.status, err.message.as_str()),
                (400, message),
                "{query}"
            );
        }
    }

    #[test]
    fn a_q_at_the_limit_is_accepted() {
        let at_limit = format!("q={}", "a".repeat(limits::Q_CHARS));
        assert!(parse(&at_limit).is_ok());
    }
}
