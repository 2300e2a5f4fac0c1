//! The one routing idiom: a function declares its endpoints as an enum with [`endpoints!`],
//! one line per route, and its handler matches on that enum.
//!
//! ```ignore
//! genbase_shared::endpoints! {
//!     enum Endpoint {
//!         GET "/v1/generations/:id" => Get { id: Id },
//!         POST "/v1/generations/:id/cancel" => Cancel { id: Id },
//!     }
//! }
//! match Endpoint::parse(&req.method, &req.path)? { Endpoint::Get { id } => ..., ... }
//! ```
//!
//! A `:name` segment of the pattern becomes the variant's field `name`, parsed by its type's
//! [`PathParam`] (a bad id is a 400 naming the field). An unknown path is the shared 404; a
//! known path under another method the shared 405 with `Allow`.
//!
//! A path is the most specific pattern it matches, whatever the method, as OpenAPI matches
//! concrete paths before templated ones: `PATCH /v1/generations/delete` is a 405 when only
//! `POST /v1/generations/delete` exists, not a 400 from `PATCH /v1/generations/:id` reading
//! `delete` as an id.

use super::query::percent_decode;
use crate::error::ApiError;
use crate::validate::Id;

/// Declares an endpoint enum and its `parse(method, path)`; see the module documentation.
#[macro_export]
macro_rules! endpoints {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $method:ident $pattern:literal => $variant:ident $({ $($field:ident : $ty:ty),+ $(,)? })?
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant $({ $($field: $ty),+ })? ),+
        }

        impl $name {
            /// `(method, pattern)` of every endpoint, in matching order.
            pub const ROUTES: &'static [(&'static str, &'static str)] =
                &[$((stringify!($method), $pattern)),+];

            /// The endpoint `method` and `path` name, with its path parameters parsed.
            pub fn parse(
                method: &str,
                path: &str,
            ) -> ::core::result::Result<Self, $crate::error::ApiError> {
                let _shape = $crate::http::most_specific(path, Self::ROUTES);
                $(
                    if let ::core::option::Option::Some(_params) = _shape
                        .as_deref()
                        .filter(|s| *s == $crate::http::shape($pattern))
                        .and_then(|_| {
                            $crate::http::match_endpoint(stringify!($method), $pattern, method, path)
                        })
                    {
                        return ::core::result::Result::Ok(
                            $name::$variant $({ $($field: _params.get(stringify!($field))?),+ })?
                        );
                    }
                )+
                ::core::result::Result::Err($crate::http::no_endpoint(method, path, Self::ROUTES))
            }
        }
    };
}

/// A type a `:name` path segment can be parsed into.
pub trait PathParam: Sized {
    /// `name` is the segment's name, for the 400's message.
    fn from_segment(name: &str, value: &str) -> Result<Self, ApiError>;
}

impl PathParam for Id {
    fn from_segment(name: &str, value: &str) -> Result<Id, ApiError> {
        Id::parse(name, value)
    }
}

/// The `:name` segments of a matched path, percent-decoded.
#[derive(Debug, PartialEq)]
pub struct PathParams(Vec<(String, String)>);

impl PathParams {
    pub fn get<T: PathParam>(&self, name: &str) -> Result<T, ApiError> {
        let (_, value) = self
            .0
            .iter()
            .find(|(n, _)| n == name)
            // A variant field without its `:name` in the pattern: our bug, not the client's.
            .ok_or_else(|| ApiError::internal(format!("route pattern has no :{name}")))?;
        T::from_segment(name, value)
    }
}

/// The path parameters when `method` and `path` match one route (methods case-insensitive,
/// a trailing slash on the path ignored).
pub fn match_endpoint(
    route_method: &str,
    pattern: &str,
    method: &str,
    path: &str,
) -> Option<PathParams> {
    if !route_method.eq_ignore_ascii_case(method) {
        return None;
    }
    match_pattern(pattern, path)
}

