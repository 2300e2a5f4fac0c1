//! PDF, page by page (pdf-extract, over lopdf): each page's text with its page number. A PDF
//! has no headings a parser can trust, so its chunks carry pages only.

use super::document::Builder;
use super::text;
use super::Unreadable;

pub fn read(bytes: &[u8], doc: &mut Builder) -> Result<(), Unreadable> {
    let unreadable =
        || Unreadable::new("the PDF could not be read: it may be damaged or encrypted");
    // The parser panics on some malformed files instead of returning an error; either way the
    // file is unreadable, and the worker goes on with its next task.
    let pages = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(bytes))
        .map_err(|_| unreadable())?
        .map_err(|_| unreadable())?;
    for (i, page) in pages.iter().enumerate() {
        doc.page(u32::try_from(i + 1).unwrap_or(u32::MAX));
        text::read(page, doc);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn each_page_is_read_with_its_number() {
        let pdf = fixtures::pdf(&[&["Alpha page one", "second line"], &["Beta on page two"]]);
        let mut doc = Builder::default();
        read(&pdf, &mut doc).unwrap();
        let sections = doc.finish();
        let pages: Vec<(Option<u32>, String)> = sections
            .iter()
            .map(|s| {
                (
                    s.page,
                    s.text.split_whitespace().collect::<Vec<_>>().join(" "),
                )
            })
            .collect();
        assert_eq!(
            pages,
            vec![
                (Some(1), "Alpha page one second line".to_string()),
                (Some(2), "Beta on page two".to_string()),
            ]
        );
    }

    #[test]
    fn a_damaged_pdf_is_unreadable_whether_the_parser_errs_or_panics() {
        let mut truncated = fixtures::pdf(&[&["Alpha"]]);
        truncated.truncate(truncated.len() / 2);
        // An encoding the parser does not know makes it panic (same length: the offsets
        // of the cross-reference table stay right).
        let pdf = fixtures::pdf(&[&["Alpha"]]);
        let text = String::from_utf8(pdf).unwrap();
        let bad_font = text.replace("/WinAnsiEncoding", "/NoSuchEncoding_");
        for bytes in [
            &truncated[..],
            b"%PDF-1.7\nnot really a pdf",
            bad_font.as_bytes(),
        ] {
            let mut doc = Builder::default();
            let err = read(bytes, &mut doc).unwrap_err();
            assert_eq!(
                err.0,
                "the PDF could not be read: it may be damaged or encrypted"
            );
        }
    }
}
