use super::{invalid, is_forbidden_char};
use crate::error::ApiError;
use serde::Serialize;

/// Trims, then demands `min..=max` characters and no control or invisible formatting chars
/// (newlines and tabs allowed only if `multiline`).
fn clean_text(field: &str, value: &str, max: usize, multiline: bool) -> Result<String, ApiError> {
    let trimmed = value.trim();
    let count = trimmed.chars().count();
    if count == 0 || count > max {
        return Err(invalid(field, &format!("must be 1 to {max} characters")));
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\t' | '\r');
    if trimmed.chars().any(|c| is_forbidden_char(c) && !allowed(c)) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}

/// A profile's display name: 1 to 80 characters after trimming, single line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 80;

    pub fn parse(value: &str) -> Result<DisplayName, ApiError> {
        clean_text("display_name", value, Self::MAX_CHARS, false).map(DisplayName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A short single-line text field of at most `max` characters (model names, usernames...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ShortText(String);

impl ShortText {
    pub fn parse(field: &str, value: &str, max: usize) -> Result<ShortText, ApiError> {
        clean_text(field, value, max, false).map(ShortText)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A generation prompt: 1 to [`crate::limits::PROMPT_CHARS`] characters after trimming;
/// newlines and tabs allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Prompt(String);

impl Prompt {
    pub const MAX_CHARS: usize = crate::limits::PROMPT_CHARS;

    pub fn parse(value: &str) -> Result<Prompt, ApiError> {
        clean_text("prompt", value, Self::MAX_CHARS, true).map(Prompt)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, pragmatically: `local@domain.tld`, ASCII, at most 254 characters. The
/// domain is lower-cased; the local part is kept (it may be case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(value: &str) -> Result<Email, ApiError> {
        let bad = || invalid("email", "must be an address like name@example.com");
        let value = value.trim();
        if value.len() > Self::MAX_LEN {
            return Err(bad());
        }
        let (local, domain) = value.split_once('@').ok_or_else(bad)?;
        let local_ok = (1..=64).contains(&local.len())
            && local
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"@()<>[]:;,\\\"".contains(&b))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                (1..=63).contains(&l.len())
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
        if !local_ok || !domain_ok {
            return Err(bad());
        }
        Ok(Email(format!("{local}@{}", domain.to_ascii_lowercase())))
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
    fn a_display_name_is_trimmed() {
        assert_eq!(
            DisplayName::parse("  Ada Lovelace \n").unwrap().as_str(),
            "Ada Lovelace"
        );
        assert_eq!(DisplayName::parse("字🙂").unwrap().as_str(), "字🙂");
    }

    #[test]
    fn a_display_name_must_have_1_to_80_characters_counted_as_chars() {
        assert!(DisplayName::parse(&"é".repeat(80)).is_ok());
        let err = DisplayName::parse(&"é".repeat(81)).unwrap_err();
        assert_eq!(err.message, "display_name must be 1 to 80 characters");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse("").is_err());
    }

    #[test]
    fn a_display_name_refuses_control_and_bidi_characters() {
        for bad in [
            "a\0b",
            "line\nbreak",
            "evil\u{202e}gnp.exe",
            "zero\u{200b}width",
            "del\u{7f}",
        ] {
            let err = DisplayName::parse(bad).unwrap_err();
            assert_eq!(
                err.message,
                "display_name must not contain control characters"
            );
        }
    }

    #[test]
    fn any_accepted_display_name_is_trimmed_clean_and_stable() {
        let mut gen = Gen::new(3);
        for _ in 0..3000 {
            let s = gen.string(MIXED, 100);
            match DisplayName::parse(&s) {
                Ok(name) => {
                    let v = name.as_str();
                    assert_eq!(v, v.trim());
                    assert!((1..=80).contains(&v.chars().count()));
                    assert!(!v.chars().any(char::is_control));
                    assert_eq!(DisplayName::parse(v).unwrap(), name);
                }
                Err(err) => {
                    assert_eq!(err.status, 400);
                    assert!(err.message.starts_with("display_name "));
                }
            }
        }
    }

    #[test]
    fn short_text_names_the_field_and_its_limit() {
        assert_eq!(
            ShortText::parse("model", " flux-dev ", 64)
                .unwrap()
                .as_str(),
            "flux-dev"
        );
        let err = ShortText::parse("telegram_username", &"x".repeat(65), 64).unwrap_err();
        assert_eq!(err.message, "telegram_username must be 1 to 64 characters");
    }

    #[test]
    fn a_prompt_keeps_inner_newlines_but_not_other_controls() {
        let p = Prompt::parse("  a cat\n\twearing a hat  ").unwrap();
        assert_eq!(p.as_str(), "a cat\n\twearing a hat");
        assert!(Prompt::parse("nul\0byte").is_err());
        assert!(Prompt::parse(&"p".repeat(Prompt::MAX_CHARS)).is_ok());
        assert_eq!(
            Prompt::parse(&"p".repeat(Prompt::MAX_CHARS + 1))
                .unwrap_err()
                .message,
            format!("prompt must be 1 to {} characters", Prompt::MAX_CHARS)
        );
    }

    #[test]
    fn any_accepted_prompt_is_within_bounds() {
        let mut gen = Gen::new(5);
        for _ in 0..1000 {
            let s = gen.string(MIXED, Prompt::MAX_CHARS + 100);
            if let Ok(p) = Prompt::parse(&s) {
                assert!((1..=Prompt::MAX_CHARS).contains(&p.as_str().chars().count()));
                assert!(!p.as_str().contains('\0'));
            }
        }
    }

    #[test]
    fn ordinary_emails_parse_and_the_domain_is_lower_cased() {
        assert_eq!(
            Email::parse(" Ada.L+tag@Example.COM ").unwrap().as_str(),
            "Ada.L+tag@example.com"
        );
        assert!(Email::parse("a@b.co").is_ok());
        assert!(Email::parse("x@mail.sub-domain.example.org").is_ok());
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@b c.com",
            "a@-b.com",
            "a@b-.com",
            "a@b..com",
            ".a@b.com",
            "a..b@c.com",
            "a@b.c",
            "a@b.c0m",
            "é@b.com",
            "a@bé.com",
            "<a>@b.com",
        ] {
            let err = Email::parse(bad).unwrap_err();
            assert!(err.message.starts_with("email "), "{bad}");
        }
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(200));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn generated_valid_emails_are_accepted_and_whitespace_inside_is_not() {
        let mut gen = Gen::new(13);
        let local_chars: Vec<char> = ('a'..='z').chain('0'..='9').chain("+_-".chars()).collect();
        let label_chars: Vec<char> = ('a'..='z').chain('0'..='9').collect();
        for _ in 0..1000 {
            let local = format!("{}{}", gen.pick(&label_chars), gen.string(&local_chars, 20));
            let domain = format!(
                "{}{}.com",
                gen.pick(&label_chars),
                gen.string(&label_chars, 20)
            );
            let email = format!("{local}@{domain}");
            assert!(Email::parse(&email).is_ok(), "{email}");
            let cut = 1 + gen.below(email.len() - 1);
            let spaced = format!("{} {}", &email[..cut], &email[cut..]);
            assert!(Email::parse(&spaced).is_err(), "{spaced}");
        }
    }
}
