//! Takes the `name` custom section out of a module: the deployed bundle has no use for
//! function names, which only label stack traces, and they are about 30% of a module that
//! keeps them.

use anyhow::{bail, Result};
use wasmparser::{Chunk, Parser, Payload};

/// `wasm` without its `name` section; every other byte is kept as is.
pub fn without_names(wasm: &[u8]) -> Result<Vec<u8>> {
    let mut parser = Parser::new(0);
    let mut out = Vec::with_capacity(wasm.len());
    let mut pos = 0;
    loop {
        let Chunk::Parsed { consumed, payload } = parser.parse(&wasm[pos..], true)? else {
            bail!("truncated wasm module");
        };
        let mut end = pos + consumed;
        let keep = match payload {
            Payload::CustomSection(section) => section.name() != "name",
            // The parser would go on into each body; the section is copied whole instead.
            Payload::CodeSectionStart { size, .. } => {
                parser.skip_section();
                end += size as usize;
                true
            }
            Payload::End(_) => break,
            _ => true,
        };
        if keep {
            out.extend_from_slice(&wasm[pos..end]);
        }
        pos = end;
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A section: id, length, contents (lengths here stay below 128, one LEB byte).
    pub fn section(id: u8, contents: &[u8]) -> Vec<u8> {
        let mut s = vec![id, contents.len() as u8];
        s.extend_from_slice(contents);
        s
    }

    pub fn custom(name: &str, contents: &[u8]) -> Vec<u8> {
        let mut c = vec![name.len() as u8];
        c.extend_from_slice(name.as_bytes());
        c.extend_from_slice(contents);
        section(0, &c)
    }

    pub const HEADER: [u8; 8] = [0, b'a', b's', b'm', 1, 0, 0, 0];

    #[test]
    fn only_the_name_section_goes() {
        let types = section(1, &[1, 0x60, 0, 0]); // one type: () -> ()
        let funcs = section(3, &[1, 0]);
        let code = section(10, &[1, 2, 0, 0x0b]); // one body: no locals, `end`
        let names = custom("name", &[1, 4, 1, 0, 1, b'f']); // function 0 is "f"
        let producers = custom("producers", &[0]);
        let module = [&HEADER[..], &types, &funcs, &code, &names, &producers].concat();
        let expected = [&HEADER[..], &types, &funcs, &code, &producers].concat();
        assert_eq!(without_names(&module).unwrap(), expected);
        assert_eq!(without_names(&expected).unwrap(), expected);
    }

    #[test]
    fn a_truncated_module_is_an_error() {
        let code = section(10, &[1, 2, 0, 0x0b]);
        let module = [&HEADER[..], &code[..4]].concat();
        assert!(without_names(&module).is_err());
    }
}
