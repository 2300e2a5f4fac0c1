//! DOCX (Office Open XML): the paragraphs of `word/document.xml` in order, those in a heading
//! style (or with an outline level) as headings. Style ids are the document's own (a German
//! Word names "Heading 1" `berschrift1`), so they are looked up in `word/styles.xml`, where
//! every style keeps its English built-in name. A DOCX has no fixed pages: chunks carry none.

use super::document::Builder;
use super::Unreadable;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::collections::HashMap;
use std::io::{Cursor, Read};

/// The most XML one part may unpack to: a zip bomb stops here.
const MAX_PART_BYTES: u64 = 64 * 1024 * 1024;

fn unreadable() -> Unreadable {
    Unreadable::new("the file could not be read as a Word document (.docx)")
}

pub fn read(bytes: &[u8], doc: &mut Builder) -> Result<(), Unreadable> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| unreadable())?;
    let body = part(&mut zip, "word/document.xml")?.ok_or_else(unreadable)?;
    let styles = match part(&mut zip, "word/styles.xml")? {
        Some(xml) => heading_styles(&xml)?,
        None => HashMap::new(),
    };
    paragraphs(&body, &styles, doc)
}

/// One part of the package as text; `None` when the package has no such part.
fn part(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
) -> Result<Option<String>, Unreadable> {
    let file = match zip.by_name(name) {
        Ok(file) => file,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(_) => return Err(unreadable()),
    };
    let mut xml = String::new();
    file.take(MAX_PART_BYTES + 1)
        .read_to_string(&mut xml)
        .map_err(|_| unreadable())?;
    if xml.len() as u64 > MAX_PART_BYTES {
        return Err(Unreadable::new(
            "the Word document is too large to read: its text unpacks to more than 64 MiB",
        ));
    }
    Ok(Some(xml))
}

/// The value of an attribute such as `w:val`, entities resolved.
fn attr(e: &BytesStart, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

/// The heading level a style name means: Word's built-in "heading 1" to "heading 9", and
/// "Title" as a top heading.
fn heading_level(style_name: &str) -> Option<u8> {
    let name = style_name.to_ascii_lowercase();
    if name == "title" {
        return Some(1);
    }
    name.strip_prefix("heading ")
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|n| (1..=9).contains(n))
}

/// Style id -> heading level, for the paragraph styles that are headings.
fn heading_styles(xml: &str) -> Result<HashMap<String, u8>, Unreadable> {
    let mut reader = Reader::from_str(xml);
    let mut styles = HashMap::new();
    let mut style_id = None;
    loop {
        match reader.read_event().map_err(|_| unreadable())? {
            Event::Start(e) if e.name().as_ref() == "w:style" => {
                style_id = attr(&e, "w:styleId");
            }
            Event::Empty(e) if e.name().as_ref() == "w:name" => {
                let level = attr(&e, "w:val").as_deref().and_then(heading_level);
                if let (Some(id), Some(level)) = (style_id.take(), level) {
                    styles.insert(id, level);
                }
            }
            Event::End(e) if e.name().as_ref() == "w:style" => style_id = None,
            Event::Eof => return Ok(styles),
            _ => {}
        }
    }
}

