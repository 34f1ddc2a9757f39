//! Authentication over HTTP: an extractor that resolves a REST request's session cookie or
//! `Authorization: Token …` header to a user, and the middleware that does the same for pages.

use app::api::PUBLIC_SERVER_FNS;
use app::backend::AppError;
use app::backend::accounts::{Identity, PageVisitor};
use app::backend::http::credentials;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::startup::AppState;
use crate::telemetry::RequestUser;

/// The signed-in caller of a REST handler; requests without valid credentials get 401.
pub struct Authenticated(pub Identity);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(identity) = parts.extensions.get::<Identity>() {
            return Ok(Self(identity.clone()));
        }
        let credentials = credentials(&parts.headers, None);
        match state.context.accounts.authenticate(&credentials).await? {
            Some(identity) => {
                RequestUser::record(&parts.extensions, identity.user.id);
                Ok(Self(identity))
            }
            None => Err(not_signed_in()),
        }
    }
}

fn not_signed_in() -> AppError {
    AppError::Unauthorized("sign in, or send `Authorization: Token <token>`".into())
}

/// Authenticates every API call (REST and server functions) before anything reads its input,
/// so a signed-out call gets 401 whatever its arguments; the server functions that signed-out
/// visitors use ([`PUBLIC_SERVER_FNS`]) pass. The caller's [`Identity`] is left in the request
/// for the handler, which does not look it up again.
pub async fn require_sign_in(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let Some(name) = path.strip_prefix("/api/").or_else(|| path.strip_prefix("/ai-chat/api/").map(|_| ""))
    else {
        return next.run(request).await;
    };
    if PUBLIC_SERVER_FNS.contains(&name) {
        return next.run(request).await;
    }
    match state.context.accounts.authenticate(&credentials(request.headers(), None)).await {
        Ok(Some(identity)) => {
            RequestUser::record(request.extensions(), identity.user.id);
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        Ok(None) => not_signed_in().into_response(),
        Err(e) => e.into_response(),
    }
}

/// Paths that are not pages: they authenticate for themselves, or need no user at all.
const NOT_PAGES: [&str; 7] = ["/api/", "/ai-chat/api/", "/ws/", "/pkg/", "/ort/", "/litert/", "/models/"];

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
        if let Some(user) = &user {
            RequestUser::record(request.extensions(), user.id);
        }
        request.extensions_mut().insert(PageVisitor(user));
    }
    next.run(request).await
}
