//! Authentication over HTTP: an extractor that resolves a REST request's session cookie or
//! `Authorization: Token …` header to a user, and the middleware that does the same for pages.

use app::backend::AppError;
use app::backend::accounts::{Identity, PageVisitor};
use app::backend::http::credentials;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::startup::AppState;

/// The signed-in caller of a REST handler; requests without valid credentials get 401.
pub struct Authenticated(pub Identity);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let credentials = credentials(&parts.headers, None);
        match state.context.accounts.authenticate(&credentials).await? {
            Some(identity) => Ok(Self(identity)),
            None => Err(AppError::Unauthorized("sign in, or send `Authorization: Token <token>`".into())),
        }
    }
}

/// Paths that are not pages: they authenticate for themselves, or need no user at all.
const NOT_PAGES: [&str; 6] = ["/api/", "/ai-chat/api/", "/ws/", "/pkg/", "/ort/", "/models/"];

/// Finds the signed-in user of a page request before it renders, and leaves them in the request
/// (as [`PageVisitor`]) for the page to read: the first render already knows who is there.
pub async fn identify_page_visitor(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let is_page = request.method() == Method::GET && !NOT_PAGES.iter().any(|prefix| path.starts_with(prefix));
    let credentials = credentials(request.headers(), None);
    if is_page && credentials.session.is_some() {
        let user = match state.context.accounts.authenticate(&credentials).await {
            Ok(identity) => identity.map(|identity| identity.user),
            Err(e) => return e.into_response(),
        };
        request.extensions_mut().insert(PageVisitor(user));
    }
    next.run(request).await
}
