/// Splits `a=1&b=x%20y` into pairs (`+` is a space, as in HTML forms). Malformed escapes are
/// kept literally rather than failing: validation of the value happens later, by field.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .trim_start_matches('?')
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_form(name), decode_form(value))
        })
        .collect()
}

fn decode_form(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode(&spaced).unwrap_or(spaced)
}

/// `%XX` decoding; `None` if the result is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn query_strings_are_split_and_decoded() {
        assert_eq!(
            parse_query("?limit=20&q=a%20b+c&flag&x=%E2%9C%93"),
            pairs(&[("limit", "20"), ("q", "a b c"), ("flag", ""), ("x", "✓")])
        );
        assert_eq!(parse_query(""), pairs(&[]));
        assert_eq!(parse_query("a=1&&b=2"), pairs(&[("a", "1"), ("b", "2")]));
    }

    #[test]
    fn malformed_escapes_are_kept_literally() {
        assert_eq!(
            parse_query("a=%zz&b=%4"),
            pairs(&[("a", "%zz"), ("b", "%4")])
        );
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(percent_decode("100%").as_deref(), Some("100%"));
    }
}
