//! `/ws/live`: each signed-in page's live connection to the server.

use app::backend::AppError;
use app::protocol::{ApiError, LiveRequest, LiveUpdate};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use tokio::sync::broadcast;

use app::backend::TaskGuard;

use super::{Endpoint, Outbox, TokenQuery, WsLimits, admit, forward, serve};
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
    let live = Live {
        username: user.username.clone(),
        updates: Some(state.context.hub.subscribe(user.id)),
        forwarder: None,
    };
    let limits = WsLimits::for_endpoint(&state.websocket, "live");
    Ok(serve(upgrade, admission, limits, state.context.clone(), live))
}

struct Live {
    username: String,
    /// The user's hub channel, until `opened` hands it to the forwarder.
    updates: Option<broadcast::Receiver<LiveUpdate>>,
    /// Forwards hub updates to this connection; stopped when the connection ends.
    forwarder: Option<TaskGuard>,
}

impl Endpoint for Live {
    type Request = LiveRequest;
    type Reply = LiveUpdate;

    fn error(error: ApiError) -> LiveUpdate {
        LiveUpdate::Error { code: error.code, message: error.message }
    }

    async fn opened(&mut self, outbox: &Outbox<LiveUpdate>) {
        outbox.send(&LiveUpdate::ConnectionEstablished { username: self.username.clone() }).await;
        if let Some(updates) = self.updates.take() {
            self.forwarder = Some(forward(updates, outbox, Some));
        }
    }

    async fn received(&mut self, request: LiveRequest, outbox: &Outbox<LiveUpdate>) {
        match request {
            LiveRequest::Ping => outbox.send(&LiveUpdate::Pong).await,
        };
    }
}
