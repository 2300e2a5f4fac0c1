//! `cargo xtask new <group>`: a new function group from the templates in `xtask/templates/function`,
//! registered everywhere a function must be (see [`crate::registry`]): the crate, its
//! wrangler.toml, a router line, a `[[services]]` entry, a handler test, an end-to-end test,
//! a migration and a pgTAP file. [`remove`] takes exactly those back out.

use crate::registry::{self, ROUTER_CONFIG, ROUTER_SOURCE};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

const TEMPLATES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../templates/function/Cargo.toml.tmpl"),
    ),
    (
        "wrangler.toml",
        include_str!("../templates/function/wrangler.toml.tmpl"),
    ),
    (
        "src/lib.rs",
        include_str!("../templates/function/lib.rs.tmpl"),
    ),
    (
        "src/handler_tests.rs",
        include_str!("../templates/function/handler_tests.rs.tmpl"),
    ),
];
const E2E: &str = include_str!("../templates/function/e2e.rs.tmpl");
const MIGRATION: &str = include_str!("../templates/function/migration.sql.tmpl");
const PGTAP: &str = include_str!("../templates/function/pgtap.sql.tmpl");

/// The files a group named `name` owns outright (everything but the two shared tables).
pub struct Group {
    pub name: String,
    pub function_dir: PathBuf,
    pub e2e_test: PathBuf,
    pub migration: PathBuf,
    pub pgtap: PathBuf,
}

fn valid_name(name: &str) -> bool {
    (2..=30).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.ends_with('-')
}

fn render(template: &str, name: &str) -> String {
    template
        .replace("{{name}}", name)
        .replace("{{snake}}", &name.replace('-', "_"))
}

/// The next free number among files named `<digits>_...` in `dir`.
fn next_number(dir: &Path) -> Result<u64> {
    let mut max = 0;
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(n) = name.split('_').next().and_then(|d| d.parse::<u64>().ok()) {
            max = max.max(n);
        }
    }
    Ok(max + 1)
}

/// Finds the group's files (whether or not they exist yet).
pub fn locate(root: &Path, name: &str) -> Result<Group> {
    let snake = name.replace('-', "_");
    let find = |dir: &Path, suffix: &str| -> Result<Option<PathBuf>> {
        Ok(std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(suffix)))
    };
    let migrations = root.join("supabase/migrations");
    let pgtap_dir = root.join("supabase/tests/database");
    Ok(Group {
        name: name.to_string(),
        function_dir: root.join("functions").join(name),
        e2e_test: root.join("tests/tests").join(format!("{snake}.rs")),
        migration: match find(&migrations, &format!("_{snake}.sql"))? {
            Some(p) => p,
            None => migrations.join(format!("{:014}_{snake}.sql", next_number(&migrations)?)),
        },
        pgtap: match find(&pgtap_dir, &format!("_{snake}.test.sql"))? {
            Some(p) => p,
            None => pgtap_dir.join(format!("{:02}_{snake}.test.sql", next_number(&pgtap_dir)?)),
        },
    })
}

fn route_line(name: &str) -> String {
    format!("    (\"/v1/{name}\", \"{}\"),\n", registry::binding(name))
}

fn services_block(name: &str) -> String {
    format!(
        "\n[[services]]\nbinding = \"{}\"\nservice = \"genbase-{name}\"\n",
        registry::binding(name)
    )
}

/// Creates the group `name` under `root`; refuses a bad or taken name.
pub fn create(root: &Path, name: &str) -> Result<Group> {
    if !valid_name(name) {
        bail!("a group name is 2 to 30 characters of [a-z0-9-], starting with a letter");
    }
    let group = locate(root, name)?;
    if group.function_dir.exists() || group.e2e_test.exists() {
        bail!("functions/{name} or its tests already exist");
    }
    // A capability's migration may exist before its function does: never write over it.
    for file in [&group.migration, &group.pgtap] {
        if file.exists() {
            bail!(
                "{} already exists: the group would write over it; add the function by hand or pick another name",
                file.display()
            );
        }
    }
    let router = root.join(ROUTER_SOURCE);
    let source = std::fs::read_to_string(&router)?;
    let table = source
        .find("pub const ROUTES")
        .context("the router has no ROUTES table")?;
    let end = table + source[table..].find("];").context("ROUTES is not closed")?;
    if registry::router_routes(&source)
        .iter()
        .any(|(p, _)| p == &format!("/v1/{name}"))
    {
        bail!("/v1/{name} is routed already");
    }

    for (file, template) in TEMPLATES {
        let path = group.function_dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap_or(root))?;
        std::fs::write(&path, render(template, name))?;
    }
    std::fs::write(&group.e2e_test, render(E2E, name))?;
    // The templates read well for any name; rustfmt decides how the long ones wrap, so the
    // generated code passes `cargo fmt --check` whatever the group is called.
    crate::process::run(
        std::process::Command::new("rustfmt")
            .args(["--edition", "2021"])
            .arg(group.function_dir.join("src/lib.rs"))
            .arg(group.function_dir.join("src/handler_tests.rs"))
            .arg(&group.e2e_test),
    )?;
    std::fs::write(&group.migration, render(MIGRATION, name))?;
    std::fs::write(&group.pgtap, render(PGTAP, name))?;
    std::fs::write(
        &router,
        format!("{}{}{}", &source[..end], route_line(name), &source[end..]),
    )?;
    let config = root.join(ROUTER_CONFIG);
    let mut services = std::fs::read_to_string(&config)?;
    services.push_str(&services_block(name));
    std::fs::write(&config, services)?;
    Ok(group)
}

