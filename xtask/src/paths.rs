//! Where things live: the workspace root and the git-ignored `.genbase/` state folder.

use std::path::PathBuf;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Project-local state: tools, keys, database clusters. Never committed.
pub fn state() -> PathBuf {
    root().join(".genbase")
}

pub fn node_bin(name: &str) -> PathBuf {
    root().join("node_modules/.bin").join(name)
}

pub fn keys() -> PathBuf {
    state().join("keys")
}
