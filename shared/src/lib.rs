//! What every genbase function needs, independent of the runtime: JWT verification, the API
//! error type, request/response helpers, the RPC seam, input newtypes and webhook signatures.

pub mod auth;
pub mod calendar;
pub mod deps;
pub mod embeddings;
pub mod error;
pub mod http;
pub mod keyset;
pub mod limits;
#[cfg(any(test, feature = "testing"))]
pub mod props;
pub mod rpc;
#[cfg(feature = "postgrest")]
pub mod rpc_postgrest;
pub mod sharing;
pub mod storage;
pub mod storage_inputs;
pub mod storage_jobs;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod token_pool;
pub mod validate;
pub mod webhook;

pub use error::ApiError;

// Also behind `testing`: `testing` re-exports its runner and generator for other crates' tests.
#[cfg(any(test, feature = "testing"))]
mod test_support;
