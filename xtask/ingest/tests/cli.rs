//! The binary as the stack runs it: flags, the key from a file, one claim with `--once`.
//! (Being an integration test also makes `cargo test --workspace` build the binary, which
//! the test stacks start.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_genbase-ingest");

#[test]
fn once_claims_with_the_key_from_its_file_and_exits_when_there_is_no_task() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Answers one request with an empty claim and hands back what it got.
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = Vec::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            head.push(line.trim().to_string());
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut stream = stream;
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]")
            .unwrap();
        (head, String::from_utf8(body).unwrap())
    });
    let key_file =
        std::env::temp_dir().join(format!("genbase-ingest-cli-{}.key", std::process::id()));
    std::fs::write(&key_file, "gw_0123abcd\n").unwrap();
    let out = Command::new(BIN)
        .args(["--api-url", &url, "--once", "--concurrency", "1"])
        .arg("--worker-key-file")
        .arg(&key_file)
        .output()
        .unwrap();
    std::fs::remove_file(&key_file).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (head, body) = server.join().unwrap();
    assert_eq!(head[0], "POST /v1/worker/claim HTTP/1.1");
    assert!(
        head.iter()
            .any(|h| h == "authorization: Bearer gw_0123abcd"),
        "{head:?}"
    );
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["task_types"],
        serde_json::json!(["ingest.file", "embed.messages"])
    );
}

#[test]
fn help_prints_the_usage_and_a_bad_command_line_exits_2() {
    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).starts_with("genbase-ingest --api-url URL"));

    let bad = Command::new(BIN)
        .args(["--api-url", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr)
        .starts_with("genbase-ingest: --worker-key or --worker-key-file is required"));
}
