//! The ingest worker: claims `ingest.file` and `embed.messages` tasks from the worker API,
//! turns files into chunks (text extracted by type, split along headings and pages) and has
//! them embedded in batches, then reports each task's outcome. See README.md.

mod api;
mod chunk;
pub mod config;
mod download;
mod extract;
mod heartbeat;
mod task;
pub mod worker;

#[cfg(test)]
mod fake_api;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod worker_tests;
