//! Parse, don't validate: each input becomes a newtype through `parse`, which is the only way
//! to build one, so holding a value proves it was checked. Errors are 400 `validation_failed`
//! with a message that names the field.

mod ids;
mod paging;
mod text;
mod time;
mod url;

pub use ids::{Id, IdempotencyKey};
pub use paging::{Cursor, Limit, Page, MAX_CURSOR_CHARS};
pub use text::{DisplayName, Email, Prompt, ShortText};
pub use time::Month;
pub use url::HttpUrl;

use crate::error::ApiError;

fn invalid(field: &str, requirement: &str) -> ApiError {
    ApiError::validation(format!("{field} {requirement}"))
}

/// Control characters and the invisible formatting characters used for spoofing (bidi
/// overrides, zero-width spaces, BOM).
fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}
