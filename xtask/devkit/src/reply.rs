//! One HTTP call for test harnesses: whatever the server answers comes back as a [`RawReply`]
//! (a 4xx or 5xx is an answer under test, not an error); only a transport failure panics.
//! Each harness reads the body its own way (JSON, raw text, a fallback shape).

use std::io::Read;

/// An answer as the server sent it: status, header names lower-cased, body bytes.
#[derive(Debug, Clone)]
pub struct RawReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawReply {
    /// The first value of a header, by its lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The body as text (invalid UTF-8 replaced, which no JSON body contains).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The first value of a header in `headers` (lower-cased names, as [`RawReply`] keeps them),
/// by its lower-case name; for harnesses that keep the headers in a reply type of their own.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A request to send: `method url`, an optional bearer token, extra headers (sent as given:
/// no content type is added), an optional body.
pub struct Call<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub token: Option<&'a str>,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Option<&'a str>,
}

impl Call<'_> {
    /// Sends the request with `agent` (its timeout and kept-alive connections) and reads the
    /// whole answer. Panics, naming the call, only when no answer arrives.
    pub fn send(&self, agent: &ureq::Agent) -> RawReply {
        let mut req = agent.request(self.method, self.url);
        if let Some(t) = self.token {
            req = req.set("authorization", &format!("Bearer {t}"));
        }
        for (k, v) in self.headers {
            req = req.set(k, v);
        }
        let result = match self.body {
            Some(b) => req.send_string(b),
            None => req.call(),
        };
        read(result, &format!("{} {}", self.method, self.url))
    }
}

/// Any ureq outcome as a [`RawReply`]: error statuses are answers; a transport failure
/// panics with `what` (the call) in the message.
pub fn read(result: Result<ureq::Response, ureq::Error>, what: &str) -> RawReply {
    let resp = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{what}: {e}"),
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .filter_map(|n| {
            resp.header(&n)
                .map(|v| (n.to_ascii_lowercase(), v.to_string()))
        })
        .collect();
    let mut body = Vec::new();
    if let Err(e) = resp.into_reader().read_to_end(&mut body) {
        panic!(
            "{what}: reading the body of a {status} ({headers:?}): {e}; read so far: {}",
            String::from_utf8_lossy(&body)
        );
    }
    RawReply {
        status,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// Answers one request with `response` (raw HTTP) and returns the request's head.
    fn serve_once(response: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(&stream);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim_end().is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            (&stream).write_all(response.as_bytes()).unwrap();
            head
        });
        (url, handle)
    }

    #[test]
    fn an_error_status_is_an_answer_with_its_headers_and_body() {
        let (url, server) = serve_once(
            "HTTP/1.1 409 Conflict\r\nX-Request-Id: r1\r\ncontent-length: 13\r\nconnection: close\r\n\r\n{\"code\":\"x\"}\n",
        );
        let agent = ureq::AgentBuilder::new().build();
        let reply = Call {
            method: "GET",
            url: &url,
            token: Some("t0k"),
            headers: &[("x-extra", "1")],
            body: None,
        }
        .send(&agent);
        assert_eq!(reply.status, 409);
        assert_eq!(reply.header("x-request-id"), Some("r1"));
        assert_eq!(reply.text(), "{\"code\":\"x\"}\n");
        let head = server.join().unwrap().to_ascii_lowercase();
        assert!(head.contains("authorization: bearer t0k"), "{head}");
        assert!(head.contains("x-extra: 1"), "{head}");
    }

    #[test]
    #[should_panic(expected = "GET http://127.0.0.1:9/")]
    fn no_answer_panics_naming_the_call() {
        let agent = ureq::AgentBuilder::new().build();
        Call {
            method: "GET",
            url: "http://127.0.0.1:9/",
            token: None,
            headers: &[],
            body: None,
        }
        .send(&agent);
    }
}
