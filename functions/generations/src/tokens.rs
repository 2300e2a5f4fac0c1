//! Replicate's tokens from the provider token pool, by the rules every function that calls a
//! provider shares (`genbase_shared::token_pool`).

use genbase_shared::deps::Deps;
use genbase_shared::error::ApiError;
use genbase_shared::token_pool::{self, Token};

pub use genbase_shared::token_pool::{report, Outcome};

/// Next token, round-robin from `provider_tokens`; the `REPLICATE_API_TOKEN` var when the
/// pool has no token available (a single-token setup, or every pool token cooling down).
pub async fn take(deps: &impl Deps) -> Result<Token, ApiError> {
    token_pool::take(deps, "replicate").await
}
