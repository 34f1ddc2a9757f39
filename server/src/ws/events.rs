//! `/ws/events/{stream}`: camera pages send classification events; each is validated, stored,
//! and acknowledged by sequence number (a re-sent event is acknowledged as a duplicate).

use app::protocol::UserId;
use std::sync::Arc;

use app::backend::AppError;
use app::backend::events::{Ingest, Ingested};
use app::protocol::{ApiError, EventReply, EventRequest, StreamName};
use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;

use super::{Endpoint, Outbox, TokenQuery, WsLimits, admit, serve};
use crate::WsEndpoint;
use crate::startup::AppState;

/// Opens an event stream for the caller.
pub async fn handler(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let stream = StreamName::parse(&stream)?;
    let label_count = state
        .context
        .labels
        .as_ref()
        .map(|labels| labels.len())
        .ok_or_else(|| AppError::Unavailable("the image labels are missing; run the set-up".into()))?;
    let admission = admit(&state, &headers, query.token()).await?;
    let endpoint = Events {
        owner_id: admission.identity.user.id,
        stream: Arc::new(stream),
        label_count,
        ingest: state.context.ingest.clone(),
    };
    let limits = WsLimits::for_endpoint(&state.websocket, WsEndpoint::Events);
    Ok(serve(upgrade, admission, limits, state.context.clone(), endpoint))
}

struct Events {
    owner_id: UserId,
    stream: Arc<StreamName>,
    label_count: usize,
    ingest: Ingest,
}

impl Endpoint for Events {
    type Request = EventRequest;
    type Reply = EventReply;

    fn error(error: ApiError) -> EventReply {
        EventReply::Error { code: error.code, message: error.message, seq: None }
    }

    async fn opened(&mut self, outbox: &Outbox<EventReply>) {
        outbox.send(&EventReply::ConnectionEstablished { stream: self.stream.as_str().to_owned() }).await;
    }

    async fn received(&mut self, request: EventRequest, outbox: &Outbox<EventReply>) {
        let event = match request {
            EventRequest::Ping => {
                outbox.send(&EventReply::Pong).await;
                return;
            }
            EventRequest::Classification(event) => event,
        };
        let (producer, seq) = (event.producer.clone(), event.seq);
        let refuse = move |error: ApiError| EventReply::Error {
            code: error.code,
            message: error.message,
            seq: Some(seq),
        };
        let event = match event.validate(self.label_count) {
            Ok(event) => event,
            Err(error) => {
                outbox.send(&refuse(error)).await;
                return;
            }
        };
        // Wait for the commit off the read loop, so a producer can keep several events in flight.
        let (ingest, stream, owner_id, outbox) =
            (self.ingest.clone(), Arc::clone(&self.stream), self.owner_id, outbox.clone());
        tokio::spawn(async move {
            let reply = match ingest.submit(owner_id, &stream, event).await {
                Ok(outcome) => EventReply::Ack { producer, seq, duplicate: outcome == Ingested::Duplicate },
                Err(error) => refuse(error.to_api_error()),
            };
            outbox.send(&reply).await;
        });
    }
}
