//! HTML, parsed as a browser would (html5ever): the text a reader sees, with h1-h6 as
//! headings, each block element its own paragraph, table cells kept apart, and what is never
//! shown as text (scripts, styles, the head, SVG) left out.

use super::document::Builder;
use ego_tree::iter::Edge;
use scraper::{Html, Node};

/// Elements whose content is not text a reader sees.
const SKIPPED: [&str; 10] = [
    "head", "script", "style", "noscript", "template", "svg", "math", "canvas", "iframe", "object",
];

/// Elements that start and end a block of text (the rest are inline).
const BLOCKS: [&str; 35] = [
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "caption",
    "dd",
    "details",
    "dialog",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "ul",
    "html",
    "br",
];

fn is_heading(name: &str) -> bool {
    matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

pub fn read(text: &str, doc: &mut Builder) {
    let html = Html::parse_document(text);
    let mut text = Text::default();
    // The element whose subtree is being skipped, until it closes.
    let mut skipping = None;
    // How many `pre` elements are open: their whitespace is the text's.
    let mut pre = 0usize;
    for edge in html.root_element().traverse() {
        match edge {
            Edge::Open(node) => {
                if skipping.is_some() {
                    continue;
                }
                match node.value() {
                    Node::Element(e) => {
                        let name = e.name();
                        if SKIPPED.contains(&name) {
                            skipping = Some(node.id());
                        } else if name == "br" {
                            text.push_raw("\n");
                        } else if is_heading(name) || BLOCKS.contains(&name) {
                            text.flush(doc);
                            text.heading = is_heading(name);
                            pre += usize::from(name == "pre");
                        } else if matches!(name, "td" | "th") && !text.buf.trim().is_empty() {
                            text.push_raw(" | ");
                        }
                    }
                    Node::Text(t) if pre > 0 => text.push_raw(t),
                    Node::Text(t) => text.push_collapsed(t),
                    _ => {}
                }
            }
            Edge::Close(node) => {
                if skipping == Some(node.id()) {
                    skipping = None;
                    continue;
                }
                if skipping.is_some() {
                    continue;
                }
                if let Node::Element(e) = node.value() {
                    let name = e.name();
                    if is_heading(name) || (BLOCKS.contains(&name) && name != "br") {
                        text.flush(doc);
                        pre -= usize::from(name == "pre" && pre > 0);
                    }
                }
            }
        }
    }
    text.flush(doc);
}

/// The text of the block being read.
#[derive(Default)]
struct Text {
    buf: String,
    heading: bool,
}

impl Text {
    /// Whitespace as the browser shows it outside `pre`: any run is one space.
    fn push_collapsed(&mut self, s: &str) {
        for c in s.chars() {
            if c.is_whitespace() {
                if !self.buf.ends_with([' ', '\n']) && !self.buf.is_empty() {
                    self.buf.push(' ');
                }
            } else {
                self.buf.push(c);
            }
        }
    }

    fn push_raw(&mut self, s: &str) {
        self.buf.push_str(s);
    }

    fn flush(&mut self, doc: &mut Builder) {
        if self.heading {
            doc.heading(&self.buf);
        } else {
            doc.paragraph(&self.buf);
        }
        self.buf.clear();
        self.heading = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections(html: &str) -> Vec<(Option<String>, String)> {
        let mut doc = Builder::default();
        read(html, &mut doc);
        doc.finish()
            .into_iter()
            .map(|s| (s.heading, s.text))
            .collect()
    }

    #[test]
    fn headings_are_kept_and_scripts_styles_and_the_head_are_dropped() {
        let html = r#"<!doctype html><html><head><title>Tab title</title>
            <style>body { color: red }</style></head>
            <body><p>Lead   <b>bold</b>
            text</p><script>var hidden = 1;</script>
            <h2>Setup <small>v2</small></h2><div>First<br>second</div>
            <noscript>enable js</noscript><svg><text>icon</text></svg>
            <h3>Next</h3><ul><li>a</li><li>b</li></ul></body></html>"#;
        assert_eq!(
            sections(html),
            vec![
                (None, "Lead bold text".to_string()),
                (
                    Some("Setup v2".to_string()),
                    "Setup v2\n\nFirst\nsecond".to_string()
                ),
                (Some("Next".to_string()), "Next\n\na\n\nb".to_string()),
            ]
        );
    }

    #[test]
    fn pre_keeps_its_lines_and_table_cells_stay_apart() {
        let html = "<pre>fn main() {\n    run();\n}</pre>\
                    <table><tr><th>Name</th><th>Role</th></tr><tr><td>Ada</td><td>author</td></tr></table>";
        assert_eq!(
            sections(html),
            vec![(
                None,
                "fn main() {\n    run();\n}\n\nName | Role\n\nAda | author".to_string()
            )]
        );
    }
}
