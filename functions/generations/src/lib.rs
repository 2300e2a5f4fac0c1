//! The generations function: `POST /v1/generations` (reserve credits, record, submit to the
//! provider or the GPU queue), `GET /v1/generations[/:id]` (stored outputs as signed URLs),
//! `POST /v1/generations/:id/cancel`, the media library's edits (`PATCH` and `DELETE
//! /v1/generations/:id`, `POST /v1/generations/delete`),
//! and reconciliation with the provider (`POST /v1/admin/reconcile` and a Cron Trigger).

mod args;
mod handler;
mod inputs;
mod library;
mod provider;
mod reconcile;
mod request;
mod tokens;

pub use handler::handle;

genbase_edge::entry!("generations", handle);
genbase_edge::scheduled!("generations", reconcile::scheduled);

#[cfg(test)]
mod body_props;
#[cfg(test)]
mod handler_tests;
