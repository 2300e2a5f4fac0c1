//! Which of Storage's object routes a request is (storage: src/http/routes/object/index.ts).
//! Static first segments (`list`, `sign`, `upload`, `info`, `public`, `authenticated`) win
//! over a bucket of that name, as in Storage's router.

use axum::http::Method;
use percent_encoding::percent_decode_str;

/// How a route authenticates its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A valid JWT is required; the object row is read as its role.
    Required,
    /// Storage's `allowInvalidJwt`: no token (or a bad one) means the anonymous role.
    Optional,
    /// No caller at all: the public and signed routes read as the service role.
    Public,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST` (create) or `PUT` (update) `/object/{bucket}/{name}`.
    Upload {
        bucket: String,
        name: String,
        update: bool,
    },
    /// `GET /object/{bucket}/{name}`, `/object/authenticated/...`, `/object/public/...`.
    Download {
        bucket: String,
        name: String,
        access: Access,
    },
    /// `HEAD` of the same paths: the object's headers, no body.
    Head {
        bucket: String,
        name: String,
        access: Access,
    },
    /// `GET /object/info/{bucket}/{name}`, `/object/info/authenticated/...`, `/object/info/public/...`.
    Info {
        bucket: String,
        name: String,
        access: Access,
        head: bool,
    },
    /// `POST /object/list/{bucket}`.
    List { bucket: String },
    /// `DELETE /object/{bucket}` with `{prefixes}`.
    RemoveMany { bucket: String },
    /// `DELETE /object/{bucket}/{name}`.
    Remove { bucket: String, name: String },
    /// `POST /object/sign/{bucket}/{name}`.
    Sign { bucket: String, name: String },
    /// `POST /object/sign/{bucket}` with `{expiresIn, paths}`.
    SignMany { bucket: String },
    /// `POST /object/upload/sign/{bucket}/{name}`.
    SignUpload { bucket: String, name: String },
    /// `PUT /object/upload/sign/{bucket}/{name}?token=`.
    UploadSigned { bucket: String, name: String },
    /// `GET /object/sign/{bucket}/{name}?token=`.
    GetSigned {
        bucket: String,
        name: String,
        head: bool,
    },
    /// Everything else under `/storage/v1`: buckets, image rendering, TUS, S3, move, copy, ...
    Unsupported,
}

/// `path` is the request path after `/storage/v1`.
pub fn route(method: &Method, path: &str) -> Route {
    let Some(rest) = path.strip_prefix("/object/") else {
        return Route::Unsupported;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let head = *method == Method::HEAD;
    // (bucket, name) from the segments after `skip` static ones; None when no name segment.
    let target = |skip: usize| -> Option<(String, String)> {
        let bucket = segments.get(skip)?;
        if segments.len() < skip + 2 {
            return None;
        }
        Some((decode(bucket), decode(&segments[skip + 1..].join("/"))))
    };
    let only_bucket = |skip: usize| (segments.len() == skip + 1).then(|| decode(segments[skip]));
    let first = segments[0];
    let second = segments.get(1).copied();
    let found = match (method.as_str(), first) {
        ("POST", "list") => only_bucket(1).map(|bucket| Route::List { bucket }),
        ("POST", "sign") => only_bucket(1)
            .map(|bucket| Route::SignMany { bucket })
            .or_else(|| target(1).map(|(bucket, name)| Route::Sign { bucket, name })),
        ("POST", "upload") if second == Some("sign") => {
            target(2).map(|(bucket, name)| Route::SignUpload { bucket, name })
        }
        ("PUT", "upload") if second == Some("sign") => {
            target(2).map(|(bucket, name)| Route::UploadSigned { bucket, name })
        }
        ("POST", "list-v2" | "move" | "copy") => None,
        ("POST" | "PUT", _) => target(0).map(|(bucket, name)| Route::Upload {
            bucket,
            name,
            update: *method == Method::PUT,
        }),
        ("GET" | "HEAD", "sign") => {
            target(1).map(|(bucket, name)| Route::GetSigned { bucket, name, head })
        }
        ("GET" | "HEAD", "info") => {
            let (skip, access) = match second {
                Some("public") => (2, Access::Public),
                Some("authenticated") => (2, Access::Required),
                _ => (1, Access::Optional),
            };
            target(skip).map(|(bucket, name)| Route::Info {
                bucket,
                name,
                access,
                head,
            })
        }
        ("GET" | "HEAD", _) => {
            let (skip, access) = match first {
                "public" => (1, Access::Public),
                "authenticated" => (1, Access::Required),
                _ => (0, Access::Optional),
            };
            target(skip).map(|(bucket, name)| {
                if head {
                    Route::Head {
                        bucket,
                        name,
                        access,
                    }
                } else {
                    Route::Download {
                        bucket,
                        name,
                        access,
                    }
                }
            })
        }
        ("DELETE", _) => only_bucket(0)
            .map(|bucket| Route::RemoveMany { bucket })
            .or_else(|| target(0).map(|(bucket, name)| Route::Remove { bucket, name })),
        _ => None,
    };
    found.unwrap_or(Route::Unsupported)
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(method: Method, path: &str) -> Route {
        route(&method, path)
    }

    #[test]
    fn uploads_and_downloads() {
        assert_eq!(
            r(Method::POST, "/object/media/u/a%20b.png"),
            Route::Upload {
                bucket: "media".into(),
                name: "u/a b.png".into(),
                update: false
            }
        );
        assert_eq!(
            r(Method::PUT, "/object/media/u/a.png"),
            Route::Upload {
                bucket: "media".into(),
                name: "u/a.png".into(),
                update: true
            }
        );
        assert_eq!(
            r(Method::GET, "/object/authenticated/media/u/a.png"),
            Route::Download {
                bucket: "media".into(),
                name: "u/a.png".into(),
                access: Access::Required
            }
        );
        assert_eq!(
            r(Method::GET, "/object/public/pub/a.png"),
            Route::Download {
                bucket: "pub".into(),
                name: "a.png".into(),
                access: Access::Public
            }
        );
        assert_eq!(
            r(Method::HEAD, "/object/media/a.png"),
            Route::Head {
                bucket: "media".into(),
                name: "a.png".into(),
                access: Access::Optional
            }
        );
        assert_eq!(
            r(Method::GET, "/object/info/authenticated/media/a.png"),
            Route::Info {
                bucket: "media".into(),
                name: "a.png".into(),
                access: Access::Required,
                head: false
            }
        );
        assert_eq!(
            r(Method::GET, "/object/info/media/a.png"),
            Route::Info {
                bucket: "media".into(),
                name: "a.png".into(),
                access: Access::Optional,
                head: false
            }
        );
    }

    #[test]
    fn static_segments_win_over_bucket_names() {
        assert_eq!(
            r(Method::POST, "/object/list/media"),
            Route::List {
                bucket: "media".into()
            }
        );
        assert_eq!(
            r(Method::POST, "/object/sign/media"),
            Route::SignMany {
                bucket: "media".into()
            }
        );
        assert_eq!(
            r(Method::POST, "/object/sign/media/u/a.png"),
            Route::Sign {
                bucket: "media".into(),
                name: "u/a.png".into()
            }
        );
        assert_eq!(
            r(Method::GET, "/object/sign/media/u/a.png"),
            Route::GetSigned {
                bucket: "media".into(),
                name: "u/a.png".into(),
                head: false
            }
        );
        assert_eq!(
            r(Method::POST, "/object/upload/sign/media/u/a.png"),
            Route::SignUpload {
                bucket: "media".into(),
                name: "u/a.png".into()
            }
        );
        assert_eq!(
            r(Method::PUT, "/object/upload/sign/media/u/a.png"),
            Route::UploadSigned {
                bucket: "media".into(),
                name: "u/a.png".into()
            }
        );
        assert_eq!(
            r(Method::DELETE, "/object/media"),
            Route::RemoveMany {
                bucket: "media".into()
            }
        );
        assert_eq!(
            r(Method::DELETE, "/object/media/u/a.png"),
            Route::Remove {
                bucket: "media".into(),
                name: "u/a.png".into()
            }
        );
    }

    #[test]
    fn everything_else_is_unsupported() {
        for (m, p) in [
            (Method::GET, "/bucket"),
            (Method::POST, "/bucket"),
            (Method::GET, "/render/image/public/b/a.png"),
            (Method::POST, "/upload/resumable"),
            (Method::POST, "/object/move"),
            (Method::POST, "/object/copy"),
            (Method::POST, "/object/list-v2/media"),
            (Method::POST, "/object/media"),
            (Method::GET, "/object/media"),
            (Method::PATCH, "/object/media/a"),
            (Method::OPTIONS, "/object/media/a"),
        ] {
            assert_eq!(r(m.clone(), p), Route::Unsupported, "{m} {p}");
        }
    }
}
