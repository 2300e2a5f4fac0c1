//! What every genbase function needs, independent of the runtime: JWT verification, the API
//! error type, request/response helpers, the RPC seam, input newtypes and webhook signatures.

pub mod auth;
pub mod error;
pub mod http;

pub use error::ApiError;

#[cfg(test)]
mod test_support;
