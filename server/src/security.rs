//! Protections applied to every request: security headers, and refusal of cookie-authenticated
//! state changes from other sites (cross-site request forgery).

use app::backend::AppError;
use app::backend::http::{Origin, content_security_policy, credentials, origin};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::startup::AppState;

/// Headers every response carries (unless the handler set its own). COOP and COEP make pages
/// cross-origin isolated, which multi-threaded WebAssembly needs.
const HEADERS: [(HeaderName, &str); 6] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    (HeaderName::from_static("cross-origin-embedder-policy"), "require-corp"),
    (HeaderName::from_static("cross-origin-resource-policy"), "same-origin"),
];

/// Adds the security headers to every response.
pub async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        let policy = HeaderValue::from_str(&content_security_policy(None)).expect("the policy is ASCII");
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// Refuses state-changing requests (anything but GET, HEAD and OPTIONS) that a browser sent
/// from another site. Requests that carry an API token (`Authorization: Token …`) pass: they are
/// authenticated by that token alone, never by the cookie beside it (see
/// [`Accounts::authenticate`]), so they carry no ambient credentials. Any other `Authorization`
/// header changes nothing.
///
/// [`Accounts::authenticate`]: app::backend::accounts::Accounts::authenticate
pub async fn forbid_cross_site(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let headers = request.headers();
    let by_token = credentials(headers, None).token.is_some();
    let cross_site = match origin(headers, &state.context.security.allowed_origins) {
        Origin::Foreign => true,
        Origin::Allowed => false,
        Origin::Absent => headers.get("sec-fetch-site").is_some_and(|v| v == "cross-site"),
    };
    if !safe && !by_token && cross_site {
        return AppError::Forbidden("cross-site requests are not accepted".into()).into_response();
    }
    next.run(request).await
}