/// A pattern with each `:name` segment written `:`: two patterns of one shape name the same
/// paths.
pub fn shape(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| {
            if segment.starts_with(':') {
                ":"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The shape of the most specific pattern of `routes` that `path` matches, under any method:
/// of two, the one with a fixed segment where the other has a parameter, first from the left.
pub fn most_specific(path: &str, routes: &[(&str, &str)]) -> Option<String> {
    routes
        .iter()
        .filter(|(_, pattern)| match_pattern(pattern, path).is_some())
        .map(|(_, pattern)| shape(pattern))
        .max_by(|a, b| {
            let fixed = |s: &str| s.split('/').map(|seg| seg != ":").collect::<Vec<_>>();
            // On a tie the earlier route wins (`max_by` keeps the last maximum, so reverse).
            fixed(a).cmp(&fixed(b)).then(std::cmp::Ordering::Greater)
        })
}

/// The error for a request no route took: 405 with `Allow` when the path exists under other
/// methods, 404 otherwise.
pub fn no_endpoint(method: &str, path: &str, routes: &[(&str, &str)]) -> ApiError {
    let best = most_specific(path, routes);
    let mut allowed: Vec<&str> = Vec::new();
    for (m, pattern) in routes {
        if best.as_deref() == Some(shape(pattern).as_str()) && !allowed.contains(m) {
            allowed.push(m);
        }
    }
    if allowed.is_empty() {
        return ApiError::not_found(format!("no endpoint at {path}"));
    }
    let allow = allowed.join(", ");
    let mut err = ApiError::method_not_allowed().with_header("allow", &allow);
    err.message = format!("method {method} not allowed; use {allow}");
    err
}

fn match_pattern(pattern: &str, path: &str) -> Option<PathParams> {
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
            (None, None) => return Some(PathParams(params)),
            (Some(w), Some(g)) if w.starts_with(':') => {
                if g.is_empty() {
                    return None;
                }
                params.push((w[1..].to_owned(), percent_decode(g)?));
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::endpoints! {
        enum Endpoint {
            GET "/v1/generations" => List,
            POST "/v1/generations" => Start,
            GET "/v1/generations/:id" => Get { id: Id },
            DELETE "/v1/generations/:id" => Delete { id: Id },
            POST "/v1/generations/:id/cancel" => Cancel { id: Id },
            GET "/v1/workspaces/:ws/items/:item" => Item { item: Id, ws: Id },
            GET "/v1/broken/:x" => Broken { y: Id },
            POST "/v1/generations/delete" => DeleteMany,
        }
    }

    const A: &str = "8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f10";
    const B: &str = "5e0b1a2c-0000-4000-8000-000000000002";

    fn id(s: &str) -> Id {
        Id::parse("id", s).unwrap()
    }

    #[test]
    fn static_and_parameterised_routes_match_by_method() {
        assert_eq!(
            Endpoint::parse("GET", "/v1/generations"),
            Ok(Endpoint::List)
        );
        assert_eq!(
            Endpoint::parse("POST", "/v1/generations/"),
            Ok(Endpoint::Start)
        );
        assert_eq!(
            Endpoint::parse("DELETE", &format!("/v1/generations/{A}")),
            Ok(Endpoint::Delete { id: id(A) })
        );
        assert_eq!(
            Endpoint::parse("post", &format!("/v1/generations/{A}/cancel")),
            Ok(Endpoint::Cancel { id: id(A) })
        );
    }

    #[test]
    fn parameters_are_taken_by_name_and_percent_decoded() {
        let path = format!("/v1/workspaces/{}/items/{B}", A.replace('-', "%2D"));
        assert_eq!(
            Endpoint::parse("GET", &path),
            Ok(Endpoint::Item {
                item: id(B),
                ws: id(A)
            })
        );
    }

    #[test]
    fn a_bad_parameter_is_a_400_naming_it() {
        let err = Endpoint::parse("GET", "/v1/generations/not-a-uuid").unwrap_err();
        assert_eq!(
            (err.status, err.message.as_str()),
            (400, "id must be a UUID")
        );
        let err = Endpoint::parse("GET", &format!("/v1/workspaces/x/items/{B}")).unwrap_err();
        assert_eq!(err.message, "ws must be a UUID");
    }

    #[test]
    fn a_field_missing_from_the_pattern_is_our_500() {
        let err = Endpoint::parse("GET", "/v1/broken/1").unwrap_err();
        assert_eq!(err.status, 500);
    }

    #[test]
    fn empty_or_extra_segments_are_404() {
        for path in [
            "/v1/generations//",
            "/v1/generations/a/b",
            "/v1",
            "/v1/generationsX",
            "",
        ] {
            let err = Endpoint::parse("GET", path).unwrap_err();
            assert_eq!(
                (err.status, err.code.as_str()),
                (404, "not_found"),
                "{path}"
            );
            assert!(err.headers.is_empty());
        }
    }

    #[test]
    fn a_known_path_with_the_wrong_method_is_405_with_allow() {
        let err = Endpoint::parse("PATCH", &format!("/v1/generations/{A}")).unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (405, "method_not_allowed"));
        assert_eq!(
            err.headers,
            [("allow".to_string(), "GET, DELETE".to_string())]
        );
        assert!(err.message.contains("GET, DELETE"), "{}", err.message);
        let err = Endpoint::parse("PUT", "/v1/generations").unwrap_err();
        assert_eq!(err.headers[0].1, "GET, POST");
    }

    #[test]
    fn a_fixed_path_is_its_own_route_whatever_the_order_and_method() {
        assert_eq!(
            Endpoint::parse("POST", "/v1/generations/delete"),
            Ok(Endpoint::DeleteMany)
        );
        for method in ["GET", "DELETE", "PATCH"] {
            let err = Endpoint::parse(method, "/v1/generations/delete").unwrap_err();
            assert_eq!(err.status, 405, "{method}");
            assert_eq!(err.headers, [("allow".to_string(), "POST".to_string())]);
        }
        // Another id is still the parameter's.
        assert_eq!(
            Endpoint::parse("GET", &format!("/v1/generations/{A}")),
            Ok(Endpoint::Get { id: id(A) })
        );
    }

    #[test]
    fn the_more_specific_shape_is_the_one_fixed_further_left() {
        let routes = [("GET", "/a/:x/c"), ("GET", "/a/b/:y"), ("GET", "/a/:z/:w")];
        assert_eq!(most_specific("/a/b/c", &routes).as_deref(), Some("/a/b/:"));
        assert_eq!(most_specific("/a/q/c", &routes).as_deref(), Some("/a/:/c"));
        assert_eq!(most_specific("/a/q/r", &routes).as_deref(), Some("/a/:/:"));
        assert_eq!(most_specific("/b", &routes), None);
    }

    #[test]
    fn the_routes_are_listed_in_declaration_order() {
        assert_eq!(Endpoint::ROUTES[0], ("GET", "/v1/generations"));
        assert_eq!(Endpoint::ROUTES.len(), 8);
    }

    #[test]
    fn the_root_path_is_matchable() {
        assert!(match_endpoint("GET", "/", "GET", "/").is_some());
        assert!(match_endpoint("GET", "/", "GET", "").is_none());
    }
}
