use super::request::ApiRequest;
use super::response::ApiResponse;

pub const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
pub const ALLOWED_HEADERS: &str =
    "authorization, content-type, apikey, idempotency-key, x-request-id";
/// Chromium caps preflight caching at 2 hours; asking for more is pointless.
pub const PREFLIGHT_MAX_AGE_SECS: u32 = 7200;

/// Browser origins allowed to call the API. Only a configured origin is echoed back; `*` in
/// the list allows any origin (safe here because auth is a bearer token, never a cookie, and
/// credentials are therefore never allowed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    pub allowed_origins: Vec<String>,
}

impl Cors {
    pub fn new(allowed_origins: Vec<String>) -> Cors {
        Cors { allowed_origins }
    }

    /// From a comma- or space-separated setting such as `CORS_ORIGINS`; a trailing `/` is
    /// dropped, since browsers send an origin without one.
    pub fn from_list(list: &str) -> Cors {
        Cors::new(
            list.split([',', ' ', '\n'])
                .map(|o| o.trim().trim_end_matches('/'))
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, if it may call us.
    fn allow_origin_value<'a>(&'a self, origin: Option<&'a str>) -> Option<&'a str> {
        let origin = origin?;
        if self
            .allowed_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
        {
            Some(origin)
        } else if self.allowed_origins.iter().any(|o| o == "*") {
            Some("*")
        } else {
            None
        }
    }

    /// Answer to `OPTIONS`. A disallowed origin gets a 204 without `Access-Control-*`
    /// headers, which the browser treats as a refusal.
    pub fn preflight(&self, req: &ApiRequest) -> ApiResponse {
        let mut resp = ApiResponse::no_content();
        resp.set_header("vary", "Origin");
        if let Some(allow) = self.allow_origin_value(req.origin()) {
            resp.set_header("access-control-allow-origin", allow);
            resp.set_header("access-control-allow-methods", ALLOWED_METHODS);
            resp.set_header("access-control-allow-headers", ALLOWED_HEADERS);
            resp.set_header(
                "access-control-max-age",
                &PREFLIGHT_MAX_AGE_SECS.to_string(),
            );
        }
        resp
    }

    /// Adds CORS headers to an actual response. `Vary: Origin` is always set: the answer
    /// differs by origin, and a shared cache must not hand one origin's answer to another.
    pub fn apply(&self, origin: Option<&str>, headers: &mut Vec<(String, String)>) {
        match headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case("vary"))
        {
            Some((_, vary))
                if !vary
                    .split(',')
                    .any(|v| v.trim().eq_ignore_ascii_case("origin")) =>
            {
                vary.push_str(", Origin");
            }
            Some(_) => {}
            None => headers.push(("vary".into(), "Origin".into())),
        }
        if let Some(allow) = self.allow_origin_value(origin) {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case("access-control-allow-origin"));
            headers.push(("access-control-allow-origin".into(), allow.to_owned()));
            headers.push((
                "access-control-expose-headers".into(),
                "x-request-id".into(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preflight_from(origin: &str) -> ApiRequest {
        ApiRequest::new(
            "OPTIONS",
            "/v1/generations",
            vec![],
            vec![
                ("Origin".into(), origin.into()),
                ("Access-Control-Request-Method".into(), "POST".into()),
            ],
            vec![],
        )
    }

    fn cors() -> Cors {
        Cors::from_list("https://app.example.com, http://localhost:3000/")
    }

    #[test]
    fn the_setting_is_split_on_commas_and_spaces() {
        assert_eq!(
            cors().allowed_origins,
            ["https://app.example.com", "http://localhost:3000"]
        );
    }

    #[test]
    fn a_configured_origin_gets_a_full_preflight_answer() {
        let resp = cors().preflight(&preflight_from("https://app.example.com"));
        assert_eq!(resp.status, 204);
        assert_eq!(
            resp.header("access-control-allow-origin"),
            Some("https://app.example.com")
        );
        assert_eq!(
            resp.header("access-control-allow-methods"),
            Some(ALLOWED_METHODS)
        );
        assert!(resp
            .header("access-control-allow-headers")
            .unwrap()
            .contains("idempotency-key"));
        assert_eq!(resp.header("vary"), Some("Origin"));
        assert_eq!(resp.header("access-control-allow-credentials"), None);
    }

    #[test]
    fn an_unknown_origin_is_not_echoed() {
        let resp = cors().preflight(&preflight_from("https://evil.example"));
        assert_eq!(resp.header("access-control-allow-origin"), None);
        assert_eq!(resp.header("vary"), Some("Origin"));
        let mut headers = vec![];
        cors().apply(Some("https://app.example.com.evil.example"), &mut headers);
        assert_eq!(headers, vec![("vary".to_string(), "Origin".to_string())]);
    }

    #[test]
    fn apply_echoes_an_allowed_origin_and_merges_vary() {
        let mut headers = vec![("Vary".to_string(), "Accept-Encoding".to_string())];
        cors().apply(Some("http://localhost:3000"), &mut headers);
        assert!(headers.contains(&("Vary".into(), "Accept-Encoding, Origin".into())));
        assert!(headers.contains(&(
            "access-control-allow-origin".into(),
            "http://localhost:3000".into()
        )));
        assert!(headers.contains(&(
            "access-control-expose-headers".into(),
            "x-request-id".into()
        )));
        let before = headers.len();
        cors().apply(Some("http://localhost:3000"), &mut headers);
        assert_eq!(
            headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("vary"))
                .count(),
            1
        );
        assert!(headers.len() <= before + 1);
    }

    #[test]
    fn a_wildcard_allows_any_origin_without_credentials() {
        let any = Cors::from_list("*");
        let resp = any.preflight(&preflight_from("https://whoever.example"));
        assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    }

    #[test]
    fn no_origin_header_means_no_cors_headers() {
        let mut headers = vec![];
        cors().apply(None, &mut headers);
        assert_eq!(headers.len(), 1);
    }
}
