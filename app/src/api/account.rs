//! Signing up, in and out; the signed-in user's password, browser sessions and API tokens.

use crate::protocol::{BrowserSessionId, TokenId};
use leptos::prelude::*;

use crate::protocol::{ApiError, ApiTokenInfo, NewApiToken, SessionInfo, SessionState};
#[cfg(feature = "ssr")]
use {
    super::server::{client_address, context, headers, identity, require_identity},
    crate::backend::{AppContext, AppError, http},
    crate::protocol::{Password, TokenName, UserInfo, Username},
    axum::http::header::{SET_COOKIE, USER_AGENT},
    leptos_axum::ResponseOptions,
};

/// The signed-in user, if any, and whether guest mode is on.
#[server(endpoint = "session")]
pub async fn current_session() -> Result<SessionState, ApiError> {
    let context = context()?;
    let user = identity(&context).await?.map(|identity| identity.user);
    Ok(SessionState { user, guest_mode: context.security.guest_mode })
}

/// Creates an account (the first one administers the instance) and signs it in.
#[server(endpoint = "sign_up")]
pub async fn sign_up(username: String, password: String, confirm: String) -> Result<(), ApiError> {
    let context = context()?;
    let username = Username::parse(&username)?;
    let password = Password::parse(&password)?;
    if confirm != password.expose() {
        return Err(ApiError::bad_request("the two passwords differ"));
    }
    let user = context.accounts.sign_up(&username, &password).await?;
    start_session(&context, &user).await
}

/// Signs in with a username and password.
#[server(endpoint = "log_in")]
pub async fn log_in(username: String, password: String) -> Result<(), ApiError> {
    let context = context()?;
    let key = format!("{}|{}", client_address(&context), username.trim().to_lowercase());
    context.login_throttle.check(&key).await?;
    let user = match context.accounts.log_in(&username, &password).await {
        Ok(user) => user,
        Err(e) => {
            context.login_throttle.fail(&key).await?;
            return Err(e.into());
        }
    };
    context.login_throttle.clear(&key).await?;
    start_session(&context, &user).await
}

/// Signs a visitor in as a new guest (guest mode only): a guest owns its own records.
#[server(endpoint = "continue_as_guest")]
pub async fn continue_as_guest() -> Result<(), ApiError> {
    let context = context()?;
    if !context.security.guest_mode {
        return Err(AppError::NotFound.into());
    }
    let user = context.accounts.create_guest().await?;
    start_session(&context, &user).await
}

/// Signs out this browser.
#[server(endpoint = "log_out")]
pub async fn log_out() -> Result<(), ApiError> {
    let context = context()?;
    let headers = headers();
    if let Some(secret) = http::credentials(&headers, None).session {
        context.accounts.end_session(&secret).await?;
    }
    expect_context::<ResponseOptions>()
        .append_header(SET_COOKIE, http::cleared_session_cookie(http::is_https(&headers)));
    leptos_axum::redirect("/login");
    Ok(())
}

/// Changes the password (after checking the current one) and signs out every other session.
#[server(endpoint = "change_password")]
pub async fn change_password(current: String, new: String, confirm: String) -> Result<(), ApiError> {
    let context = context()?;
    let identity = require_identity(&context).await?;
    if identity.user.is_guest {
        return Err(ApiError::bad_request("a guest account has no password"));
    }
    let new = Password::parse(&new)?;
    if confirm != new.expose() {
        return Err(ApiError::bad_request("the two new passwords differ"));
    }
    Ok(context.accounts.change_password(&identity, &current, &new).await?)
}

/// The signed-in user's browser sessions.
#[server(endpoint = "sessions")]
pub async fn list_sessions() -> Result<Vec<SessionInfo>, ApiError> {
    let context = context()?;
    let identity = require_identity(&context).await?;
    Ok(context.accounts.list_sessions(&identity).await?)
}

/// Signs out one of the user's browser sessions.
#[server(endpoint = "revoke_session")]
pub async fn revoke_session(id: BrowserSessionId) -> Result<(), ApiError> {
    let context = context()?;
    let identity = require_identity(&context).await?;
    Ok(context.accounts.revoke_session(&identity.user, id).await?)
}

/// The user's API tokens (without their secrets).
#[server(endpoint = "tokens")]
pub async fn list_tokens() -> Result<Vec<ApiTokenInfo>, ApiError> {
    let context = context()?;
    let identity = require_identity(&context).await?;
    Ok(context.accounts.list_tokens(&identity.user).await?)
}

/// Creates an API token; the answer is the only time its secret is shown.
#[server(endpoint = "create_token")]
pub async fn create_token(name: String) -> Result<NewApiToken, ApiError> {
    let context = context()?;
    let identity = require_identity(&context).await?;
    let name = TokenName::parse(&name)?;
    Ok(context.accounts.create_token(&identity.user, &name).await?)
}

/// Revokes one of the user's API tokens.
#[server(endpoint = "revoke_token")]
pub async fn revoke_token(id: TokenId) -> Result<(), ApiError> {
    let context = context()?;
    let identity = require_identity(&context).await?;
    Ok(context.accounts.revoke_token(&identity.user, id).await?)
}

/// Starts a browser session for `user` and sets its cookie on the response.
#[cfg(feature = "ssr")]
async fn start_session(context: &AppContext, user: &UserInfo) -> Result<(), ApiError> {
    let headers = headers();
    let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let secret = context.accounts.start_session(user, user_agent).await?;
    let cookie = http::session_cookie(&secret, context.security.session_lifetime, http::is_https(&headers));
    expect_context::<ResponseOptions>().append_header(SET_COOKIE, cookie);
    Ok(())
}
