//! The official `openai` and `@anthropic-ai/sdk` npm clients (pinned in the root
//! package.json) against the fake's chat and embeddings endpoints: `tests/chat_clients.mjs`,
//! run by node.

mod support;

use std::path::PathBuf;
use std::process::Command;
use support::Fake;

#[test]
fn official_clients_read_the_fake_providers() {
    let fake = Fake::start(&[]);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/chat_clients.mjs");
    let out = Command::new("node")
        .arg(&script)
        .arg(&fake.base)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node (needed for chat_clients.mjs): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "chat_clients.mjs checks failed:\n{stdout}\n{stderr}"
    );
    // Every check printed its line (a script that stopped early would pass nothing silently).
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        18,
        "{stdout}"
    );
}
