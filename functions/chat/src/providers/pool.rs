//! Which key a chat call uses, from the provider token pool: the rules every function that
//! calls a provider shares (`genbase_shared::token_pool`), for any provider name.

pub use genbase_shared::token_pool::{report, take, Outcome};
