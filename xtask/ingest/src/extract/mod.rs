//! Text out of a file, by its MIME type, as [`Section`]s. A file that cannot be read is an
//! [`Unreadable`] with a reason its owner can act on; no retry would change it.

mod csv;
mod document;
mod docx;
mod html;
mod json;
mod markdown;
mod pdf;
mod text;

pub use document::Section;

pub const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// Why a file has no text to index, in words for the file's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

impl Unreadable {
    pub fn new(reason: impl Into<String>) -> Unreadable {
        Unreadable(reason.into())
    }
}

/// The file's text in reading order. `mime_type` is the stored object's type (parameters such
/// as `; charset=utf-8` are ignored: text must be UTF-8 whatever they say).
pub fn extract(mime_type: &str, bytes: &[u8]) -> Result<Vec<Section>, Unreadable> {
    let mime = mime_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let mut doc = document::Builder::default();
    match mime.as_str() {
        "text/plain" => text::read(text::utf8(bytes)?, &mut doc),
        "text/markdown" => markdown::read(text::utf8(bytes)?, &mut doc),
        "text/html" => html::read(text::utf8(bytes)?, &mut doc),
        "text/csv" => csv::read(text::utf8(bytes)?, &mut doc)?,
        "application/json" => json::read(bytes, &mut doc)?,
        "application/pdf" => pdf::read(bytes, &mut doc)?,
        DOCX => docx::read(bytes, &mut doc)?,
        _ => {
            return Err(Unreadable::new(format!(
                "files of type {mime} cannot be indexed"
            )))
        }
    }
    let sections = doc.finish();
    if sections.is_empty() {
        return Err(Unreadable::new("no text was found in the file"));
    }
    Ok(sections)
}

/// How many characters of text the sections hold.
pub fn char_count(sections: &[Section]) -> usize {
    sections.iter().map(|s| s.text.chars().count()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn every_supported_type_is_read() {
        let pdf = fixtures::pdf(&[&["pdf words"]]);
        let docx = fixtures::docx(&[(None, "docx words")]);
        let cases: [(&str, &[u8], &str); 7] = [
            ("text/plain; charset=utf-8", b"plain words", "plain words"),
            (
                "text/markdown",
                b"# Title\n\nmarkdown words",
                "Title\n\nmarkdown words",
            ),
            ("TEXT/HTML", b"<p>html <i>words</i></p>", "html words"),
            ("text/csv", b"kind\ncsv words", "kind: csv words"),
            (
                "application/json",
                br#"{"kind": "json words"}"#,
                "kind: json words",
            ),
            ("application/pdf", &pdf, "pdf words"),
            (DOCX, &docx, "docx words"),
        ];
        for (mime, bytes, text) in cases {
            let sections = extract(mime, bytes).unwrap_or_else(|e| panic!("{mime}: {e:?}"));
            let got: Vec<&str> = sections.iter().map(|s| s.text.trim()).collect();
            assert_eq!(got, vec![text], "{mime}");
        }
    }

    #[test]
    fn empty_files_and_unknown_types_are_unreadable() {
        for (mime, bytes) in [
            ("text/plain", &b" \n\n "[..]),
            ("text/html", b"<script>only()</script>"),
            ("application/json", b"{}"),
        ] {
            assert_eq!(
                extract(mime, bytes),
                Err(Unreadable::new("no text was found in the file")),
                "{mime}"
            );
        }
        assert_eq!(
            extract("image/png", b"\x89PNG"),
            Err(Unreadable::new("files of type image/png cannot be indexed"))
        );
    }

    #[test]
    fn char_count_counts_characters_not_bytes() {
        let sections = extract("text/plain", "café\n\nthé".as_bytes()).unwrap();
        assert_eq!(char_count(&sections), "café\n\nthé".chars().count());
    }
}
