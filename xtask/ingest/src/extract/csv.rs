//! CSV with a header row: each row a paragraph of "header: value" lines, so a chunk of rows
//! still says what each value is. Empty values are left out; a row longer than the header
//! names its extra columns by number.

use super::document::Builder;
use super::Unreadable;

pub fn read(text: &str, doc: &mut Builder) -> Result<(), Unreadable> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let unreadable =
        |e: csv::Error| Unreadable::new(format!("the CSV file could not be read: {e}"));
    let headers = reader.headers().map_err(unreadable)?.clone();
    for row in reader.records() {
        let row = row.map_err(unreadable)?;
        let lines: Vec<String> = row
            .iter()
            .enumerate()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(i, value)| {
                let name = headers.get(i).map(str::trim).unwrap_or_default();
                match name {
                    "" => format!("column {}: {}", i + 1, value.trim()),
                    name => format!("{name}: {}", value.trim()),
                }
            })
            .collect();
        doc.paragraph(&lines.join("\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_is_a_paragraph_of_header_value_lines() {
        let mut doc = Builder::default();
        read(
            "name,role,\nAda,\"author, first\",\n,,\nGrace,admiral,extra,more\n",
            &mut doc,
        )
        .unwrap();
        let sections = doc.finish();
        assert_eq!(sections.len(), 1);
        assert_eq!(
            sections[0].text,
            "name: Ada\nrole: author, first\n\n\
             name: Grace\nrole: admiral\ncolumn 3: extra\ncolumn 4: more"
        );
    }

    #[test]
    fn a_file_with_only_its_header_row_has_no_text() {
        let mut doc = Builder::default();
        read("a,b\n", &mut doc).unwrap();
        assert!(doc.finish().is_empty());
    }
}
