//! The profile function: `GET /v1/me` and `PATCH /v1/me`.

mod handler;
mod patch;

pub use handler::handle;

genbase_edge::entry!("profile", handle);
