//! Sections into chunks: windows of about `words` words that overlap by `overlap` words, never
//! across a section (so never across a heading or a page), each at most `max_chars`
//! characters. Words stand in for tokens (about 1.3 tokens each in English): the chunk sizes
//! are a retrieval setting, and the embeddings route counts the real tokens.

use crate::extract::Section;
use serde::Serialize;
use serde_json::Value;

/// One chunk as the embeddings route takes it. `index` runs over the whole file, from 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chunk {
    pub index: usize,
    pub content: String,
    pub page: Option<u32>,
    pub heading: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub words: usize,
    pub overlap: usize,
    pub max_chars: usize,
}

impl Size {
    /// The most characters a chunk may have (the embeddings route refuses longer ones).
    pub const MAX_CHARS: usize = 8000;
    const DEFAULT_WORDS: usize = 400;
    const DEFAULT_OVERLAP: usize = 50;

    /// From a task's `chunk_tokens` and `overlap_tokens` (the file type's settings). The
    /// overlap is at most half a chunk, so each chunk moves on by at least half its length.
    pub fn from_params(params: &Value) -> Size {
        let get = |key: &str, default: usize| {
            params[key]
                .as_u64()
                .map_or(default, |n| usize::try_from(n).unwrap_or(usize::MAX))
        };
        let words = get("chunk_tokens", Self::DEFAULT_WORDS).max(1);
        Size {
            words,
            overlap: get("overlap_tokens", Self::DEFAULT_OVERLAP).min(words / 2),
            max_chars: Self::MAX_CHARS,
        }
    }
}

/// What separates a word from the one before it; rebuilt as it was in the text, except that
/// runs of spaces become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gap {
    /// A long word cut into pieces: the pieces join again.
    None,
    Space,
    Line,
    Paragraph,
}

impl Gap {
    fn text(self) -> &'static str {
        match self {
            Gap::None => "",
            Gap::Space => " ",
            Gap::Line => "\n",
            Gap::Paragraph => "\n\n",
        }
    }
}

struct Word<'a> {
    gap: Gap,
    text: &'a str,
    chars: usize,
}

/// Words longer than this (a URL, a base64 blob) are cut, so any window holds several words
/// within `max_chars`.
const LONG_WORD_CHARS: usize = 200;

fn words(text: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    // Newlines in the whitespace before the word being read.
    let mut newlines = 0;
    let mut word_start = None;
    let gap = |newlines| match newlines {
        0 => Gap::Space,
        1 => Gap::Line,
        _ => Gap::Paragraph,
    };
    for (i, c) in text.char_indices() {
        if !c.is_whitespace() {
            word_start.get_or_insert(i);
            continue;
        }
        if let Some(s) = word_start.take() {
            push_pieces(&mut out, gap(newlines), &text[s..i]);
            newlines = 0;
        }
        newlines += usize::from(c == '\n');
    }
    if let Some(s) = word_start {
        push_pieces(&mut out, gap(newlines), &text[s..]);
    }
    out
}

fn push_pieces<'a>(out: &mut Vec<Word<'a>>, gap: Gap, word: &'a str) {
    let mut gap = gap;
    let mut rest = word;
    while !rest.is_empty() {
        let cut = rest
            .char_indices()
            .nth(LONG_WORD_CHARS)
            .map_or(rest.len(), |(i, _)| i);
        let (piece, tail) = rest.split_at(cut);
        out.push(Word {
            gap,
            text: piece,
            chars: piece.chars().count(),
        });
        gap = Gap::None;
        rest = tail;
    }
}

/// The most characters of a chunk's heading (the embeddings route's limit); the chunk's text
/// keeps the whole heading.
const MAX_HEADING_CHARS: usize = 500;

/// The chunks of a file's sections, numbered from 0 in reading order.
pub fn chunks(sections: &[Section], size: Size) -> Vec<Chunk> {
    let mut out = Vec::new();
    for section in sections {
        for content in windows(&words(&section.text), size) {
            out.push(Chunk {
                index: out.len(),
                content,
                page: section.page,
                heading: section
                    .heading
                    .as_ref()
                    .map(|h| h.chars().take(MAX_HEADING_CHARS).collect()),
            });
        }
    }
    out
}

/// The texts of one section's windows.
fn windows(words: &[Word], size: Size) -> Vec<String> {
    let n = words.len();
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        let mut chars = words[start].chars;
        while end < n && end - start < size.words {
            let add = words[end].gap.text().len() + words[end].chars;
            if chars + add > size.max_chars {
                break;
            }
            chars += add;
            end += 1;
        }
        // Cut at a paragraph break in the window's second half when there is one: a chunk
        // that ends with its paragraph reads (and embeds) better than one cut mid-sentence.
        if end < n {
            let half = start + (end - start) / 2;
            if let Some(b) = (half + 1..=end)
                .rev()
                .find(|&i| words[i].gap == Gap::Paragraph)
            {
                end = b;
            }
        }
        out.push(text(&words[start..end]));
        if end == n {
            break;
        }
        start = end - size.overlap.min((end - start) / 2);
    }
    out
}

