//! Every error in one shape: failed server-function calls get the HTTP status of their
//! [`ApiError`] code, and request bodies over the limit get 413 with the usual JSON body, whether
//! they announced their length or came in chunks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use app::backend::{AppError, status_for};
use app::protocol::{ApiError, ErrorCode, MAX_FILE_BYTES};
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::startup::AppState;

/// Error bodies are small; anything larger is passed through untouched.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Rewrites the status of a failed server-function call from its [`ApiError`] code (Leptos
/// answers 500 to every failure), with `Retry-After` when the call was rate limited.
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
        if let Some(seconds) = error.retry_after_secs {
            parts.headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Holds request bodies to `max_body_bytes` (file uploads to [`MAX_FILE_BYTES`]): a declared
/// length over it is refused before the handler runs; a chunked body is cut off where it passes
/// the limit, and whatever the handler made of the cut-off body is replaced by the same 413.
pub async fn limit_body(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let upload = path.starts_with("/ai-chat/api/sessions/") && path.ends_with("/files/");
    let limit = if upload { MAX_FILE_BYTES.max(state.max_body_bytes) } else { state.max_body_bytes };
    let too_large =
        || AppError::TooLarge(format!("the request body is larger than {limit} bytes")).into_response();
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return too_large();
    }
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    let exceeded = Arc::new(AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let flag = Arc::clone(&exceeded);
    let mut seen = 0usize;
    let counted = body.into_data_stream().map(move |chunk| {
        let chunk = chunk?;
        seen = seen.saturating_add(chunk.len());
        if seen > limit {
            flag.store(true, Ordering::Relaxed);
            return Err(axum::Error::new(BodyTooLarge));
        }
        Ok(chunk)
    });
    let response = next.run(Request::from_parts(parts, Body::from_stream(counted))).await;
    if exceeded.load(Ordering::Relaxed) { too_large() } else { response }
}

/// The error a body stream ends with once it passes the limit.
#[derive(Debug, thiserror::Error)]
#[error("length limit exceeded")]
struct BodyTooLarge;
