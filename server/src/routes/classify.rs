//! `POST /api/classify`: server-side classification of an uploaded JPEG or PNG.

use app::backend::AppError;
use app::protocol::{ApiError, Classification};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Authenticated;
use crate::startup::AppState;

/// How many categories to return unless asked otherwise.
const DEFAULT_RESULTS: usize = 3;

/// The classification routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(classify))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Options {
    /// How many categories to return, 1 to 20 (default 3).
    max_results: Option<usize>,
}

/// Classifies the image in the body on the server; the answer has the same shape as a
/// browser's classification.
#[utoipa::path(
    post,
    path = "/api/classify",
    tag = "camera",
    params(Options),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "a JPEG or PNG image"),
    responses(
        (status = 200, body = Classification),
        (status = 400, description = "max_results out of range", body = ApiError),
        (status = 401, description = "not signed in", body = ApiError),
        (status = 413, description = "larger than 4096 × 4096 pixels, or than the body limit", body = ApiError),
        (status = 422, description = "not a JPEG or PNG image", body = ApiError),
        (status = 503, description = "busy, or the model is not available", body = ApiError)
    ),
    security(("token" = []))
)]
async fn classify(
    State(state): State<AppState>,
    Authenticated(_): Authenticated,
    Query(options): Query<Options>,
    image: Bytes,
) -> Result<Json<Classification>, AppError> {
    let max_results = options.max_results.unwrap_or(DEFAULT_RESULTS);
    Ok(Json(state.context.classifier.classify(image.to_vec(), max_results).await?))
}
