//! Where a function's bytes go: code size per Rust crate, read from the copy of its bundle
//! that still has function names (`build/names.wasm`), before wasm-opt.

use anyhow::{Context, Result};
use std::collections::HashMap;
use wasmparser::{KnownCustom, Name, Parser, Payload, TypeRef};

/// The row for the data segments (string literals, tables), which carry no crate names.
pub const DATA: &str = "<data>";
/// The row for functions the name section does not name.
pub const UNKNOWN: &str = "<unknown>";
/// The row for names without a path: the exports wasm-bindgen generates (`__wbg_*` shims,
/// the handlers) and compiler intrinsics (`memcpy`, `__multi3`).
pub const SYMBOLS: &str = "<exports, intrinsics>";

/// Bytes of code per crate for the function `name` (plus one [`DATA`] row), largest first.
/// A crate is the first path segment of a function's demangled name (`serde_json`, `core`,
/// `worker`, ...); names without a path make one [`SYMBOLS`] row.
pub fn attribute(name: &str) -> Result<Vec<(String, u64)>> {
    let path = super::names_file(name);
    let wasm = std::fs::read(&path).with_context(|| {
        format!(
            "reading {} (run `cargo xtask build {name}`)",
            path.display()
        )
    })?;
    by_crate(&wasm)
}

