//! The profile function: `GET /v1/me` and `PATCH /v1/me`.

#[cfg(test)]
mod body_props;
mod handler;
mod patch;

pub use handler::handle;

genbase_edge::entry!("profile", handle);
