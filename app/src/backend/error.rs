use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The error every HTTP handler returns. Users see a status code and a clean
/// `{"code", "message"}` body; internal causes are logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The record does not exist, or belongs to someone else.
    #[error("not found")]
    NotFound,
    /// The request is malformed; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// A dependency (database, model) is not available right now.
    #[error("{0}")]
    Unavailable(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl AppError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Database(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if status.is_server_error() && !matches!(self, Self::Unavailable(_)) {
            tracing::error!(error = %self, "request failed");
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        (status, Json(json!({ "code": code, "message": message }))).into_response()
    }
}