fn by_crate(wasm: &[u8]) -> Result<Vec<(String, u64)>> {
    let mut imported_functions = 0;
    let mut bodies = Vec::new();
    let mut names = HashMap::new();
    let mut data = 0;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    if matches!(import?.ty, TypeRef::Func(_) | TypeRef::FuncExact(_)) {
                        imported_functions += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(body.range().len() as u64),
            Payload::DataSection(segments) => {
                for segment in segments {
                    data += segment?.data.len() as u64;
                }
            }
            Payload::CustomSection(section) => {
                if let KnownCustom::Name(subsections) = section.as_known() {
                    for subsection in subsections {
                        if let Name::Function(map) = subsection? {
                            for naming in map {
                                let naming = naming?;
                                names.insert(naming.index, naming.name);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut totals: HashMap<String, u64> = HashMap::new();
    for (i, size) in bodies.into_iter().enumerate() {
        let krate = match names.get(&(imported_functions + i as u32)) {
            Some(name) => crate_of(&rustc_demangle::demangle(name).to_string()).to_string(),
            None => UNKNOWN.to_string(),
        };
        *totals.entry(krate).or_default() += size;
    }
    if data > 0 {
        totals.insert(DATA.to_string(), data);
    }
    let mut rows: Vec<(String, u64)> = totals.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(rows)
}

/// The crate a demangled function name belongs to. For a trait method
/// (`<Type as Trait>::method`) it is the crate of the type, or of the trait when the type is
/// a primitive, a slice or a tuple (`<u8 as core::fmt::Debug>::fmt` is `core`); a method of
/// a primitive type itself (`<char>::escape_debug_ext`) is `core`'s.
fn crate_of(name: &str) -> &str {
    let Some(inner) = name.strip_prefix('<') else {
        return first_segment(name).unwrap_or(SYMBOLS);
    };
    let (self_ty, trait_path) = split_qualified(inner);
    let mut ty = self_ty;
    for prefix in ["&", "mut ", "*const ", "*mut ", "dyn ", "impl "] {
        ty = ty.strip_prefix(prefix).unwrap_or(ty).trim_start();
    }
    match (first_segment(ty), trait_path) {
        (Some(krate), _) => krate,
        (None, Some(path)) => first_segment(path).unwrap_or(UNKNOWN),
        (None, None) if !ty.contains('<') => "core",
        (None, None) => UNKNOWN,
    }
}

/// The crate of a path: the text before its first `::`, without the disambiguator that
/// v0-mangled names (the standard library's) give it (`core[1a2b3c]`). None when the
/// path does not start with a crate name (a generic, a slice, a tuple).
fn first_segment(path: &str) -> Option<&str> {
    let head = &path[..path.find("::")?];
    let head = head.split('[').next().unwrap_or(head);
    let is_ident = head.chars().all(|c| c.is_alphanumeric() || c == '_');
    (!head.is_empty() && is_ident).then_some(head)
}

/// `Type as Trait>::method` -> (`Type`, Some(`Trait`)); `Type>::method` -> (`Type`, None).
/// Splits at the ` as ` and the `>` that belong to the outermost angle brackets.
fn split_qualified(inner: &str) -> (&str, Option<&str>) {
    let mut depth = 0usize;
    let mut as_at = None;
    for (i, c) in inner.char_indices() {
        match c {
            '<' => depth += 1,
            '>' if depth == 0 => {
                return match as_at {
                    Some(a) => (&inner[..a], Some(&inner[a + 4..i])),
                    None => (&inner[..i], None),
                };
            }
            '>' => depth -= 1,
            ' ' if depth == 0 && as_at.is_none() && inner[i..].starts_with(" as ") => {
                as_at = Some(i)
            }
            _ => {}
        }
    }
    (inner, None)
}

#[cfg(test)]
mod tests {
    use super::super::strip::tests::{custom, section, HEADER};
    use super::*;

    #[test]
    fn crates_of_demangled_names() {
        let cases = [
            ("serde_json::de::Deserializer<R>::parse_any", "serde_json"),
            ("core::ptr::drop_in_place<alloc::string::String>", "core"),
            (
                "<serde_json::value::Value as core::fmt::Debug>::fmt",
                "serde_json",
            ),
            (
                "<&mut alloc::vec::Vec<u8> as std::io::Write>::write",
                "alloc",
            ),
            ("<u8 as core::fmt::Display>::fmt", "core"),
            ("<[T] as core::fmt::Debug>::fmt", "core"),
            ("<alloc::vec::Vec<T, A> as core::ops::Drop>::drop", "alloc"),
            ("<p256::Scalar>::invert", "p256"),
            (
                "genbase_shared::auth::verify::h0123456789abcdef",
                "genbase_shared",
            ),
            ("core[c5930c85a12de822]::str::slice_error_fail_rt", "core"),
            (
                "<dlmalloc[e24a2770]::dlmalloc::Dlmalloc<dlmalloc[e24a2770]::sys::System>>::free",
                "dlmalloc",
            ),
            ("<str as core[c5930c85a12de822]::fmt::Debug>::fmt", "core"),
            ("<char>::escape_debug_ext", "core"),
            ("__wbindgen_malloc", SYMBOLS),
            ("memcpy", SYMBOLS),
            ("<Vec<T>>::f", UNKNOWN),
        ];
        for (name, expected) in cases {
            assert_eq!(crate_of(name), expected, "{name}");
        }
    }

    /// A module with one imported function (index 0) and three bodies (indexes 1-3, of 3, 4
    /// and 5 bytes after their length prefix), the last unnamed, and 10 bytes of data.
    fn module() -> Vec<u8> {
        let types = section(1, &[1, 0x60, 0, 0]);
        let imports = section(2, &[1, 1, b'm', 1, b'f', 0, 0]);
        let funcs = section(3, &[3, 0, 0, 0]);
        let code = section(
            10,
            &[3, 3, 0, 1, 0x0b, 4, 0, 1, 1, 0x0b, 5, 0, 1, 1, 1, 0x0b],
        );
        let data = section(11, &[1, 0, 0x41, 0, 0x0b, 10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let a = b"core::a";
        let b = b"<serde::B as core::C>::d";
        let mut map = vec![2, 1, a.len() as u8];
        map.extend_from_slice(a);
        map.extend_from_slice(&[2, b.len() as u8]);
        map.extend_from_slice(b);
        let mut names = vec![1, map.len() as u8];
        names.extend_from_slice(&map);
        let names = custom("name", &names);
        [&HEADER[..], &types, &imports, &funcs, &code, &data, &names].concat()
    }

    #[test]
    fn code_bytes_per_crate_largest_first() {
        let rows = by_crate(&module()).unwrap();
        let expected = [(DATA, 10), (UNKNOWN, 5), ("serde", 4), ("core", 3)];
        let rows: Vec<(&str, u64)> = rows.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(rows, expected);
    }
}
