use super::invalid;
use crate::error::ApiError;
use serde::Serialize;

/// An absolute `http` or `https` URL of at most 2048 characters, in visible ASCII (non-ASCII
/// must be percent-encoded), with a host and without credentials (`user:pass@host` is a
/// phishing device, never needed for an avatar or a callback).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct HttpUrl(String);

impl HttpUrl {
    pub const MAX_LEN: usize = 2048;

    pub fn parse(field: &str, value: &str) -> Result<HttpUrl, ApiError> {
        let bad = || invalid(field, "must be an http(s) URL of at most 2048 characters");
        let value = value.trim();
        if value.len() > Self::MAX_LEN || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad());
        }
        let lower = value.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"))
            .ok_or_else(bad)?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority
            .rsplit_once(':')
            .filter(|(_, port)| {
                port.bytes().all(|b| b.is_ascii_digit()) && !authority.ends_with(']')
            })
            .map_or(authority, |(host, _)| host);
        if host.is_empty() || authority.contains('@') || host.starts_with('.') {
            return Err(bad());
        }
        Ok(HttpUrl(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{Gen, MIXED};

    #[test]
    fn http_and_https_urls_parse() {
        for ok in [
            "https://cdn.example.com/a.png",
            "http://localhost:54321/storage/v1/object/public/avatars/u.png?x=1#f",
            "HTTPS://EXAMPLE.COM",
            "https://[::1]:8080/x",
            "https://example.com/caf%C3%A9",
        ] {
            assert_eq!(HttpUrl::parse("avatar_url", ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn other_schemes_relative_urls_and_credentials_are_refused() {
        for bad in [
            "",
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "ftp://example.com/x",
            "//example.com/x",
            "/relative",
            "https://",
            "https:///path",
            "https://user:pass@example.com/",
            "https://example.com/a b",
            "https://example.com/café",
            "https://example.com/\u{0}",
        ] {
            let err = HttpUrl::parse("avatar_url", bad).unwrap_err();
            assert!(err.message.starts_with("avatar_url "), "{bad}");
        }
    }

    #[test]
    fn the_length_limit_is_2048() {
        let base = "https://example.com/";
        let ok = format!("{base}{}", "a".repeat(2048 - base.len()));
        assert!(HttpUrl::parse("u", &ok).is_ok());
        assert!(HttpUrl::parse("u", &format!("{ok}a")).is_err());
    }

    #[test]
    fn no_accepted_url_contains_whitespace_or_controls() {
        let mut gen = Gen::new(17);
        for _ in 0..3000 {
            let tail = gen.string(MIXED, 30);
            let candidate = format!(
                "{}{}",
                gen.pick(&["https://", "http://", "", "https://a.b"]),
                tail
            );
            if let Ok(url) = HttpUrl::parse("u", &candidate) {
                assert!(url.as_str().bytes().all(|b| b.is_ascii_graphic()));
                assert!(url.as_str().to_ascii_lowercase().starts_with("http"));
            }
        }
    }
}
