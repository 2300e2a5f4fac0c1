//! Harness for the end-to-end tests: the real binary on a free port, a tiny webhook receiver
//! that keeps every request byte for byte, and an independent Standard Webhooks verifier.

#![allow(dead_code)] // Each test file uses its own subset.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use genbase_devkit::reply::Call;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// 32 bytes of key material, base64-encoded as Standard Webhooks serializes secrets.
pub const SECRET: &str = "whsec_c2FtcGxlLXdlYmhvb2stc2VjcmV0LWZvci10ZXN0cyE=";
pub const TOKEN: &str = "r8_test_token_one";

pub struct Fake {
    child: Child,
    pub base: String,
}

impl Fake {
    pub fn start(extra: &[&str]) -> Fake {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fake-replicate"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--webhook-secret",
                SECRET,
                "--delay-ms",
                "50",
            ])
            .args(extra)
            .env_remove("REPLICATE_WEBHOOK_SECRET")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn fake-replicate");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the ready line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected: {line:?}"))
            .to_string();
        Fake { child, base }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// `(status, JSON body)`; any status, no panics on 4xx/5xx.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let json = [("content-type", "application/json")];
        self.send(Call {
            method,
            url: &format!("{}{path}", self.base),
            token,
            headers: if body.is_some() { &json } else { &[] },
            body,
        })
    }

    /// `POST /v1/predictions` with extra headers (`Prefer`, `Cancel-After`): `(status, body)`.
    pub fn create_with(&self, body: &Value, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.send(Call {
            method: "POST",
            url: &format!("{}/v1/predictions", self.base),
            token: Some(TOKEN),
            headers: &all,
            body: Some(&body.to_string()),
        })
    }

    /// Creates a prediction through `POST /v1/predictions`, expecting 201.
    pub fn create(&self, body: &Value) -> Value {
        let (status, prediction) = self.create_with(body, &[]);
        assert_eq!(status, 201, "{prediction}");
        prediction
    }

    /// Sends `call` (long timeout: `Prefer: wait` holds the answer) and reads the body as
    /// JSON, or as a JSON string when it is not JSON.
    fn send(&self, call: Call) -> (u16, Value) {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(70))
            .build();
        let reply = call.send(&agent);
        let text = reply.text();
        (
            reply.status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn get_bytes(&self, url: &str) -> (u16, Vec<u8>) {
        let reply = Call {
            method: "GET",
            url,
            token: None,
            headers: &[],
            body: None,
        }
        .send(&ureq::agent());
        (reply.status, reply.body)
    }

    /// Polls `GET /v1/predictions/{id}` until `status` or 5 s.
    pub fn wait_status(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (_, p) = self.call("GET", &format!("/v1/predictions/{id}"), Some(TOKEN), None);
            if p["status"] == status || Instant::now() > deadline {
                assert_eq!(p["status"], status, "{p}");
                return p;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    /// Lowercased names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Accepts webhooks on a free port, answering each with the next queued status (200 when the
/// queue is empty).
pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    statuses: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/hooks/replicate?ref=abc",
            listener.local_addr().unwrap()
        );
        let received = Arc::new(Mutex::new(Vec::new()));
        let statuses = Arc::new(Mutex::new(VecDeque::new()));
        let (r, s) = (received.clone(), statuses.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Some(req) = read_request(&stream) {
                    let status = s.lock().unwrap().pop_front().unwrap_or(200);
                    r.lock().unwrap().push(req);
                    let _ = (&stream).write_all(
                        format!(
                            "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                }
            }
        });
        Receiver {
            url,
            received,
            statuses,
        }
    }

    pub fn answer_with(&self, statuses: &[u16]) {
        self.statuses.lock().unwrap().extend(statuses);
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (5 s at most) and returns them all.
    pub fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.all().len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let all = self.all();
        assert!(all.len() >= n, "expected {n} webhooks, got {}", all.len());
        all
    }
}

fn read_request(stream: &TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = HashMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        path,
        headers,
        body,
    })
}

/// Verifies a delivery the way Replicate tells receivers to, written independently of the fake.
pub fn signature_valid(r: &Received) -> bool {
    let key = STANDARD
        .decode(SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    let signed = [
        r.header("webhook-id").as_bytes(),
        b".",
        r.header("webhook-timestamp").as_bytes(),
        b".",
        &r.body,
    ]
    .concat();
    mac.update(&signed);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    r.header("webhook-signature")
        .split(' ')
        .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
