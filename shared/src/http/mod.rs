//! Runtime-neutral request/response types, CORS, the one result -> response
//! mapping and the routing idiom ([`crate::endpoints!`]). Runtimes convert
//! their native request into [`ApiRequest`] and [`ApiResponse`] back.

mod cors;
mod json_numbers;
mod params;
mod query;
mod reply;
mod request;
mod response;
mod router;

pub use cors::{Cors, ALLOWED_HEADERS, ALLOWED_METHODS, PREFLIGHT_MAX_AGE_SECS};
pub use params::Params;
pub use query::{parse_query, percent_decode};
pub use reply::respond;
pub use request::{
    accept_request_id, bearer_from_header, new_request_id, ApiRequest, LimitedBody, MAX_BODY_BYTES,
    MAX_DRAIN_BYTES, MAX_WEBHOOK_BODY_BYTES, REQUEST_ID_HEADER,
};
pub use response::{deleted_one, ApiResponse};
pub use router::{match_endpoint, most_specific, no_endpoint, shape, PathParam, PathParams};
