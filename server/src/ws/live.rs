//! `/ws/live`: each signed-in page's live connection to the server; and [`HubFeed`], the
//! endpoint behind it and behind every other feed of the user's hub updates.

use app::backend::{AppError, TaskGuard};
use app::protocol::{ApiError, LiveRequest, LiveUpdate};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;
use tokio::sync::broadcast;

use super::{Endpoint, Outbox, TokenQuery, WsLimits, admit, forward, serve};
use crate::WsEndpoint;
use crate::startup::AppState;

/// Opens a live connection for the caller.
pub async fn handler(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let admission = admit(&state, &headers, query.token()).await?;
    let user = &admission.identity.user;
    let hello = LiveUpdate::ConnectionEstablished {
        username: user.username.clone(),
        degraded: state.context.replicas_degraded(),
    };
    let feed = HubFeed::new(hello, state.context.hub.subscribe(user.id), Some);
    let limits = WsLimits::for_endpoint(&state.websocket, WsEndpoint::Live);
    Ok(serve(upgrade, admission, limits, state.context.clone(), feed))
}

/// The messages of a hub feed that every feed has.
pub trait FeedReply: Serialize + Send + Sync + 'static {
    /// The `error` message.
    fn error(error: ApiError) -> Self;
    /// The answer to `ping`.
    fn pong() -> Self;
}

impl FeedReply for LiveUpdate {
    fn error(error: ApiError) -> Self {
        Self::Error { code: error.code, message: error.message }
    }

    fn pong() -> Self {
        Self::Pong
    }
}

/// A connection that greets, then forwards the user's hub updates as `select` maps them (skipping
/// those it maps to `None`), and answers `ping`.
pub struct HubFeed<R> {
    hello: Option<R>,
    /// The user's hub channel, until `opened` hands it to the forwarder.
    updates: Option<broadcast::Receiver<LiveUpdate>>,
    select: fn(LiveUpdate) -> Option<R>,
    /// Forwards hub updates to this connection; stopped when the connection ends.
    forwarder: Option<TaskGuard>,
}

impl<R: FeedReply> HubFeed<R> {
    /// A feed that sends `hello`, then what `select` keeps of `updates`.
    pub fn new(
        hello: R,
        updates: broadcast::Receiver<LiveUpdate>,
        select: fn(LiveUpdate) -> Option<R>,
    ) -> Self {
        Self { hello: Some(hello), updates: Some(updates), select, forwarder: None }
    }
}

impl<R: FeedReply> Endpoint for HubFeed<R> {
    type Request = LiveRequest;
    type Reply = R;

    fn error(error: ApiError) -> R {
        R::error(error)
    }

    async fn opened(&mut self, outbox: &Outbox<R>) {
        if let Some(hello) = self.hello.take() {
            outbox.send(&hello).await;
        }
        if let Some(updates) = self.updates.take() {
            self.forwarder = Some(forward(updates, outbox, self.select));
        }
    }

    async fn received(&mut self, request: LiveRequest, outbox: &Outbox<R>) {
        match request {
            LiveRequest::Ping => outbox.send(&R::pong()).await,
        };
    }
}
