//! The profile function: `GET /v1/me`, `PATCH /v1/me` and `GET /v1/me/quotas`.

#[cfg(test)]
mod body_props;
mod handler;
mod patch;

pub use handler::handle;

genbase_edge::entry!("profile", handle);
