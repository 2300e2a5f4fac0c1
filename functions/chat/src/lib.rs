//! The chat function: conversations (`/v1/conversations`), their messages and streamed
//! replies (`reply`), memories (`/v1/memories`) and prompt templates
//! (`/v1/prompt-templates`). Every endpoint is one RPC as the caller, except a reply, which
//! also calls the provider: Postgres (RLS, the SQL functions) decides who sees what.

mod conversations;
mod crud;
mod documents;
mod handler;
mod memories;
mod patch;
mod providers;
mod relay;
mod reply;
mod send_body;
mod templates;
mod titles;
mod ui_stream;

pub use handler::handle;
pub use reply::write_stream;

genbase_edge::entry!("chat", handle, stream = reply::write_stream);

#[cfg(test)]
mod body_props;
#[cfg(test)]
mod handler_tests;
