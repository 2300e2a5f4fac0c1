//! A stand-in for the worker API and storage in the tests: a plain HTTP/1.1 server on a
//! loopback port that answers from a script and records every request it gets.

use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the fake answers.
#[derive(Default)]
pub struct Script {
    /// One per claim, in order; an empty queue answers `[]`.
    pub tasks: VecDeque<Value>,
    /// Claims answered with this status instead.
    pub claim_status: Option<u16>,
    /// `GET /files/<name>`; a name not here is a 404.
    pub files: HashMap<String, Vec<u8>>,
    /// File downloads answered with this status instead.
    pub file_status: Option<u16>,
    /// The statuses of the next embeddings calls; 200 once they run out.
    pub embed_statuses: VecDeque<u16>,
    /// How long an embeddings call takes.
    pub embed_delay: Duration,
    /// Heartbeats answered with this status instead of 200.
    pub heartbeat_status: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct State {
    script: Script,
    requests: Vec<Request>,
}

pub struct FakeApi {
    pub url: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeApi {
    pub fn start(script: Script) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State {
            script,
            requests: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = state.clone();
                    std::thread::spawn(move || serve(stream, &state));
                }
            })
        };
        FakeApi {
            url,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// Adds a task for a later claim to hand out.
    pub fn queue(&self, task: Value) {
        self.state
            .lock()
            .expect("state")
            .script
            .tasks
            .push_back(task);
    }

    pub fn file_url(&self, name: &str) -> String {
        format!("{}/files/{name}", self.url)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().expect("state").requests.clone()
    }

    /// The bodies of the requests whose path ends with `suffix`, in order.
    pub fn bodies(&self, suffix: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with(suffix))
            .map(|r| r.body)
            .collect()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let (mut length, mut authorization) = (0usize, None);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" => authorization = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (status, answer, delay) = answer(state, &path, authorization, body);
    std::thread::sleep(delay);
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        answer.len()
    );
    let mut stream = stream;
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&answer);
}

/// The scripted answer to one request, which is recorded.
fn answer(
    state: &Mutex<State>,
    path: &str,
    authorization: Option<String>,
    body: Value,
) -> (u16, Vec<u8>, Duration) {
    let mut state = state.lock().expect("state");
    let chunks = body["chunks"].as_array().map_or(2, Vec::len);
    state.requests.push(Request {
        path: path.to_string(),
        authorization,
        body,
    });
    let s = &mut state.script;
    let json = |status: u16, v: Value| (status, v.to_string().into_bytes(), Duration::ZERO);
    let error = |status: u16| {
        json(
            status,
            json!({"error": {"code": "scripted", "message": format!("scripted {status}")}}),
        )
    };
    if let Some(name) = path.strip_prefix("/files/") {
        return match (s.file_status, s.files.get(name)) {
            (Some(status), _) => error(status),
            (None, Some(bytes)) => (200, bytes.clone(), Duration::ZERO),
            (None, None) => error(404),
        };
    }
    if path == "/v1/worker/claim" {
        return match s.claim_status {
            Some(status) => error(status),
            None => json(200, Value::Array(s.tasks.pop_front().into_iter().collect())),
        };
    }
    if path.ends_with("/heartbeat") {
        return match s.heartbeat_status {
            Some(status) => error(status),
            None => json(200, json!({"lease_expires_at": "2030-01-01T00:00:00Z"})),
        };
    }
    if path.ends_with("/embeddings") {
        let delay = s.embed_delay;
        let (status, answer, _) = match s.embed_statuses.pop_front() {
            Some(status) if status != 200 => error(status),
            _ => json(
                200,
                json!({"embedded": chunks, "tokens": chunks * 10, "credits_charged": 1}),
            ),
        };
        return (status, answer, delay);
    }
    json(200, json!({"status": "ok"}))
}