/// The body's paragraphs. Text is in `w:t` elements of runs, with tabs and breaks as
/// elements of their own. A text box's paragraphs sit inside a paragraph's run, so paragraphs
/// nest: each is read on a stack. `mc:Fallback` repeats its `mc:Choice` for old readers, so
/// its text is skipped.
fn paragraphs(
    xml: &str,
    styles: &HashMap<String, u8>,
    doc: &mut Builder,
) -> Result<(), Unreadable> {
    let mut reader = Reader::from_str(xml);
    // (text, is a heading) of each open paragraph, innermost last.
    let mut open: Vec<(String, bool)> = Vec::new();
    let mut runs = 0usize;
    let mut in_text = false;
    let mut fallback_depth = 0usize;
    loop {
        let event = reader.read_event().map_err(|_| unreadable())?;
        if fallback_depth > 0 {
            match &event {
                Event::Start(e) if e.name().as_ref() == "mc:Fallback" => fallback_depth += 1,
                Event::End(e) if e.name().as_ref() == "mc:Fallback" => fallback_depth -= 1,
                Event::Eof => return Err(unreadable()),
                _ => {}
            }
            continue;
        }
        let Some((text, heading)) = open.last_mut() else {
            match event {
                Event::Start(e) if e.name().as_ref() == "w:p" => open.push(Default::default()),
                Event::Start(e) if e.name().as_ref() == "mc:Fallback" => fallback_depth = 1,
                Event::Eof => return Ok(()),
                _ => {}
            }
            continue;
        };
        match event {
            Event::Start(e) => match e.name().as_ref() {
                "w:p" => open.push(Default::default()),
                "mc:Fallback" => fallback_depth = 1,
                "w:r" => runs += 1,
                "w:t" => in_text = true,
                _ => {}
            },
            Event::Empty(e) => match e.name().as_ref() {
                "w:pStyle" => {
                    *heading |= attr(&e, "w:val").is_some_and(|id| {
                        styles.contains_key(&id)
                            || heading_level(&id.replace("Heading", "heading ")).is_some()
                    });
                }
                // Level 9 is Word's "body text".
                "w:outlineLvl" => {
                    *heading |= attr(&e, "w:val")
                        .and_then(|v| v.parse::<u8>().ok())
                        .is_some_and(|level| level < 9);
                }
                // Outside a run, `w:tab` is a tab stop of the paragraph's style.
                "w:tab" if runs > 0 => text.push('\t'),
                "w:br" | "w:cr" if runs > 0 => text.push('\n'),
                _ => {}
            },
            Event::Text(t) if in_text => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_text => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else if let Some(s) = resolve_predefined_entity(&r) {
                    text.push_str(s);
                }
            }
            Event::End(e) => match e.name().as_ref() {
                "w:t" => in_text = false,
                "w:r" => runs = runs.saturating_sub(1),
                "w:p" => match open.pop() {
                    Some((text, true)) => doc.heading(&text),
                    Some((text, false)) => doc.paragraph(&text),
                    None => {}
                },
                _ => {}
            },
            Event::Eof => return Err(unreadable()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn sections(docx: &[u8]) -> Vec<(Option<String>, String)> {
        let mut doc = Builder::default();
        read(docx, &mut doc).unwrap();
        doc.finish()
            .into_iter()
            .map(|s| (s.heading, s.text))
            .collect()
    }

    #[test]
    fn paragraphs_are_read_and_heading_styles_are_headings() {
        let docx = fixtures::docx(&[
            (None, "Intro &amp; overview"),
            (Some("Heading1"), "Install"),
            (None, "Run the installer."),
            (Some("Heading2"), "Options"),
            (None, "Pick a folder."),
        ]);
        assert_eq!(
            sections(&docx),
            vec![
                (None, "Intro & overview".to_string()),
                (
                    Some("Install".to_string()),
                    "Install\n\nRun the installer.".to_string()
                ),
                (
                    Some("Options".to_string()),
                    "Options\n\nPick a folder.".to_string()
                ),
            ]
        );
    }

    #[test]
    fn heading_styles_are_found_by_their_name_in_styles_xml() {
        // A localized Word gives "heading 1" the id `berschrift1`.
        let docx = fixtures::docx(&[(Some("berschrift1"), "Einleitung"), (None, "Text.")]);
        assert_eq!(
            sections(&docx),
            vec![(
                Some("Einleitung".to_string()),
                "Einleitung\n\nText.".to_string()
            )]
        );
    }

    #[test]
    fn tabs_breaks_nested_text_boxes_and_fallbacks() {
        let body = r#"<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>
            <w:r><w:t>a</w:t><w:tab/><w:t xml:space="preserve">b </w:t><w:br/><w:t>c&#233;</w:t></w:r>
            <w:r><mc:AlternateContent><mc:Choice><w:txbxContent><w:p><w:r><w:t>boxed</w:t></w:r></w:p>
            </w:txbxContent></mc:Choice><mc:Fallback><w:p><w:r><w:t>boxed again</w:t></w:r></w:p>
            </mc:Fallback></mc:AlternateContent></w:r></w:p>"#;
        let docx = fixtures::docx_with_body(body);
        assert_eq!(
            sections(&docx),
            vec![(None, "boxed\n\na\tb\ncé".to_string())]
        );
    }

    #[test]
    fn what_is_not_a_docx_is_unreadable() {
        let not_zip = b"PK\x03\x04 not really";
        let mut doc = Builder::default();
        let err = read(not_zip, &mut doc).unwrap_err();
        assert_eq!(
            err.0,
            "the file could not be read as a Word document (.docx)"
        );
        let mut truncated = fixtures::docx(&[(None, "text")]);
        truncated.truncate(truncated.len() - 30);
        assert!(read(&truncated, &mut Builder::default()).is_err());
    }
}
