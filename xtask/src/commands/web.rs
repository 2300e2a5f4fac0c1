//! The example app (examples/web) on a port of its own, so the browser calls the API from
//! another origin, as a deployed frontend does. Files are served as they are; the one bundle
//! is `vendor/genbase.js`: the typed client (clients/typescript), with openapi-fetch and the
//! `ai` package's chat client, made by esbuild when the server starts, so the app itself has
//! no build step. `config.json` tells the app where the API is.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use xtask::paths;
use xtask::process::run;

/// The dev stack's app port: its origins (`http://127.0.0.1:3000`, `http://localhost:3000`)
/// are the ones the dev stack's `CORS_ORIGINS` allows.
pub const DEV_PORT: u16 = 3000;

/// The example app being served; dropped, it stops.
pub struct WebApp {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WebApp {
    /// Bundles the client and serves examples/web on 127.0.0.1:`port` (0: a free one), with
    /// `api_url` in its `config.json`.
    pub fn start(port: u16, api_url: &str) -> Result<WebApp> {
        let vendor = bundle()?;
        let listener = TcpListener::bind(("127.0.0.1", port))
            .with_context(|| format!("the example app's port {port} is taken"))?;
        let port = listener.local_addr()?.port();
        let site = Site {
            files: paths::root().join("examples/web"),
            vendor,
            config: serde_json::json!({ "api_url": api_url }).to_string(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let site = Arc::new(site);
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let site = site.clone();
                std::thread::spawn(move || {
                    let _ = site.answer(conn);
                });
            }
        });
        Ok(WebApp {
            port,
            stop,
            thread: Some(thread),
        })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for WebApp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `clients/typescript/index.ts` and what it imports, bundled into target/web/vendor.
fn bundle() -> Result<PathBuf> {
    let out = paths::root().join("target/web/vendor");
    run(Command::new(paths::node_bin("esbuild"))
        .arg(paths::root().join("clients/typescript/index.ts"))
        .args([
            "--bundle",
            "--format=esm",
            "--platform=browser",
            "--target=es2022",
            "--minify",
            "--sourcemap",
            "--log-level=warning",
        ])
        .arg(format!("--outfile={}", out.join("genbase.js").display())))?;
    Ok(out)
}

struct Site {
    files: PathBuf,
    vendor: PathBuf,
    config: String,
}

impl Site {
    /// One request, then the connection closes (no keep-alive: a dev server for one user).
    fn answer(&self, mut conn: TcpStream) -> Result<()> {
        conn.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reader = BufReader::new(conn.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        // The headers are read and ignored: nothing here depends on them.
        let mut header = String::new();
        while reader.read_line(&mut header)? > 2 {
            header.clear();
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        let path = target.split(['?', '#']).next().unwrap_or("/");
        let (status, kind, body) = match (method, self.resolve(path)) {
            ("GET" | "HEAD", Ok(Some(Body::Config))) => {
                (200, "application/json", self.config.clone().into_bytes())
            }
            ("GET" | "HEAD", Ok(Some(Body::File(file)))) => match std::fs::read(&file) {
                Ok(bytes) => (200, content_type(&file), bytes),
                Err(_) => (404, "text/plain", b"not found\n".to_vec()),
            },
            ("GET" | "HEAD", _) => (404, "text/plain", b"not found\n".to_vec()),
            _ => (405, "text/plain", b"GET only\n".to_vec()),
        };
        write!(
            conn,
            "HTTP/1.1 {status} {}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n\
             cache-control: no-store\r\nconnection: close\r\n\r\n",
            if status == 200 { "OK" } else { "Error" },
            body.len()
        )?;
        if method != "HEAD" {
            conn.write_all(&body)?;
        }
        Ok(())
    }

    /// What a path names: `config.json`, a bundle under `/vendor/`, or a file of examples/web.
    /// `..`, absolute parts and dot-files name nothing.
    fn resolve(&self, path: &str) -> Result<Option<Body>> {
        let path = path.trim_start_matches('/');
        let path = if path.is_empty() { "index.html" } else { path };
        if path == "config.json" {
            return Ok(Some(Body::Config));
        }
        let (base, rest) = match path.strip_prefix("vendor/") {
            Some(rest) => (&self.vendor, rest),
            None => (&self.files, path),
        };
        let rest = Path::new(rest);
        let plain = rest.components().all(|c| match c {
            Component::Normal(name) => !name.to_string_lossy().starts_with('.'),
            _ => false,
        });
        if !plain {
            bail!("not a plain path: {path}");
        }
        let file = base.join(rest);
        Ok(file.is_file().then_some(Body::File(file)))
    }
}

enum Body {
    Config,
    File(PathBuf),
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site {
            files: paths::root().join("examples/web"),
            vendor: PathBuf::from("/nonexistent/vendor"),
            config: "{}".into(),
        }
    }

    #[test]
    fn the_root_is_the_index_page() {
        assert!(matches!(
            site().resolve("/"),
            Ok(Some(Body::File(f))) if f.ends_with("examples/web/index.html")
        ));
        assert!(matches!(
            site().resolve("/config.json"),
            Ok(Some(Body::Config))
        ));
    }

    #[test]
    fn paths_leaving_the_folder_or_naming_dot_files_are_refused() {
        for path in [
            "/../Cargo.toml",
            "/a/../../x",
            "/.git/config",
            "/vendor/../../x",
        ] {
            assert!(site().resolve(path).is_err(), "{path}");
        }
        assert!(matches!(site().resolve("/missing.js"), Ok(None)));
    }
}
