//! The browser test (examples/web/test/app.test.mjs): the example app served on a port of its
//! own, Debian's Chromium driven by playwright-core, a fresh funded user; screenshots under
//! target/test-logs/screenshots.

use crate::commands::accounts::Account;
use crate::commands::web::WebApp;
use anyhow::Result;
use std::process::Command;
use xtask::paths;
use xtask::stack::Stack;
use xtask::tools::Chromium;

/// An origin the stacks' `CORS_ORIGINS` allows (xtask/src/stack.rs). The browser reaches it
/// at the app's real port through a host-resolver rule, so the test's stack can run beside a
/// dev stack that serves the app on this port itself.
const ALLOWED_ORIGIN: &str = "http://localhost:3000";

/// Credits of the test's user: the seeded generations, the one made in the browser and a
/// chat reply, with room to spare.
const CREDITS: i64 = 1000;

/// The test's command, and the app it needs served while it runs.
pub fn commands(stack: &Stack, chromium: &Chromium) -> Result<(Vec<Command>, WebApp)> {
    let app = WebApp::start(0, stack.env.get("API_URL"))?;
    let user = Account::create(&stack.env, "browser", CREDITS, 1)?;
    let root = paths::root();
    let screenshots = root.join("target/test-logs/screenshots");
    // Only this run's: a screenshot the run did not take must not pass for one it did.
    let _ = std::fs::remove_dir_all(&screenshots);
    let mut node = Command::new("node");
    node.current_dir(&root)
        .args(["--test", "--test-reporter=spec"])
        .arg("examples/web/test/app.test.mjs")
        .env("API_URL", stack.env.get("API_URL"))
        .env("APP_URL", ALLOWED_ORIGIN)
        .env("APP_PORT", app.port.to_string())
        .env("APP_DIRECT_URL", app.url())
        .env("GENBASE_TOKEN", &user.token)
        .env("CHROMIUM", &chromium.executable)
        .env("CHROMIUM_LIBRARY_PATH", &chromium.library_path)
        .env("SCREENSHOTS", &screenshots);
    Ok((vec![node], app))
}
