//! A raw HTTP/1.1 client for the chat endpoints' tests: it keeps each chunk of a chunked body
//! with the time it arrived, and tells a body that ended properly (the terminating chunk came)
//! from one whose connection was cut, which a general client hides or turns into a panic.

#![allow(dead_code)] // Each test file uses its own subset.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub struct Answer {
    pub status: u16,
    /// Lowercased names.
    pub headers: Vec<(String, String)>,
    /// The body's chunks with the time each arrived, counted from when the request was sent.
    pub chunks: Vec<(Duration, Vec<u8>)>,
    /// The body ended as HTTP says it should (the last chunk, or all of `content-length`).
    pub complete: bool,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn body(&self) -> Vec<u8> {
        self.chunks.iter().flat_map(|(_, c)| c.clone()).collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body()).expect("UTF-8 body")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The body's server-sent events, `(event name, data)` each.
    pub fn events(&self) -> Vec<(Option<String>, String)> {
        sse_events(&self.text())
    }

    /// The `data` of each event parsed as JSON (OpenAI's `[DONE]` is not JSON: left out).
    pub fn event_data(&self) -> Vec<Value> {
        self.events()
            .iter()
            .filter(|(_, d)| d != "[DONE]")
            .map(|(_, d)| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
            .collect()
    }
}

/// Splits an event stream into `(event name, data)` pairs, per the SSE format (events end
/// with a blank line; `data:` lines join with newlines).
pub fn sse_events(text: &str) -> Vec<(Option<String>, String)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.trim_start().to_string());
                }
            }
            (name, data.join("\n"))
        })
        .collect()
}

/// `POST <base><path>` with a JSON body and `headers`; reads the whole answer however it ends.
pub fn post(base: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    send(base, path, headers, body, None)
}

/// Like [`post`], but hangs up once `chunks` chunks of the body arrived.
pub fn post_and_leave(
    base: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    chunks: usize,
) -> Answer {
    send(base, path, headers, body, Some(chunks))
}

fn send(
    base: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    leave_after: Option<usize>,
) -> Answer {
    let host = base.strip_prefix("http://").expect("an http:// base");
    let mut stream = TcpStream::connect(host).expect("connect to the fake");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    let sent = Instant::now();
    stream.write_all(request.as_bytes()).unwrap();

    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header line");
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').expect("header");
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let mut answer = Answer {
        status,
        headers,
        chunks: Vec::new(),
        complete: false,
    };
    if let Some(len) = answer.header("content-length") {
        let mut body = vec![0; len.parse().unwrap()];
        answer.complete = reader.read_exact(&mut body).is_ok();
        answer.chunks.push((sent.elapsed(), body));
        return answer;
    }
    assert_eq!(answer.header("transfer-encoding"), Some("chunked"));
    loop {
        if leave_after.is_some_and(|n| answer.chunks.len() >= n) {
            return answer; // Dropping the reader closes the connection.
        }
        line.clear();
        match reader.read_line(&mut line) {
            Ok(n) if n > 0 => {}
            _ => return answer, // Cut before the next chunk.
        }
        let size = usize::from_str_radix(line.trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
        if size == 0 {
            answer.complete = true;
            return answer;
        }
        let mut chunk = vec![0; size + 2];
        if reader.read_exact(&mut chunk).is_err() {
            return answer;
        }
        chunk.truncate(size);
        answer.chunks.push((sent.elapsed(), chunk));
    }
}

/// `GET /_fake/chat/requests`, waiting up to 5 s until `ready` holds for it.
pub fn chat_log(base: &str, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log: Value = ureq::get(&format!("{base}/_fake/chat/requests"))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        let entries = log.as_array().unwrap().clone();
        if ready(&entries) || Instant::now() > deadline {
            return entries;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The reply the fake gives to `text` with no markers but `[words:N]`/`max_tokens` limits:
/// `echo:`, up to 6 of its words, then the filler, `n` words in all.
pub fn expected_reply(text: &str, n: usize) -> String {
    const FILLER: &str = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua";
    std::iter::once("echo:")
        .chain(
            text.split_whitespace()
                .filter(|w| !(w.starts_with('[') && w.ends_with(']')))
                .take(6),
        )
        .chain(FILLER.split(' ').cycle())
        .take(n)
        .collect::<Vec<_>>()
        .join(" ")
}
