//! The projects function: creative projects (`/v1/projects`, 003's and 004's in one: settings,
//! a visual layout, optionally in a workspace, shared by role) with their shots in a gap-free
//! order (`.../shots`, moved one at a time under the project's lock), the generations linked
//! to each shot with 003's nullable position (`.../shots/:shot_id/generations`), 004's layout
//! components saved with a version check (`.../components`: a stale version is a 409), audio
//! recordings registered from uploads (`.../recordings`), the prompt history
//! (`.../prompts`), 004's duplicate and stats; members and invitations as every shared thing
//! has them (`genbase_shared::sharing`). Every endpoint is one RPC as the caller:
//! Postgres (RLS, `private.require_role`, the SQL functions) decides who sees and does what.

mod components;
mod links;
mod projects;
mod records;
mod shots;

use genbase_shared::deps::{require_user, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::sharing;
use genbase_shared::validate::Id;

genbase_shared::endpoints! {
    enum Endpoint {
        POST "/v1/projects" => Create,
        GET "/v1/projects" => List,
        // Before `/:id`, which would take `stats` for an id.
        GET "/v1/projects/stats" => Stats,
        GET "/v1/projects/:id" => Get { id: Id },
        PATCH "/v1/projects/:id" => Update { id: Id },
        DELETE "/v1/projects/:id" => Delete { id: Id },
        POST "/v1/projects/:id/duplicate" => Duplicate { id: Id },
        POST "/v1/projects/:id/shots" => CreateShot { id: Id },
        GET "/v1/projects/:id/shots" => ListShots { id: Id },
        PATCH "/v1/projects/:id/shots/:shot_id" => UpdateShot { id: Id, shot_id: Id },
        DELETE "/v1/projects/:id/shots/:shot_id" => DeleteShot { id: Id, shot_id: Id },
        POST "/v1/projects/:id/shots/:shot_id/move" => MoveShot { id: Id, shot_id: Id },
        POST "/v1/projects/:id/shots/:shot_id/generations" => Attach { id: Id, shot_id: Id },
        GET "/v1/projects/:id/shots/:shot_id/generations" => ListLinks { id: Id, shot_id: Id },
        PATCH "/v1/projects/:id/shots/:shot_id/generations/:generation_id" =>
            Position { id: Id, shot_id: Id, generation_id: Id },
        DELETE "/v1/projects/:id/shots/:shot_id/generations/:generation_id" =>
            Detach { id: Id, shot_id: Id, generation_id: Id },
        POST "/v1/projects/:id/components" => CreateComponent { id: Id },
        GET "/v1/projects/:id/components" => ListComponents { id: Id },
        PATCH "/v1/projects/:id/components/:cid" => UpdateComponent { id: Id, cid: Id },
        DELETE "/v1/projects/:id/components/:cid" => DeleteComponent { id: Id, cid: Id },
        POST "/v1/projects/:id/recordings" => CreateRecording { id: Id },
        GET "/v1/projects/:id/recordings" => ListRecordings { id: Id },
        DELETE "/v1/projects/:id/recordings/:rid" => DeleteRecording { id: Id, rid: Id },
        POST "/v1/projects/:id/prompts" => CreatePrompt { id: Id },
        GET "/v1/projects/:id/prompts" => ListPrompts { id: Id },
    }
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    // Members, invitations, leave and transfer: the same endpoints as every shared thing.
    if let Some(answer) = sharing::serve("/v1/projects", req, deps).await {
        return answer;
    }
    let endpoint = Endpoint::parse(&req.method, &req.path)?;
    let caller = require_user(req, deps).await?;
    let c = &caller;
    match endpoint {
        Endpoint::Create => projects::create(req, deps, c).await,
        Endpoint::List => projects::list(req, deps, c).await,
        Endpoint::Stats => projects::stats(deps, c).await,
        Endpoint::Get { id } => projects::get(deps, c, id).await,
        Endpoint::Update { id } => projects::update(req, deps, c, id).await,
        Endpoint::Delete { id } => projects::delete(deps, c, id).await,
        Endpoint::Duplicate { id } => projects::duplicate(req, deps, c, id).await,
        Endpoint::CreateShot { id } => shots::create(req, deps, c, id).await,
        Endpoint::ListShots { id } => shots::list(deps, c, id).await,
        Endpoint::UpdateShot { id, shot_id } => shots::update(req, deps, c, id, shot_id).await,
        Endpoint::DeleteShot { id, shot_id } => shots::delete(deps, c, id, shot_id).await,
        Endpoint::MoveShot { id, shot_id } => shots::move_to(req, deps, c, id, shot_id).await,
        Endpoint::Attach { id, shot_id } => links::attach(req, deps, c, id, shot_id).await,
        Endpoint::ListLinks { id, shot_id } => links::list(req, deps, c, id, shot_id).await,
        Endpoint::Position {
            id,
            shot_id,
            generation_id,
        } => links::position(req, deps, c, id, shot_id, generation_id).await,
        Endpoint::Detach {
            id,
            shot_id,
            generation_id,
        } => links::detach(deps, c, id, shot_id, generation_id).await,
        Endpoint::CreateComponent { id } => components::create(req, deps, c, id).await,
        Endpoint::ListComponents { id } => components::list(deps, c, id).await,
        Endpoint::UpdateComponent { id, cid } => components::update(req, deps, c, id, cid).await,
        Endpoint::DeleteComponent { id, cid } => components::delete(deps, c, id, cid).await,
        Endpoint::CreateRecording { id } => records::create_recording(req, deps, c, id).await,
        Endpoint::ListRecordings { id } => records::list_recordings(req, deps, c, id).await,
        Endpoint::DeleteRecording { id, rid } => records::delete_recording(deps, c, id, rid).await,
        Endpoint::CreatePrompt { id } => records::create_prompt(req, deps, c, id).await,
        Endpoint::ListPrompts { id } => records::list_prompts(req, deps, c, id).await,
    }
}

// A project's settings and its layout may each be `project_json_bytes` (64 KiB, SQL checks
// them) in one body, over the 64 KiB of other user endpoints.
genbase_edge::entry!("projects", handle, body_limit = 256 << 10);

#[cfg(test)]
mod handler_tests;
