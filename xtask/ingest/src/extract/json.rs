//! JSON, flattened to "path: value" lines (`items[2].name: Ada`), so every value keeps the
//! names that say what it is, in the file's own order. Each entry of the top-level array or
//! object is a paragraph.

use super::document::Builder;
use super::Unreadable;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

pub fn read(bytes: &[u8], doc: &mut Builder) -> Result<(), Unreadable> {
    let value: Json = serde_json::from_slice(bytes)
        .map_err(|e| Unreadable::new(format!("the file is not valid JSON: {e}")))?;
    let entries: Vec<(String, Json)> = match value {
        Json::Object(fields) => fields,
        Json::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("[{i}]"), v))
            .collect(),
        scalar => vec![(String::new(), scalar)],
    };
    for (path, value) in entries {
        let mut lines = Vec::new();
        flatten(&path, &value, &mut lines);
        doc.paragraph(&lines.join("\n"));
    }
    Ok(())
}

fn flatten(path: &str, value: &Json, lines: &mut Vec<String>) {
    match value {
        Json::Object(fields) => {
            for (key, v) in fields {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                flatten(&path, v, lines);
            }
        }
        Json::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{path}[{i}]"), v, lines);
            }
        }
        Json::Scalar(s) if s.trim().is_empty() => {}
        Json::Scalar(s) if path.is_empty() => lines.push(s.clone()),
        Json::Scalar(s) => lines.push(format!("{path}: {s}")),
    }
}

/// A JSON value whose objects keep their keys in the file's order (`serde_json::Value` sorts
/// them unless a feature is turned on for the whole workspace).
enum Json {
    /// A string, number, boolean or null, as its text.
    Scalar(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Scalar("null".into()))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Scalar(v.to_string()))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Scalar(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Scalar(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Scalar(v.to_string()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Scalar(v.to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut fields = Vec::new();
        while let Some(field) = map.next_entry()? {
            fields.push(field);
        }
        Ok(Json::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(json: &str) -> String {
        let mut doc = Builder::default();
        read(json.as_bytes(), &mut doc).unwrap();
        doc.finish()
            .into_iter()
            .map(|s| s.text)
            .collect::<Vec<_>>()
            .join("|")
    }

    #[test]
    fn values_are_flattened_to_path_lines_in_file_order_one_paragraph_per_entry() {
        assert_eq!(
            text(r#"{"title": "Guide", "authors": [{"name": "Ada", "age": 36.5}, {"name": ""}], "draft": false, "notes": null}"#),
            "title: Guide\n\nauthors[0].name: Ada\nauthors[0].age: 36.5\n\ndraft: false\n\nnotes: null"
        );
        assert_eq!(
            text(r#"[{"b": 1, "a": -2}, [true]]"#),
            "[0].b: 1\n[0].a: -2\n\n[1][0]: true"
        );
        assert_eq!(text(r#""just text""#), "just text");
    }

    #[test]
    fn invalid_json_is_unreadable_with_the_place_it_breaks() {
        let mut doc = Builder::default();
        let err = read(b"{\"a\": ", &mut doc).unwrap_err();
        assert!(
            err.0.starts_with("the file is not valid JSON: EOF"),
            "{}",
            err.0
        );
    }
}
