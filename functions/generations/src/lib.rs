//! The generations function: `POST /v1/generations` (reserve credits, record, submit to the
//! provider or the GPU queue), `GET /v1/generations[/:id]`, `POST /v1/generations/:id/cancel`.

mod handler;
mod provider;
mod request;
mod tokens;

pub use handler::handle;

genbase_edge::entry!("generations", handle);

#[cfg(test)]
mod handler_tests;
