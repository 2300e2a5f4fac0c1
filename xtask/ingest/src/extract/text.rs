//! Plain text: UTF-8 only (a file in another encoding would be embedded as garbage), split
//! into paragraphs at blank lines.

use super::document::Builder;
use super::Unreadable;

/// The file as UTF-8 text, without a byte order mark.
pub fn utf8(bytes: &[u8]) -> Result<&str, Unreadable> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Unreadable::new("the file is not valid UTF-8 text"))?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

pub fn read(text: &str, doc: &mut Builder) {
    let mut paragraph = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            doc.paragraph(&paragraph);
            paragraph.clear();
        } else {
            paragraph.push_str(line);
            paragraph.push('\n');
        }
    }
    doc.paragraph(&paragraph);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_separate_paragraphs_and_a_bom_is_dropped() {
        let mut doc = Builder::default();
        read(
            utf8("\u{feff}first line\nsecond line\n\n  \nnext\r\n".as_bytes()).unwrap(),
            &mut doc,
        );
        let sections = doc.finish();
        assert_eq!(sections.len(), 1);
        assert_eq!(sections[0].text, "first line\nsecond line\n\nnext");
        assert_eq!(sections[0].heading, None);
    }

    #[test]
    fn invalid_utf8_is_unreadable() {
        let err = utf8(b"caf\xe9").unwrap_err();
        assert_eq!(err.0, "the file is not valid UTF-8 text");
    }
}
