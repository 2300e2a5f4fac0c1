//! Finds public items of the shared crate that nothing uses. rustc's dead-code lint stops at
//! `pub` (another crate might use it) and no stable lint looks across a workspace, so this
//! reads the sources: every `pub fn/struct/enum/trait/const/static/type` declared in
//! `shared/src` must be named somewhere else, either in another crate of the workspace or in
//! the shared crate's own non-test code. Use by a unit test alone does not count: a helper
//! only its tests call is dead code with a test.
//!
//! It matches names as words in code (comments and string literals removed), so a common
//! name (`new`, `parse`) used anywhere counts as used, and so does a mention of an item in
//! its own file (an `impl`): that errs toward silence, never toward a false alarm.

use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A public item of the shared crate and where it is declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub name: String,
    pub file: PathBuf,
    pub line: usize,
}

/// The shared crate's public items that no other code names, sorted by file and line.
pub fn unused_in_shared(root: &Path) -> Result<Vec<Item>> {
    let shared = root.join("shared/src");
    let mut sources = Vec::new();
    for dir in ["shared", "functions", "tests", "xtask"] {
        collect_rs(&root.join(dir), &mut sources)?;
    }
    let mut items = Vec::new();
    let mut words_elsewhere = BTreeSet::new();
    let mut words_in_shared = Vec::new();
    for path in &sources {
        let text = strip_comments_and_strings(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        );
        if path.starts_with(&shared) {
            let code = non_test_code(path, &text);
            for (line, name) in declarations(code) {
                items.push(Item {
                    name,
                    file: path.strip_prefix(root).unwrap_or(path).to_path_buf(),
                    line,
                });
            }
            words_in_shared.push(code.to_string());
        } else {
            words_elsewhere.extend(words(&text).map(str::to_string));
        }
    }
    let unused = items
        .into_iter()
        .filter(|item| {
            if words_elsewhere.contains(&item.name) {
                return false;
            }
            // Within the crate: any non-test mention besides the declaration itself.
            let mentions: usize = words_in_shared
                .iter()
                .map(|code| words(code).filter(|w| *w == item.name).count())
                .sum();
            mentions <= 1
        })
        .collect();
    Ok(unused)
}

/// `(line, name)` of each `pub` item declared in `code` (not `pub(crate)`, not re-exports,
/// not fields or modules).
fn declarations(code: &str) -> Vec<(usize, String)> {
    const KINDS: [&str; 7] = ["fn", "struct", "enum", "trait", "const", "static", "type"];
    let mut out = Vec::new();
    for (i, line) in code.lines().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("pub ") else {
            continue;
        };
        let mut tokens = rest
            .split(|c: char| c.is_whitespace() || c == '(' || c == '<' || c == ':' || c == ';')
            .filter(|t| !t.is_empty());
        let mut kind = tokens.next();
        // Qualifiers before the kind: `pub async fn`, `pub const fn`, `pub unsafe fn`.
        while matches!(kind, Some("async" | "unsafe" | "extern"))
            || (kind == Some("const") && rest.starts_with("const fn "))
        {
            kind = tokens.next();
        }
        if let (Some(kind), Some(name)) = (kind, tokens.next()) {
            if KINDS.contains(&kind) && is_ident(name) {
                out.push((i + 1, name.to_string()));
            }
        }
    }
    out
}

/// Rust source with comments and the contents of string and char literals blanked out
/// (newlines kept, so line numbers stay right): names in prose or in messages are not uses.
fn strip_comments_and_strings(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let (c, next) = (chars[i], chars.get(i + 1).copied());
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                out.push(blank(chars[i]));
                i += 1;
            }
            i += 2;
        } else if c == '"'
            || (c == 'r' && matches!(next, Some('"' | '#')) && raw_start(&chars[i..]))
        {
            // Plain or raw string: `"..."` with escapes, `r"..."`, `r#"..."#`.
            let hashes = if c == 'r' {
                let n = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
                i += 1 + n;
                Some(n)
            } else {
                None
            };
            i += 1;
            out.push('"');
            while i < chars.len() {
                match hashes {
                    None if chars[i] == '\\' => {
                        out.push(' ');
                        i += 1;
                    }
                    None if chars[i] == '"' => break,
                    Some(n)
                        if chars[i] == '"'
                            && chars[i + 1..].iter().take(n).filter(|&&h| h == '#').count()
                                == n =>
                    {
                        i += n;
                        break;
                    }
                    _ => {}
                }
                if let Some(&ch) = chars.get(i) {
                    out.push(blank(ch));
                }
                i += 1;
            }
            out.push('"');
            i += 1;
        } else if c == '\'' && (chars.get(i + 2) == Some(&'\'') || next == Some('\\')) {
            // A char literal (a lifetime has no closing quote two characters on).
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            out.push_str("' '");
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether `r` starts a raw string here (`r"` or `r#..."`), not an identifier ending in r.
fn raw_start(s: &[char]) -> bool {
    s.iter().skip(1).find(|&&c| c != '#') == Some(&'"')
}

/// The file without its unit tests: nothing of a `*_tests.rs` or `test_*.rs` file, and
/// the rest of a file from its `#[cfg(test)]` line on (the project keeps test modules last).
fn non_test_code<'a>(path: &Path, text: &'a str) -> &'a str {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.ends_with("_tests.rs") || name.starts_with("test_") {
        return "";
    }
    match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    }
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_alphanumeric() || c == '_')
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            // Build output and tool state are not sources.
            if !matches!(name, "target" | "build" | "node_modules" | ".wrangler") {
                collect_rs(&path, out)?;
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_public_declarations_of_every_kind_and_skips_the_rest() {
        let code = "pub fn a() {}\n    pub async fn b(\npub const fn c() {}\npub struct D;\n\
                    pub enum E {}\npub trait F {}\npub const G: u8 = 1;\npub static H: u8 = 1;\n\
                    pub type I = u8;\npub(crate) fn hidden() {}\npub use x::Y;\npub mod m;\n\
                    pub field: u8,\nfn private() {}\n";
        let names: Vec<String> = declarations(code).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, ["a", "b", "c", "D", "E", "F", "G", "H", "I"]);
        assert_eq!(declarations("x\n  pub fn two() {}")[0].0, 2);
    }

    #[test]
    fn unit_tests_do_not_count_as_use() {
        let text = "pub fn used() {}\n#[cfg(test)]\nmod tests { fn t() { used(); } }\n";
        assert_eq!(
            non_test_code(Path::new("shared/src/a.rs"), text),
            "pub fn used() {}\n"
        );
        assert_eq!(non_test_code(Path::new("shared/src/a_tests.rs"), text), "");
        assert_eq!(
            non_test_code(Path::new("shared/src/test_keys.rs"), text),
            ""
        );
    }

    #[test]
    fn names_in_comments_and_strings_are_not_uses() {
        let src = "a(\"b // c\", r#\"d \"e\"#); // f\n/* g\n */ h('\"', 'i', x::<'j>)";
        let stripped = strip_comments_and_strings(src);
        assert_eq!(words(&stripped).collect::<Vec<_>>(), ["a", "h", "x", "j"]);
        assert_eq!(stripped.lines().count(), 3);
    }
}
