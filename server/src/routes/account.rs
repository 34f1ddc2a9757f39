//! REST endpoints for programs that authenticate with an API token.

use app::protocol::{ApiError, UserInfo};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Authenticated;
use crate::startup::AppState;

/// The account routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

/// Who the credentials belong to.
#[utoipa::path(
    get,
    path = "/api/me",
    tag = "accounts",
    responses((status = 200, body = UserInfo), (status = 401, description = "not signed in", body = ApiError)),
    security(("token" = []))
)]
async fn me(Authenticated(identity): Authenticated) -> Json<UserInfo> {
    Json(identity.user)
}
