//! Gives server-function failures their proper HTTP status.
//!
//! Leptos answers 500 to a call whose arguments do not even parse; the body is already our typed
//! [`ApiError`], so its code tells the real status (400 for bad input).

use app::backend::status_for;
use app::protocol::{ApiError, ErrorCode};
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

/// Error bodies are small; anything larger is passed through untouched.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Rewrites the status of a failed server-function call from its [`ApiError`] code.
pub async fn server_fn_status(request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    if !is_api || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ERROR_BODY).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(error) = serde_json::from_slice::<ApiError>(&bytes)
        && error.code != ErrorCode::Internal
    {
        parts.status = status_for(error.code);
    }
    Response::from_parts(parts, Body::from(bytes))
}
