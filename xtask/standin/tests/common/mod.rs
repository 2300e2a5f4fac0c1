//! What the stand-in's end-to-end tests share: the database they run against, the real binary
//! started on a free port, scratch folders, the clock for token claims, and node scripts.

use genbase_devkit::reply::{Call, RawReply};
use rand::RngCore;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "DATABASE_URL is not set. These tests need a superuser URL of a Postgres on which \
             supabase/local/bootstrap.sql (and, for the storage tests, supabase/migrations) was \
             applied; `cargo xtask test` provides one."
        )
    })
}

pub fn db() -> postgres::Client {
    postgres::Client::connect(&database_url(), postgres::NoTls)
        .expect("cannot connect to DATABASE_URL")
}

/// The same server, as the `authenticator` role the stand-in must connect with.
fn authenticator_uri() -> String {
    let cfg: postgres::Config = database_url()
        .parse()
        .expect("DATABASE_URL is not a valid URL");
    let host = match cfg.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    let db = cfg.get_dbname().unwrap_or("postgres");
    format!("host={host} port={port} dbname={db} user=authenticator password=authenticator")
}

/// Runs the test file's fixtures once per test process (each test file is a process of its
/// own, with its own fixtures).
pub fn load_fixtures(sql: &str) {
    static LOADED: OnceLock<()> = OnceLock::new();
    LOADED.get_or_init(|| {
        db().batch_execute(sql)
            .expect("loading the test fixtures failed");
    });
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A fresh folder under the system's temporary one, removed when dropped.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new(prefix: &str) -> ScratchDir {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", random_hex(8)));
        std::fs::create_dir_all(&dir).unwrap();
        ScratchDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running stand-in; stopped when dropped.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:<port>`, as it printed it.
    pub base: String,
    /// Its stderr so far (it logs 5xx answers there), shown when a test fails.
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts the binary on a free port, connected to DATABASE_URL as `authenticator`;
    /// `configure` adds the test's own options (schemas, keys, storage folder...).
    pub fn start(configure: impl FnOnce(&mut Command)) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_postgrest-standin"));
        cmd.args(["--listen", "127.0.0.1:0", "--db-uri", &authenticator_uri()]);
        configure(&mut cmd);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start postgrest-standin");
        let stdout = child.stdout.take().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let errout = child.stderr.take().unwrap();
        let stderr_reader = std::thread::spawn(move || {
            for line in BufReader::new(errout).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.push_str(&line);
                s.push('\n');
            }
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let server = Server {
            child,
            base: rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default(),
            stderr,
            stderr_reader: Some(stderr_reader),
        };
        assert!(
            !server.base.is_empty(),
            "postgrest-standin did not print `listening on` within 30 s (its stderr follows)"
        );
        server
    }

    /// One request; `path` follows the base URL.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> RawReply {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .build();
        Call {
            method,
            url: &format!("{}{path}", self.base),
            token,
            headers,
            body,
        }
        .send(&agent)
    }

    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Server {
    /// Stops the process; when a test failed, shows all it wrote to stderr.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        if std::thread::panicking() {
            eprintln!("postgrest-standin stderr:\n{}", self.stderr());
        }
    }
}

/// Runs `node tests/<script> <args>`; fails the test with the script's output unless it
/// exits 0.
pub fn run_node(script: &str, args: &[&str]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(script);
    let out = Command::new("node")
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node (needed for {script}): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} checks failed:\n{stdout}\n{stderr}"
    );
}
