//! REST endpoints for programs that authenticate with an API token.

use app::protocol::UserInfo;
use axum::routing::get;
use axum::{Json, Router};

use crate::auth::Authenticated;
use crate::startup::AppState;

/// The account routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/me", get(me))
}

/// `GET /api/me`: who the credentials belong to.
async fn me(Authenticated(identity): Authenticated) -> Json<UserInfo> {
    Json(identity.user)
}
