//! `GET /api/events/{id}/thumbnail`: the frame an event was recognised in, for its owner only.

use app::backend::AppError;
use app::protocol::EventId;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::auth::Authenticated;
use crate::startup::AppState;

/// The event routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/events/{id}/thumbnail", get(thumbnail))
}

async fn thumbnail(
    State(state): State<AppState>,
    Authenticated(identity): Authenticated,
    Path(id): Path<EventId>,
) -> Result<impl IntoResponse, AppError> {
    let jpeg = state.context.events.thumbnail(identity.user.id, id).await?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "private, max-age=86400")], jpeg))
}
