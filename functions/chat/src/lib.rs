//! The chat function: conversations (`/v1/conversations`), their messages and streamed
//! replies (`reply`), memories (`/v1/memories`) and prompt templates
//! (`/v1/prompt-templates`). Every endpoint is one RPC as the caller, except a reply, which
//! also calls the provider: Postgres (RLS, the SQL functions) decides who sees what.

mod conversations;
mod handler;
mod memories;
mod page;
mod patch;
mod providers;
mod query;
mod reply;
mod templates;

pub use handler::handle;

genbase_edge::entry!("chat", handle);

#[cfg(test)]
mod handler_tests;
