use crate::{conversations, crud, memories, templates};
use genbase_shared::deps::{require_user, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::validate::Id;

genbase_shared::endpoints! {
    enum Endpoint {
        POST "/v1/conversations" => CreateConversation,
        GET "/v1/conversations" => ListConversations,
        POST "/v1/conversations/delete" => DeleteConversations,
        GET "/v1/conversations/:id" => GetConversation { id: Id },
        PATCH "/v1/conversations/:id" => UpdateConversation { id: Id },
        DELETE "/v1/conversations/:id" => DeleteConversation { id: Id },
        GET "/v1/conversations/:id/messages" => ListMessages { id: Id },
        POST "/v1/conversations/:id/messages" => SendMessage { id: Id },
        POST "/v1/conversations/:id/messages/:message_id/stop" => StopReply { id: Id, message_id: Id },
        PUT "/v1/conversations/:id/files" => SetFiles { id: Id },
        GET "/v1/memories" => ListMemories,
        POST "/v1/memories" => CreateMemory,
        PATCH "/v1/memories/:id" => UpdateMemory { id: Id },
        DELETE "/v1/memories/:id" => DeleteMemory { id: Id },
        GET "/v1/prompt-templates" => ListTemplates,
        POST "/v1/prompt-templates" => CreateTemplate,
        PATCH "/v1/prompt-templates/:id" => UpdateTemplate { id: Id },
        DELETE "/v1/prompt-templates/:id" => DeleteTemplate { id: Id },
    }
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let endpoint = Endpoint::parse(&req.method, &req.path)?;
    let caller = require_user(req, deps).await?;
    match endpoint {
        Endpoint::CreateConversation => conversations::create(req, deps, &caller).await,
        Endpoint::ListConversations => conversations::list(req, deps, &caller).await,
        Endpoint::DeleteConversations => conversations::delete_many(req, deps, &caller).await,
        Endpoint::GetConversation { id } => conversations::get(deps, &caller, id).await,
        Endpoint::UpdateConversation { id } => conversations::update(req, deps, &caller, id).await,
        Endpoint::DeleteConversation { id } => conversations::delete_one(deps, &caller, id).await,
        Endpoint::ListMessages { id } => conversations::messages(req, deps, &caller, id).await,
        Endpoint::SendMessage { id } => crate::reply::send(req, deps, &caller, id).await,
        // The message id alone names the reply; SQL checks it is the caller's.
        Endpoint::StopReply { message_id, .. } => {
            crate::reply::stop(deps, &caller, message_id).await
        }
        Endpoint::SetFiles { id } => crate::documents::set_files(req, deps, &caller, id).await,
        Endpoint::ListMemories => memories::list(req, deps, &caller).await,
        Endpoint::CreateMemory => memories::create(req, deps, &caller).await,
        Endpoint::UpdateMemory { id } => {
            crud::update::<memories::Memory>(req, deps, &caller, id).await
        }
        Endpoint::DeleteMemory { id } => crud::delete::<memories::Memory>(deps, &caller, id).await,
        Endpoint::ListTemplates => templates::list(req, deps, &caller).await,
        Endpoint::CreateTemplate => templates::create(req, deps, &caller).await,
        Endpoint::UpdateTemplate { id } => {
            crud::update::<templates::Template>(req, deps, &caller, id).await
        }
        Endpoint::DeleteTemplate { id } => {
            crud::delete::<templates::Template>(deps, &caller, id).await
        }
    }
}
