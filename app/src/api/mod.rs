//! Server functions: typed calls from the pages to the server, also reachable as
//! `POST /api/<name>` with form or JSON bodies. Each is thin: it authenticates the caller, parses
//! the input and calls the back end, which checks ownership.

// `#[server]` turns each function's arguments into the fields of a generated struct, which the
// function's own documentation describes; missing_docs would ask for them a second time.
#[allow(missing_docs)]
mod account;
#[allow(missing_docs)]
mod admin;
#[allow(missing_docs)]
mod chat;
#[allow(missing_docs)]
mod events;
#[allow(missing_docs)]
mod rules;

pub use account::*;
pub use admin::*;
pub use chat::*;
pub use events::*;
pub use rules::*;

use leptos::prelude::*;

use crate::protocol::{ApiError, Readiness};

/// The server functions a signed-out visitor may call; every other one needs a signed-in user
/// (or guest), which the server checks before it reads the call's arguments.
pub const PUBLIC_SERVER_FNS: [&str; 6] =
    ["readiness", "session", "sign_up", "log_in", "continue_as_guest", "log_out"];

/// Reports whether the database and every model asset are available.
#[server(endpoint = "readiness")]
pub async fn check_readiness() -> Result<Readiness, ApiError> {
    Ok(server::context()?.readiness().await)
}

/// What every server function needs from its request.
#[cfg(feature = "ssr")]
mod server {
    use std::net::SocketAddr;

    use axum::extract::ConnectInfo;
    use axum::http::HeaderMap;
    use axum::http::request::Parts;
    use leptos::prelude::use_context;

    use crate::backend::accounts::Identity;
    use crate::backend::{AppContext, AppError, http};
    use crate::protocol::{ApiError, ErrorCode};

    /// The server's services.
    pub fn context() -> Result<AppContext, ApiError> {
        use_context::<AppContext>()
            .ok_or_else(|| ApiError::new(ErrorCode::Internal, "the server has no application context"))
    }

    /// The request's headers.
    pub fn headers() -> HeaderMap {
        use_context::<Parts>().map(|parts| parts.headers).unwrap_or_default()
    }

    /// The caller's network address (behind the trusted proxies, the client's), for throttling.
    pub fn client_address(context: &AppContext) -> String {
        let Some(parts) = use_context::<Parts>() else { return String::new() };
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return String::new();
        };
        context.security.trusted_proxies.client(peer.ip(), &parts.headers).to_string()
    }

    /// Who is calling, if anyone signed in: found once per request by the server's
    /// authentication layer, or looked up here for the public functions.
    pub async fn identity(context: &AppContext) -> Result<Option<Identity>, ApiError> {
        if let Some(identity) =
            use_context::<Parts>().and_then(|parts| parts.extensions.get::<Identity>().cloned())
        {
            return Ok(Some(identity));
        }
        Ok(context.accounts.authenticate(&http::credentials(&headers(), None)).await?)
    }

    /// Who is calling; an `unauthorized` error when nobody signed in.
    pub async fn require_identity(context: &AppContext) -> Result<Identity, ApiError> {
        identity(context).await?.ok_or_else(|| AppError::Unauthorized("sign in first".into()).into())
    }
}
