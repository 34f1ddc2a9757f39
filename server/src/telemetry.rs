//! Structured logs with `tracing`, and the request log.

use std::io::IsTerminal;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use app::protocol::{ApiError, UserId};
use axum::body::{Body, HttpBody, to_bytes};
use axum::extract::Request;
use axum::http::{Extensions, header};
use axum::middleware::Next;
use axum::response::Response;

use tracing_subscriber::EnvFilter;

use crate::{Config, LogFormat};

/// Installs the global log subscriber (to standard error) with the configured filter and format.
/// Call once.
pub fn init(config: &Config) {
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Who made a request, once something authenticated them; the request log reads it.
#[derive(Clone, Debug, Default)]
pub struct RequestUser(Arc<OnceLock<UserId>>);

impl RequestUser {
    /// Notes that the request in `extensions` was made by user `id`.
    pub fn record(extensions: &Extensions, id: UserId) {
        if let Some(user) = extensions.get::<Self>() {
            let _ = user.0.set(id);
        }
    }
}

/// Error bodies larger than this are not read for the log line.
const MAX_LOGGED_ERROR: usize = 16 * 1024;

/// Logs one line per request: method, path (never the query string, which can carry a
/// websocket token), status, latency and the user when known. A refused request (4xx) is logged
/// with its error code and reason; a failed one (5xx) as an error.
pub async fn log_request(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let user = RequestUser::default();
    request.extensions_mut().insert(user.clone());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let user = user.0.get().map(|id| id.0);
    if status < 400 {
        tracing::info!(%method, path, status, latency_ms, user, "request");
        return response;
    }
    let (response, error) = read_error(response).await;
    let code = error
        .as_ref()
        .and_then(|e| serde_json::to_value(e.code).ok())
        .and_then(|v| v.as_str().map(str::to_owned));
    let reason = error.map(|e| e.message);
    if status >= 500 {
        tracing::error!(%method, path, status, latency_ms, user, code, reason, "request failed");
    } else {
        tracing::info!(%method, path, status, latency_ms, user, code, reason, "request refused");
    }
    response
}

/// The [`ApiError`] in a small JSON error response, and the response rebuilt around it.
async fn read_error(response: Response) -> (Response, Option<ApiError>) {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let small = response.body().size_hint().upper().is_some_and(|size| size as usize <= MAX_LOGGED_ERROR);
    if !is_json || !small {
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    match to_bytes(body, MAX_LOGGED_ERROR).await {
        Ok(bytes) => {
            let error = serde_json::from_slice::<ApiError>(&bytes).ok();
            (Response::from_parts(parts, Body::from(bytes)), error)
        }
        Err(_) => (Response::from_parts(parts, Body::empty()), None),
    }
}
