//! What the local tools (the PostgREST stand-in, the fake Replicate) and the test harnesses
//! share, so that it is written once:
//! - `cli`: the tool binaries' command line (`--flag value` options) and their `main`;
//! - `reply`: an HTTP client call for tests that returns any answer, 4xx and 5xx included.

pub mod cli;
#[cfg(feature = "client")]
pub mod reply;
