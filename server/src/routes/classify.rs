//! `POST /api/classify`: server-side classification of an uploaded JPEG or PNG.

use app::backend::AppError;
use app::protocol::Classification;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use crate::auth::Authenticated;
use crate::startup::AppState;

/// How many categories to return unless asked otherwise.
const DEFAULT_RESULTS: usize = 3;

/// The classification routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/classify", post(classify))
}

#[derive(Deserialize)]
struct Options {
    max_results: Option<usize>,
}

/// The image is the request body; the answer has the same shape as a browser's classification.
async fn classify(
    State(state): State<AppState>,
    Authenticated(_): Authenticated,
    Query(options): Query<Options>,
    image: Bytes,
) -> Result<Json<Classification>, AppError> {
    let max_results = options.max_results.unwrap_or(DEFAULT_RESULTS);
    Ok(Json(state.context.classifier.classify(image.to_vec(), max_results).await?))
}
