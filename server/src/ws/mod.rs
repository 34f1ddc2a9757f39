//! Hardened websockets. Every endpoint goes through the same gate and the same connection loop:
//!
//! - before the upgrade: the `Origin` must be allowed (no cross-site websocket hijacking), the
//!   caller must be authenticated (cookie, `Authorization: Token …` or `?token=`), and must be
//!   under the per-user connection cap;
//! - after it: messages over the size limit close the connection (1009), a per-connection rate
//!   limit answers `error {code: "rate_limited"}` and closes persistent floods (1008), idle
//!   connections are pinged and closed, and credentials are re-checked so a revoked session or
//!   token loses its sockets (1008).

pub mod chat;
mod connection;
pub mod events;
pub mod live;
mod slots;

pub use connection::{Endpoint, Outbox, serve};
pub use slots::ConnectionSlots;

use std::time::Duration;

use app::backend::accounts::{Credentials, Identity};
use app::backend::http::{Origin, credentials, origin};
use app::backend::{AppError, TaskGuard};
use axum::http::HeaderMap;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::startup::AppState;
use crate::{WebsocketConfig, WsEndpoint};

/// The optional `?token=` of a websocket handshake, for clients that cannot set headers.
#[derive(serde::Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

impl TokenQuery {
    /// The token, if one was given.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}

/// The limits one endpoint's connections are held to.
#[derive(Clone, Debug)]
pub struct WsLimits {
    /// Largest message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Sustained messages per second.
    pub messages_per_second: u32,
    /// Extra messages allowed in a burst.
    pub burst: u32,
    /// Silence after which the connection is closed.
    pub idle_timeout: Duration,
    /// How often the connection's credentials are checked again.
    pub credential_check: Duration,
}

impl WsLimits {
    /// The configured limits for the endpoint called `endpoint`.
    pub fn for_endpoint(config: &WebsocketConfig, endpoint: WsEndpoint) -> Self {
        Self {
            max_message_bytes: config
                .endpoint_max_message_bytes
                .get(&endpoint)
                .copied()
                .unwrap_or(config.max_message_bytes),
            messages_per_second: config.messages_per_second,
            burst: config.burst,
            idle_timeout: Duration::from_secs(config.idle_timeout_secs.max(1)),
            credential_check: Duration::from_secs(config.credential_check_secs.max(1)),
        }
    }
}

/// A caller that passed the gate: who they are, how to re-check them, and their connection slot.
pub struct Admission {
    /// The authenticated user.
    pub identity: Identity,
    credentials: Credentials,
    _slot: slots::Slot,
}

/// The pre-upgrade gate: origin, authentication, connection cap.
pub async fn admit(
    state: &AppState,
    headers: &HeaderMap,
    query_token: Option<&str>,
) -> Result<Admission, AppError> {
    let credentials = credentials(headers, query_token);
    let identity = state
        .context
        .accounts
        .authenticate(&credentials)
        .await?
        .ok_or_else(|| AppError::Unauthorized("sign in, or pass an API token".into()))?;
    match origin(headers, &state.context.security.allowed_origins) {
        Origin::Allowed => {}
        Origin::Absent if identity.by_token => {}
        Origin::Absent => return Err(AppError::Forbidden("a browser websocket needs an Origin".into())),
        Origin::Foreign => return Err(AppError::Forbidden("websockets from other sites are refused".into())),
    }
    let slot = state
        .ws_slots
        .acquire(identity.user.id)
        .await
        .ok_or_else(|| AppError::RateLimited { retry_after: Duration::from_secs(1) })?;
    Ok(Admission { identity, credentials, _slot: slot })
}

/// Forwards what `updates` receives to the client, as `select` maps it (`None` skips it), until
/// either side closes. A lagging connection skips what it missed rather than stalling others.
pub fn forward<T, R>(
    mut updates: broadcast::Receiver<T>,
    outbox: &Outbox<R>,
    select: impl Fn(T) -> Option<R> + Send + 'static,
) -> TaskGuard
where
    T: Clone + Send + 'static,
    R: Serialize + Send + Sync + 'static,
{
    let outbox = outbox.clone();
    TaskGuard::spawn(async move {
        loop {
            match updates.recv().await {
                Ok(update) => {
                    if let Some(reply) = select(update)
                        && !outbox.send(&reply).await
                    {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}
