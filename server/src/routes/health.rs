//! `/healthz` (the process is up) and `/readyz` (it can serve: database and models available).

use app::backend::AppError;
use app::protocol::Readiness;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::startup::AppState;

/// The health-check routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(live)).route("/readyz", get(ready))
}

async fn live() -> &'static str {
    "ok"
}

async fn ready(State(state): State<AppState>) -> Result<Json<Readiness>, AppError> {
    let readiness = state.context.readiness().await;
    if readiness.ready {
        return Ok(Json(readiness));
    }
    let failed: Vec<String> =
        readiness.checks.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.detail)).collect();
    Err(AppError::Unavailable(format!("not ready: {}", failed.join("; "))))
}
