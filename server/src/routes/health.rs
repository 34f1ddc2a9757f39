//! `/healthz` (the process is up) and `/readyz` (it can serve: database and models available).

use app::backend::AppError;
use app::protocol::{ApiError, Readiness};
use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::startup::AppState;

/// The health-check routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(live)).routes(routes!(ready))
}

/// Whether the process runs.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "`ok`", body = String)))]
async fn live() -> &'static str {
    "ok"
}

/// Whether the app can serve: the database answers and every model asset is in place.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, body = Readiness),
        (status = 503, description = "what is missing", body = ApiError)
    )
)]
async fn ready(State(state): State<AppState>) -> Result<Json<Readiness>, AppError> {
    let readiness = state.context.readiness().await;
    if readiness.ready {
        return Ok(Json(readiness));
    }
    let failed: Vec<String> =
        readiness.checks.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.detail)).collect();
    Err(AppError::Unavailable(format!("not ready: {}", failed.join("; "))))
}
