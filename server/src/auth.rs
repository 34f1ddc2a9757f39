//! Authentication for REST handlers: an extractor that resolves the request's session cookie or
//! `Authorization: Token …` header to a user.

use app::backend::AppError;
use app::backend::accounts::Identity;
use app::backend::http::credentials;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

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