fn text(words: &[Word]) -> String {
    let mut s = String::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            s.push_str(w.gap.text());
        }
        s.push_str(w.text);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn section(page: Option<u32>, heading: Option<&str>, text: &str) -> Section {
        Section {
            page,
            heading: heading.map(str::to_string),
            text: text.to_string(),
        }
    }

    fn size(words: usize, overlap: usize) -> Size {
        Size {
            words,
            overlap,
            max_chars: Size::MAX_CHARS,
        }
    }

    fn contents(chunks: &[Chunk]) -> Vec<&str> {
        chunks.iter().map(|c| c.content.as_str()).collect()
    }

    #[test]
    fn windows_overlap_and_the_last_one_is_not_only_overlap() {
        let text = "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9";
        let chunks = chunks(&[section(None, None, text)], size(4, 1));
        assert_eq!(
            contents(&chunks),
            vec!["w0 w1 w2 w3", "w3 w4 w5 w6", "w6 w7 w8 w9"]
        );
        assert_eq!(
            chunks.iter().map(|c| c.index).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn chunks_never_cross_a_heading_or_a_page_and_carry_both() {
        let sections = [
            section(Some(1), Some("Intro"), "Intro\n\na b c"),
            section(Some(2), Some("Intro"), "d e"),
            section(Some(2), Some("Usage"), "Usage\n\nf g h i j"),
        ];
        let chunks = chunks(&sections, size(4, 2));
        let got: Vec<(usize, &str, Option<u32>, Option<&str>)> = chunks
            .iter()
            .map(|c| (c.index, c.content.as_str(), c.page, c.heading.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, "Intro\n\na b c", Some(1), Some("Intro")),
                (1, "d e", Some(2), Some("Intro")),
                (2, "Usage\n\nf g h", Some(2), Some("Usage")),
                (3, "g h i j", Some(2), Some("Usage")),
            ]
        );
    }

    #[test]
    fn a_window_ends_at_a_paragraph_break_in_its_second_half() {
        let text = "a b c d e\n\nf g h i j k l";
        let chunks = chunks(&[section(None, None, text)], size(8, 0));
        assert_eq!(contents(&chunks), vec!["a b c d e", "f g h i j k l"]);
        // A break in the first half would make a short chunk: the window stays whole.
        let text = "a b\n\nc d e f g h i j";
        let chunks = super::chunks(&[section(None, None, text)], size(8, 0));
        assert_eq!(contents(&chunks), vec!["a b\n\nc d e f g h", "i j"]);
    }

    #[test]
    fn a_long_heading_is_cut_to_500_characters_in_the_chunk_s_heading_only() {
        let heading = "h".repeat(600);
        let chunks = chunks(&[section(None, Some(&heading), &heading)], size(400, 0));
        assert_eq!(chunks[0].heading.as_deref(), Some(&heading[..500]));
        assert_eq!(chunks[0].content, heading);
    }

    #[test]
    fn lines_are_kept_and_runs_of_spaces_become_one() {
        let chunks = chunks(
            &[section(None, None, "name:  Ada\nrole: author")],
            size(50, 5),
        );
        assert_eq!(contents(&chunks), vec!["name: Ada\nrole: author"]);
    }

    #[test]
    fn no_chunk_is_longer_than_max_chars_and_a_long_word_is_cut_and_kept_whole() {
        let long_words = vec!["x".repeat(150); 400].join(" ");
        let chunks = chunks(&[section(None, None, &long_words)], size(400, 10));
        assert!(chunks.len() > 1);
        assert!(chunks
            .iter()
            .all(|c| c.content.chars().count() <= Size::MAX_CHARS));

        let blob = "é".repeat(20_000);
        let chunks = super::chunks(&[section(None, None, &blob)], size(400, 0));
        assert!(chunks
            .iter()
            .all(|c| c.content.chars().count() <= Size::MAX_CHARS));
        assert_eq!(contents(&chunks).concat(), blob);
    }

    #[test]
    fn sizes_come_from_the_task_with_defaults_and_at_most_half_a_chunk_of_overlap() {
        assert_eq!(
            Size::from_params(&json!({"chunk_tokens": 300, "overlap_tokens": 30})),
            size(300, 30)
        );
        assert_eq!(Size::from_params(&json!({})), size(400, 50));
        assert_eq!(
            Size::from_params(&json!({"chunk_tokens": 0, "overlap_tokens": 9})),
            size(1, 0)
        );
        assert_eq!(
            Size::from_params(&json!({"chunk_tokens": 10, "overlap_tokens": 9})),
            size(10, 5)
        );
    }
}
