//! The loras function: LoRAs (`/v1/loras`: private to their creator and workspace, or public
//! once ready), their training images, their training runs (`POST /v1/loras/:id/train`: a
//! billed generation of kind `training` sent to Replicate's trainings API), and training
//! data (`/v1/training-data`: batches of videos cut into segments).
//!
//! Every rule is SQL's (migration 20261122001030_loras.sql): who may see or change what (RLS
//! and the role checks), what a run costs (the trainer's declared parameters), the segment
//! bounds. The function parses bodies into typed arguments, makes one RPC as the caller, and
//! for a run hands the reserved generation to the provider, as the generations function does
//! for predictions; the provider's webhook finishes it through the webhooks function.

mod loras;
mod provider;
mod train;
mod training_data;

use genbase_shared::deps::{require_user, Deps};
use genbase_shared::error::ApiError;
use genbase_shared::http::{ApiRequest, ApiResponse};
use genbase_shared::validate::Id;

genbase_shared::endpoints! {
    enum Endpoint {
        POST "/v1/loras" => Create,
        GET "/v1/loras" => List,
        GET "/v1/loras/:id" => Get { id: Id },
        PATCH "/v1/loras/:id" => Update { id: Id },
        DELETE "/v1/loras/:id" => Delete { id: Id },
        POST "/v1/loras/:id/images" => AddImage { id: Id },
        GET "/v1/loras/:id/images" => ListImages { id: Id },
        DELETE "/v1/loras/:id/images/:image_id" => RemoveImage { id: Id, image_id: Id },
        POST "/v1/loras/:id/train" => Train { id: Id },
        POST "/v1/training-data/batches" => CreateBatch,
        GET "/v1/training-data/batches" => ListBatches,
        GET "/v1/training-data/batches/:id" => GetBatch { id: Id },
        DELETE "/v1/training-data/batches/:id" => DeleteBatch { id: Id },
        POST "/v1/training-data/batches/:id/videos" => AddVideo { id: Id },
        GET "/v1/training-data/batches/:id/videos" => ListVideos { id: Id },
        POST "/v1/training-data/videos/:id/segments" => CreateSegment { id: Id },
        GET "/v1/training-data/videos/:id/segments" => ListSegments { id: Id },
        PATCH "/v1/training-data/segments/:id" => UpdateSegment { id: Id },
        DELETE "/v1/training-data/segments/:id" => DeleteSegment { id: Id },
    }
}

pub async fn handle(req: &ApiRequest, deps: &impl Deps) -> Result<ApiResponse, ApiError> {
    let endpoint = Endpoint::parse(&req.method, &req.path)?;
    let caller = require_user(req, deps).await?;
    let c = &caller;
    match endpoint {
        Endpoint::Create => loras::create(req, deps, c).await,
        Endpoint::List => loras::list(req, deps, c).await,
        Endpoint::Get { id } => loras::get(deps, c, id).await,
        Endpoint::Update { id } => loras::update(req, deps, c, id).await,
        Endpoint::Delete { id } => loras::delete(deps, c, id).await,
        Endpoint::AddImage { id } => loras::add_image(req, deps, c, id).await,
        Endpoint::ListImages { id } => loras::list_images(deps, c, id).await,
        Endpoint::RemoveImage { id, image_id } => loras::remove_image(deps, c, id, image_id).await,
        Endpoint::Train { id } => train::start(req, deps, c, id).await,
        Endpoint::CreateBatch => training_data::create_batch(req, deps, c).await,
        Endpoint::ListBatches => training_data::list_batches(req, deps, c).await,
        Endpoint::GetBatch { id } => training_data::get_batch(deps, c, id).await,
        Endpoint::DeleteBatch { id } => training_data::delete_batch(deps, c, id).await,
        Endpoint::AddVideo { id } => training_data::add_video(req, deps, c, id).await,
        Endpoint::ListVideos { id } => training_data::list_videos(req, deps, c, id).await,
        Endpoint::CreateSegment { id } => training_data::create_segment(req, deps, c, id).await,
        Endpoint::ListSegments { id } => training_data::list_segments(deps, c, id).await,
        Endpoint::UpdateSegment { id } => training_data::update_segment(req, deps, c, id).await,
        Endpoint::DeleteSegment { id } => training_data::delete_segment(deps, c, id).await,
    }
}

genbase_edge::entry!("loras", handle);

#[cfg(test)]
mod handler_tests;
