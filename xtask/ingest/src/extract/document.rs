//! What every reader produces: the file's text as sections, each a run of paragraphs under
//! one heading on one page. A section is the unit the chunker never crosses, so a chunk always
//! has one page and one nearest heading.

/// A run of paragraphs that share a page (PDF only) and a nearest heading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub page: Option<u32>,
    pub heading: Option<String>,
    /// Paragraphs separated by a blank line; a paragraph's own lines by one newline.
    pub text: String,
}

/// Collects what a reader finds, in reading order, into [`Section`]s.
#[derive(Default)]
pub struct Builder {
    done: Vec<Section>,
    page: Option<u32>,
    heading: Option<String>,
    paragraphs: Vec<String>,
    /// Whether the open section has text other than its heading lines.
    has_body: bool,
}

impl Builder {
    /// The text that follows is on page `number` (1-based).
    pub fn page(&mut self, number: u32) {
        self.close();
        self.page = Some(number);
    }

    /// A heading. Its text opens the section it names, so a search for the heading's words
    /// finds its text. A heading followed directly by another (a chapter title, then its first
    /// section's) joins the next section instead of making a chunk of a few words.
    pub fn heading(&mut self, text: &str) {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            return;
        }
        if self.has_body {
            self.close();
        }
        self.paragraphs.push(text.clone());
        self.heading = Some(text);
    }

    /// A paragraph; its line breaks are kept, blank lines and control characters are not.
    pub fn paragraph(&mut self, text: &str) {
        let lines: Vec<String> = text
            .lines()
            .map(|l| {
                l.chars()
                    .filter(|c| *c == '\t' || !c.is_control())
                    .collect::<String>()
                    .trim_end()
                    .to_string()
            })
            .filter(|l| !l.trim().is_empty())
            .collect();
        if lines.is_empty() {
            return;
        }
        self.paragraphs.push(lines.join("\n"));
        self.has_body = true;
    }

    /// The sections, in reading order.
    pub fn finish(mut self) -> Vec<Section> {
        self.close();
        self.done
    }

    /// Ends the open section; the heading carries on to the next one (a page break does not
    /// end a chapter).
    fn close(&mut self) {
        if !self.paragraphs.is_empty() {
            self.done.push(Section {
                page: self.page,
                heading: self.heading.clone(),
                text: self.paragraphs.join("\n\n"),
            });
        }
        self.paragraphs.clear();
        self.has_body = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(page: Option<u32>, heading: Option<&str>, text: &str) -> Section {
        Section {
            page,
            heading: heading.map(str::to_string),
            text: text.to_string(),
        }
    }

    #[test]
    fn headings_and_pages_open_sections_and_a_heading_carries_over_pages() {
        let mut b = Builder::default();
        b.paragraph("before any heading");
        b.heading("  Install \n guide ");
        b.paragraph("step one\nstep two");
        b.page(2);
        b.paragraph("more steps");
        assert_eq!(
            b.finish(),
            vec![
                section(None, None, "before any heading"),
                section(
                    None,
                    Some("Install guide"),
                    "Install guide\n\nstep one\nstep two"
                ),
                section(Some(2), Some("Install guide"), "more steps"),
            ]
        );
    }

    #[test]
    fn a_heading_with_no_text_of_its_own_joins_the_next_section() {
        let mut b = Builder::default();
        b.heading("Guide");
        b.heading("Install");
        b.paragraph("run it");
        b.heading("Empty at the end");
        assert_eq!(
            b.finish(),
            vec![
                section(None, Some("Install"), "Guide\n\nInstall\n\nrun it"),
                section(None, Some("Empty at the end"), "Empty at the end"),
            ]
        );
    }

    #[test]
    fn blank_lines_control_characters_and_empty_paragraphs_are_dropped() {
        let mut b = Builder::default();
        b.paragraph(" \n\t\n");
        b.heading("   ");
        b.paragraph("a\0b  \r\n\n\tc");
        assert_eq!(b.finish(), vec![section(None, None, "ab\n\tc")]);
    }
}
