use super::query::percent_decode;
use crate::error::ApiError;

/// Finds the first route whose method and pattern match. Patterns are `/`-separated; a
/// `:name` segment matches one non-empty segment and is returned percent-decoded, in order.
/// A trailing slash on the path is ignored.
pub fn match_route(
    method: &str,
    path: &str,
    routes: &[(&str, &str)],
) -> Option<(usize, Vec<String>)> {
    routes.iter().enumerate().find_map(|(i, (m, pattern))| {
        if !m.eq_ignore_ascii_case(method) {
            return None;
        }
        match_pattern(pattern, path).map(|params| (i, params))
    })
}

/// Methods of the routes whose pattern matches `path`, for the `Allow` header of a 405.
pub fn allowed_methods<'a>(path: &str, routes: &[(&'a str, &str)]) -> Vec<&'a str> {
    let mut methods: Vec<&'a str> = Vec::new();
    for (m, pattern) in routes {
        if match_pattern(pattern, path).is_some() && !methods.contains(m) {
            methods.push(m);
        }
    }
    methods
}

/// [`match_route`], with 405 when the path exists under another method and 404 otherwise.
pub fn route(
    method: &str,
    path: &str,
    routes: &[(&str, &str)],
) -> Result<(usize, Vec<String>), ApiError> {
    if let Some(found) = match_route(method, path, routes) {
        return Ok(found);
    }
    let allowed = allowed_methods(path, routes);
    if allowed.is_empty() {
        Err(ApiError::not_found(format!("no route for {path}")))
    } else {
        let mut err = ApiError::method_not_allowed();
        err.message = format!("method {method} not allowed; use {}", allowed.join(", "));
        Err(err)
    }
}

fn match_pattern(pattern: &str, path: &str) -> Option<Vec<String>> {
    let trim = |s: &'_ str| -> String {
        let t = s.strip_suffix('/').filter(|t| !t.is_empty()).unwrap_or(s);
        t.to_owned()
    };
    let (pattern, path) = (trim(pattern), trim(path));
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    let mut params = Vec::new();
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) if w.starts_with(':') => {
                if g.is_empty() {
                    return None;
                }
                params.push(percent_decode(g)?);
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &[(&str, &str)] = &[
        ("GET", "/v1/generations"),
        ("POST", "/v1/generations"),
        ("GET", "/v1/generations/:id"),
        ("DELETE", "/v1/generations/:id"),
        ("POST", "/v1/generations/:id/cancel"),
        ("GET", "/v1/workspaces/:ws/items/:item"),
    ];

    #[test]
    fn static_and_parameterised_routes_match_by_method() {
        assert_eq!(
            match_route("GET", "/v1/generations", ROUTES),
            Some((0, vec![]))
        );
        assert_eq!(
            match_route("POST", "/v1/generations/", ROUTES),
            Some((1, vec![]))
        );
        assert_eq!(
            match_route("DELETE", "/v1/generations/abc", ROUTES),
            Some((3, vec!["abc".into()]))
        );
        assert_eq!(
            match_route("POST", "/v1/generations/abc/cancel", ROUTES),
            Some((4, vec!["abc".into()]))
        );
        assert_eq!(
            match_route("get", "/v1/workspaces/w%201/items/i", ROUTES),
            Some((5, vec!["w 1".into(), "i".into()]))
        );
    }

    #[test]
    fn empty_or_extra_segments_do_not_match() {
        assert_eq!(match_route("GET", "/v1/generations//", ROUTES), None);
        assert_eq!(match_route("GET", "/v1/generations/a/b", ROUTES), None);
        assert_eq!(match_route("GET", "/v1", ROUTES), None);
        assert_eq!(match_route("GET", "/v1/generationsX", ROUTES), None);
    }

    #[test]
    fn a_known_path_with_the_wrong_method_is_405_and_an_unknown_path_404() {
        let err = route("PATCH", "/v1/generations/abc", ROUTES).unwrap_err();
        assert_eq!(err.status, 405);
        assert!(err.message.contains("GET, DELETE"), "{}", err.message);
        assert_eq!(route("GET", "/v2/nothing", ROUTES).unwrap_err().status, 404);
        assert_eq!(allowed_methods("/v1/generations", ROUTES), ["GET", "POST"]);
    }

    #[test]
    fn the_root_path_is_matchable() {
        assert_eq!(match_route("GET", "/", &[("GET", "/")]), Some((0, vec![])));
        assert_eq!(match_route("GET", "", &[("GET", "/")]), None);
    }
}
