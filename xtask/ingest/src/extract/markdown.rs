//! Markdown, parsed as CommonMark (with tables): headings of every level become headings,
//! everything else its text without the markup, each block a paragraph. A `#` inside a code
//! block stays text.

use super::document::Builder;
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

pub fn read(text: &str, doc: &mut Builder) {
    let mut buf = String::new();
    let mut in_heading = false;
    for event in Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH) {
        match event {
            // A table's cells are inline; keep them apart.
            Event::Start(Tag::TableCell) if !buf.is_empty() => buf.push_str(" | "),
            Event::Start(tag) if !is_inline(&tag.to_end()) => {
                flush(doc, &mut buf, in_heading);
                in_heading = matches!(tag, Tag::Heading { .. });
            }
            Event::End(end) if !is_inline(&end) => {
                flush(doc, &mut buf, in_heading);
                in_heading = false;
            }
            Event::Text(t) | Event::Code(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                buf.push_str(&t)
            }
            Event::SoftBreak => buf.push(' '),
            Event::HardBreak => buf.push('\n'),
            _ => {}
        }
    }
    flush(doc, &mut buf, in_heading);
}

/// Inline markup (emphasis, links, images' alt text, cells of a row) continues the text
/// around it.
fn is_inline(end: &TagEnd) -> bool {
    matches!(
        end,
        TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript
            | TagEnd::Link
            | TagEnd::Image
            | TagEnd::TableCell
    )
}

fn flush(doc: &mut Builder, buf: &mut String, heading: bool) {
    if heading {
        doc.heading(buf);
    } else {
        doc.paragraph(buf);
    }
    buf.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections(text: &str) -> Vec<(Option<String>, String)> {
        let mut doc = Builder::default();
        read(text, &mut doc);
        doc.finish()
            .into_iter()
            .map(|s| (s.heading, s.text))
            .collect()
    }

    #[test]
    fn atx_and_setext_headings_are_headings_and_markup_is_dropped() {
        let md = "Intro with *emphasis* and a [link](https://x.test).\n\n\
                  # Install\n\nRun `cargo build`\nthen wait.\n\n\
                  Usage\n-----\n\n- one\n- two\n";
        assert_eq!(
            sections(md),
            vec![
                (None, "Intro with emphasis and a link.".to_string()),
                (
                    Some("Install".to_string()),
                    "Install\n\nRun cargo build then wait.".to_string()
                ),
                (Some("Usage".to_string()), "Usage\n\none\n\ntwo".to_string()),
            ]
        );
    }

    #[test]
    fn a_hash_in_a_code_block_is_text_and_table_cells_stay_apart() {
        let md = "## Code\n\n```sh\n# not a heading\nls\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
        assert_eq!(
            sections(md),
            vec![(
                Some("Code".to_string()),
                "Code\n\n# not a heading\nls\n\na | b\n\n1 | 2".to_string()
            )]
        );
    }
}