/// Removes what [`create`] made for `name`, and nothing else.
pub fn remove(root: &Path, name: &str) -> Result<()> {
    if !valid_name(name) || name == "router" {
        bail!("not a group name: {name}");
    }
    let group = locate(root, name)?;
    if group.function_dir.exists() {
        std::fs::remove_dir_all(&group.function_dir)?;
    }
    for file in [&group.e2e_test, &group.migration, &group.pgtap] {
        if file.exists() {
            std::fs::remove_file(file)?;
        }
    }
    let router = root.join(ROUTER_SOURCE);
    let source = std::fs::read_to_string(&router)?;
    std::fs::write(&router, source.replacen(&route_line(name), "", 1))?;
    let config = root.join(ROUTER_CONFIG);
    let services = std::fs::read_to_string(&config)?;
    std::fs::write(&config, services.replacen(&services_block(name), "", 1))?;
    Ok(())
}

/// A group that exists for as long as this value does: `cargo xtask test` builds, serves and
/// tests one, so the scaffold proves itself on every run. Dropping it removes the group and
/// puts back the lock file cargo extended for the new crate, also when a step failed. If the
/// process is killed, `cargo xtask new <group> --remove` cleans up.
pub struct Temporary {
    root: PathBuf,
    name: String,
    lock: Option<String>,
}

impl Temporary {
    pub fn create(root: &Path, name: &str) -> Result<Temporary> {
        // What a killed earlier run left behind.
        remove(root, name)?;
        let lock = std::fs::read_to_string(root.join("Cargo.lock")).ok();
        create(root, name)?;
        Ok(Temporary {
            root: root.to_path_buf(),
            name: name.to_string(),
            lock,
        })
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        if let Err(e) = remove(&self.root, &self.name) {
            eprintln!("xtask: could not remove the {} group: {e}", self.name);
        }
        if let Some(lock) = &self.lock {
            let _ = std::fs::write(self.root.join("Cargo.lock"), lock);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch copy of just the files the scaffold reads and edits.
    fn scratch(test: &str) -> PathBuf {
        let root = crate::paths::root();
        let dir = std::env::temp_dir().join(format!("scaffold-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in [
            "functions/router/src",
            "supabase/migrations",
            "supabase/tests/database",
            "tests/tests",
        ] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for file in [ROUTER_SOURCE, ROUTER_CONFIG] {
            std::fs::copy(root.join(file), dir.join(file)).unwrap();
        }
        std::fs::write(
            dir.join("functions/router/Cargo.toml"),
            "name = \"fn-router\"",
        )
        .unwrap();
        std::fs::write(
            dir.join("supabase/migrations/20261122000100_identity.sql"),
            "",
        )
        .unwrap();
        std::fs::write(dir.join("supabase/tests/database/08_x.test.sql"), "").unwrap();
        dir
    }

    #[test]
    fn a_new_group_is_registered_everywhere_and_removed_without_a_trace() {
        let dir = scratch("new");
        let before = (
            std::fs::read_to_string(dir.join(ROUTER_SOURCE)).unwrap(),
            std::fs::read_to_string(dir.join(ROUTER_CONFIG)).unwrap(),
        );
        let group = create(&dir, "media-kit").unwrap();
        assert!(group.function_dir.join("src/lib.rs").exists());
        assert!(
            group.migration.ends_with("20261122000101_media_kit.sql"),
            "{:?}",
            group.migration
        );
        assert!(
            group.pgtap.ends_with("09_media_kit.test.sql"),
            "{:?}",
            group.pgtap
        );
        let lib = std::fs::read_to_string(group.function_dir.join("src/lib.rs")).unwrap();
        assert!(lib.contains("GET \"/v1/media-kit\"") && lib.contains("\"media_kit_hello\""));
        let routes =
            registry::router_routes(&std::fs::read_to_string(dir.join(ROUTER_SOURCE)).unwrap());
        assert!(routes.contains(&("/v1/media-kit".into(), "MEDIA_KIT".into())));
        assert!(
            registry::services(&std::fs::read_to_string(dir.join(ROUTER_CONFIG)).unwrap())
                .contains(&("MEDIA_KIT".into(), "genbase-media-kit".into()))
        );
        assert!(
            create(&dir, "media-kit").is_err(),
            "a taken name is refused"
        );

        remove(&dir, "media-kit").unwrap();
        let after = (
            std::fs::read_to_string(dir.join(ROUTER_SOURCE)).unwrap(),
            std::fs::read_to_string(dir.join(ROUTER_CONFIG)).unwrap(),
        );
        assert_eq!(before, after);
        assert!(!group.function_dir.exists() && !group.migration.exists() && !group.pgtap.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_existing_migration_of_the_same_name_is_never_written_over() {
        let dir = scratch("existing");
        let migration = dir.join("supabase/migrations/20261122000200_chat.sql");
        std::fs::write(&migration, "-- the chat schema").unwrap();
        assert!(create(&dir, "chat").is_err());
        assert_eq!(
            std::fs::read_to_string(&migration).unwrap(),
            "-- the chat schema"
        );
        assert!(!dir.join("functions/chat").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_names_are_refused() {
        for name in ["", "x", "Demo", "9lives", "a_b", "trailing-", "router/../x"] {
            assert!(!valid_name(name), "{name}");
        }
        assert!(valid_name("demo") && valid_name("media-kit"));
    }
}
