//! `GET /api/events/{id}/thumbnail`: the frame an event was recognised in, for its owner only.

use app::backend::AppError;
use app::protocol::{ApiError, EventId};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Authenticated;
use crate::startup::AppState;

/// The event routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(thumbnail))
}

/// The JPEG of the frame an event was recognised in.
#[utoipa::path(
    get,
    path = "/api/events/{id}/thumbnail",
    tag = "camera",
    params(("id" = EventId, Path, description = "the event")),
    responses(
        (status = 200, description = "the thumbnail", content_type = "image/jpeg", body = Vec<u8>),
        (status = 401, description = "not signed in", body = ApiError),
        (status = 404, description = "absent, without a thumbnail, or not yours", body = ApiError)
    ),
    security(("token" = []))
)]
async fn thumbnail(
    State(state): State<AppState>,
    Authenticated(identity): Authenticated,
    Path(id): Path<EventId>,
) -> Result<impl IntoResponse, AppError> {
    let jpeg = state.context.events.thumbnail(identity.user.id, id).await?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "private, max-age=86400")], jpeg))
}
