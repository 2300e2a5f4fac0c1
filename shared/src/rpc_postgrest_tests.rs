use super::*;
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;

const SERVICE_KEY: &str = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2VydmljZS1zaWc";

#[derive(Debug)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Answers one request with `status` and `body`, and reports what it received.
fn one_shot_server(status: u16, body: &'static str) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/rest/v1", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (n, v) = line.split_once(':').unwrap();
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body_bytes = vec![0; len];
        reader.read_exact(&mut body_bytes).unwrap();
        let reply = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        (&stream).write_all(reply.as_bytes()).unwrap();
        tx.send(Seen {
            request_line: request_line.trim_end().to_owned(),
            headers,
            body: String::from_utf8(body_bytes).unwrap(),
        })
        .unwrap();
    });
    (url, rx)
}

fn run<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn a_user_call_posts_named_args_with_the_users_jwt_and_the_anon_key() {
    let (url, seen) = one_shot_server(200, r#"{"id":"p1","display_name":"Ada"}"#);
    let rpc = PostgrestRpc::new(&url, "sb_publishable_anon", SERVICE_KEY).unwrap();
    let auth = RpcAuth::User("user.jwt.sig".into());
    let out = run(rpc.call(
        "update_my_profile",
        json!({"patch": {"display_name": "Ada"}}),
        &auth,
    ))
    .unwrap();
    assert_eq!(out, json!({"id": "p1", "display_name": "Ada"}));

    let seen = seen.recv().unwrap();
    assert_eq!(
        seen.request_line,
        "POST /rest/v1/rpc/update_my_profile HTTP/1.1"
    );
    assert_eq!(seen.header("apikey"), Some("sb_publishable_anon"));
    assert_eq!(seen.header("authorization"), Some("Bearer user.jwt.sig"));
    assert_eq!(seen.header("content-profile"), Some("api"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_str::<Value>(&seen.body).unwrap(),
        json!({"patch": {"display_name": "Ada"}})
    );
    assert!(!seen.headers.iter().any(|(_, v)| v.contains(SERVICE_KEY)));
}

#[test]
fn a_service_call_sends_the_service_key_and_204_becomes_null() {
    let (url, seen) = one_shot_server(204, "");
    let rpc = PostgrestRpc::new(&url, "sb_publishable_anon", SERVICE_KEY).unwrap();
    let out = run(rpc.call("log_requests", Value::Null, &RpcAuth::ServiceRole)).unwrap();
    assert_eq!(out, Value::Null);
    let seen = seen.recv().unwrap();
    assert_eq!(seen.header("apikey"), Some(SERVICE_KEY));
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {SERVICE_KEY}").as_str())
    );
    assert_eq!(seen.body, "{}");
}

#[test]
fn a_postgrest_error_maps_to_the_api_error_without_leaking_the_key() {
    let (url, _seen) = one_shot_server(
        402,
        r#"{"code":"PT402","message":"insufficient credits","details":null,"hint":null}"#,
    );
    let rpc = PostgrestRpc::new(&url, "sb_publishable_anon", SERVICE_KEY).unwrap();
    let err = run(rpc.call("create_generation", json!({}), &RpcAuth::ServiceRole)).unwrap_err();
    assert_eq!(
        (err.status, err.code.as_str()),
        (402, "insufficient_credits")
    );
    assert!(!err.to_string().contains(SERVICE_KEY));
}

#[test]
fn an_unreachable_postgrest_is_a_503_whose_cause_never_holds_the_key() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/rest/v1", listener.local_addr().unwrap());
    drop(listener);
    let rpc = PostgrestRpc::new(&url, "sb_publishable_anon", SERVICE_KEY).unwrap();
    let err = run(rpc.call("sweep_expired_holds", json!({}), &RpcAuth::ServiceRole)).unwrap_err();
    assert_eq!((err.status, err.code.as_str()), (503, "internal"));
    let cause = err.cause.unwrap();
    assert!(cause.contains("sweep_expired_holds"), "{cause}");
    assert!(!cause.contains(SERVICE_KEY));
}

#[test]
fn bad_names_args_or_keys_fail_before_any_request() {
    let rpc = PostgrestRpc::new("http://127.0.0.1:9/rest/v1", "anon", SERVICE_KEY).unwrap();
    let err = run(rpc.call("x/../admin", json!({}), &RpcAuth::ServiceRole)).unwrap_err();
    assert_eq!(err.status, 500);
    let err = run(rpc.call("get_generation", json!([1]), &RpcAuth::ServiceRole)).unwrap_err();
    assert_eq!(err.status, 500);
    let err = run(rpc.call(
        "get_generation",
        json!({}),
        &RpcAuth::User("bad\ntoken".into()),
    ))
    .unwrap_err();
    assert_eq!(err.status, 500);
    assert!(PostgrestRpc::new("http://x/rest/v1", "anon", "sb_secret_\nbroken").is_err());
}
