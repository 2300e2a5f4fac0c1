use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
    /// Work the function asks to do once the response is sent (never sent itself): the
    /// runtime hands it to the function's `after` hook (see `genbase_edge::entry!`).
    pub after: Option<Value>,
    /// The body is a stream of Server-Sent Events that the function's `stream` hook writes
    /// from `after` (see [`ApiResponse::event_stream`]).
    pub streams: bool,
}

impl ApiResponse {
    /// A JSON response. API answers are per user, so no cache may keep them.
    pub fn json(status: u16, body: Value) -> ApiResponse {
        ApiResponse {
            status,
            body: Some(body),
            headers: vec![
                (
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                ),
                ("cache-control".into(), "no-store".into()),
            ],
            after: None,
            streams: false,
        }
    }

    pub fn ok(body: Value) -> ApiResponse {
        Self::json(200, body)
    }

    pub fn created(body: Value) -> ApiResponse {
        Self::json(201, body)
    }

    pub fn accepted(body: Value) -> ApiResponse {
        Self::json(202, body)
    }

    pub fn no_content() -> ApiResponse {
        ApiResponse {
            status: 204,
            body: None,
            headers: Vec::new(),
            after: None,
            streams: false,
        }
    }

    /// A 200 Server-Sent Events response: its head goes out at once, and the function's
    /// `stream` hook (see `genbase_edge::entry!`) writes the events from `work` as they come.
    /// `x-accel-buffering: no` keeps proxies from holding the events back.
    pub fn event_stream(work: Value) -> ApiResponse {
        ApiResponse {
            status: 200,
            body: None,
            headers: vec![
                ("content-type".into(), "text/event-stream".into()),
                ("cache-control".into(), "no-cache".into()),
                ("x-accel-buffering".into(), "no".into()),
            ],
            after: Some(work),
            streams: true,
        }
    }

    /// Asks for `work` to be done after the response is sent.
    pub fn then(mut self, work: Value) -> ApiResponse {
        self.after = Some(work);
        self
    }

    /// Sets a header, replacing any earlier value of the same name.
    pub fn with_header(mut self, name: &str, value: &str) -> ApiResponse {
        self.set_header(name, value);
        self
    }

    pub fn set_header(&mut self, name: &str, value: &str) {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.to_owned()));
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The answer to deleting one row through a bulk delete RPC (`{deleted: [...], not_found:
/// [...]}`): 204 once deleted, 404 naming `what` when it was not the caller's or already
/// deleted, 502 when `function` answered something else.
pub fn deleted_one(
    answer: &Value,
    what: &str,
    function: &str,
) -> Result<ApiResponse, crate::error::ApiError> {
    use crate::error::ApiError;
    match answer["deleted"].as_array() {
        Some(deleted) if !deleted.is_empty() => Ok(ApiResponse::no_content()),
        Some(_) => Err(ApiError::not_found(format!("{what} not found"))),
        None => Err(ApiError::bad_gateway(format!(
            "{function} answered {answer}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn success_constructors_set_status_and_json_headers() {
        for (resp, status) in [
            (ApiResponse::ok(json!({})), 200),
            (ApiResponse::created(json!({})), 201),
            (ApiResponse::accepted(json!({})), 202),
        ] {
            assert_eq!(resp.status, status);
            assert_eq!(
                resp.header("Content-Type"),
                Some("application/json; charset=utf-8")
            );
            assert_eq!(resp.header("cache-control"), Some("no-store"));
        }
        let empty = ApiResponse::no_content();
        assert_eq!((empty.status, empty.body), (204, None));
    }

    #[test]
    fn setting_a_header_twice_keeps_the_last_value() {
        let resp = ApiResponse::no_content()
            .with_header("X-A", "1")
            .with_header("x-a", "2");
        assert_eq!(resp.headers, vec![("x-a".to_string(), "2".to_string())]);
    }
}
