//! The query string of a list endpoint: every parameter checked before any network hop. An
//! unknown or repeated parameter is refused rather than ignored, since a misspelt filter
//! would otherwise list everything.

use crate::error::ApiError;

/// A query string whose names are all among a list's parameters, each given at most once.
pub struct Params<'q>(&'q [(String, String)]);

impl<'q> Params<'q> {
    pub fn new(query: &'q [(String, String)], allowed: &[&str]) -> Result<Params<'q>, ApiError> {
        for (i, (name, _)) in query.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::validation(format!(
                    "unknown query parameter {name} (use {})",
                    allowed.join(", ")
                )));
            }
            if query[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(ApiError::validation(format!(
                    "{name} is given more than once"
                )));
            }
        }
        Ok(Params(query))
    }

    pub fn get(&self, name: &str) -> Option<&'q str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A `true` / `false` parameter.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.get(name)
            .map(|value| match value {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::validation(format!(
                    "{name} must be true or false"
                ))),
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_query;

    #[test]
    fn unknown_repeated_and_non_boolean_parameters_are_refused() {
        for (query, message) in [
            (
                "actve=true",
                "unknown query parameter actve (use active, limit)",
            ),
            ("active=true&active=false", "active is given more than once"),
        ] {
            let q = parse_query(query);
            let err = Params::new(&q, &["active", "limit"]).err().unwrap();
            assert_eq!((err.status, err.message.as_str()), (400, message));
        }
        let q = parse_query("active=yes");
        let params = Params::new(&q, &["active"]).unwrap();
        assert_eq!(
            params.flag("active").unwrap_err().message,
            "active must be true or false"
        );
        let q = parse_query("active=false");
        let params = Params::new(&q, &["active"]).unwrap();
        assert_eq!(params.flag("active").unwrap(), Some(false));
        assert_eq!(params.get("limit"), None);
    }
}
