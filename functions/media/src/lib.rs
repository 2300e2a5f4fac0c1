//! The media function: the media library (`GET /v1/media`, `GET /v1/media/stats`), one view
//! over the caller's generations, with their stored outputs as signed URLs; and the storage
//! jobs that copy outputs into Storage and remove those of deleted generations
//! (`genbase_shared::storage_jobs`: its Cron Trigger and `POST /v1/admin/storage-jobs`).

mod handler;
mod query;

pub use handler::handle;

genbase_edge::entry!("media", handle);
genbase_edge::scheduled!("media", genbase_shared::storage_jobs::scheduled);

#[cfg(test)]
mod handler_tests;
