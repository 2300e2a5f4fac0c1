//! The files function: a user's documents (`/v1/files`: registered uploads that the ingest
//! worker extracts, chunks and embeds) and search over them and the user's chat history
//! (`POST /v1/search`). Every endpoint is one RPC as the caller, so RLS decides what is seen
//! and searched; a search that needs the query's embedding first embeds it through a
//! batch SQL holds and settles, charged like any usage.

mod files;
mod search;

use genbase_shared::deps::{require_user, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::validate::Id;

genbase_shared::endpoints! {
    enum Endpoint {
        POST "/v1/files" => Create,
        GET "/v1/files" => List,
        GET "/v1/files/:id" => Get { id: Id },
        DELETE "/v1/files/:id" => Delete { id: Id },
        POST "/v1/search" => Search,
    }
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let endpoint = Endpoint::parse(&req.method, &req.path)?;
    let caller = require_user(req, deps).await?;
    match endpoint {
        Endpoint::Create => files::create(req, deps, &caller).await,
        Endpoint::List => files::list(req, deps, &caller).await,
        Endpoint::Get { id } => files::get(deps, &caller, id).await,
        Endpoint::Delete { id } => files::delete(deps, &caller, id).await,
        Endpoint::Search => search::search(req, deps, &caller).await,
    }
}

genbase_edge::entry!("files", handle);
