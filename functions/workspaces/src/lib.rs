//! The workspaces function: workspaces (`/v1/workspaces`: create, list, read, rename,
//! delete), their credits (a ledger page, and funding from the caller's own account), their
//! generation counts, their members and invitations (the sharing endpoints every shareable
//! resource has), and accepting an invitation to any shared resource (`POST
//! /v1/invitations/accept`). Every endpoint is one RPC as the caller: Postgres (RLS, the SQL
//! functions) decides who may do what.

mod credits;
mod handler;
mod workspaces;

pub use handler::handle;

genbase_edge::entry!("workspaces", handle);

#[cfg(test)]
mod handler_tests;
