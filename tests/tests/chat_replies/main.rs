//! Chat replies end to end: whole (`"stream": false`, whole.rs) and streamed (streamed.rs).
//! One test binary, because both use the same pool keys: a provider failure rests the key
//! it used, so a test that makes one holds [`POOL`] and readies the keys again.

mod streamed;
mod whole;

use std::sync::{Mutex, MutexGuard};

static POOL: Mutex<()> = Mutex::new(());

/// The label of this binary's pool keys.
const LABEL: &str = "e2e chat replies";

fn pool() -> MutexGuard<'static, ()> {
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}
