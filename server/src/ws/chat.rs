//! The chat's websockets: `/ws/ai-chat/session/{id}/` carries one session's messages and its
//! replies as seq-numbered deltas; `/ws/ai-chat/sessions/` pushes changes to the session list.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use app::backend::AppError;
use app::backend::chat::{ChatService, Chunk, Followed, Follower, NewMessage, SessionEvent};
use app::protocol::{
    ApiError, ChatMessage, ChatReply, ChatRequest, ChatSessionId, ErrorCode, LiveUpdate, MessageStatus,
    SessionListUpdate, UserId,
};
use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use tokio::sync::broadcast;

use app::backend::TaskGuard;

use super::live::{FeedReply, HubFeed};
use super::{Endpoint, Outbox, TokenQuery, WsLimits, admit, serve};
use crate::WsEndpoint;
use crate::startup::AppState;

/// Numbers connections, so typing is not echoed to the connection it came from; from a random
/// start, so that the numbers of the replicas' connections do not meet.
static CONNECTIONS: LazyLock<AtomicU64> = LazyLock::new(|| {
    AtomicU64::new(getrandom::u64().unwrap_or_else(|_| u64::from(std::process::id()) << 32))
});

/// Opens a connection to one of the caller's sessions.
pub async fn session_handler(
    State(state): State<AppState>,
    Path(session_id): Path<ChatSessionId>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let admission = admit(&state, &headers, query.token()).await?;
    let owner_id = admission.identity.user.id;
    let chat = state.context.chat.clone();
    let events = chat.subscribe(owner_id, session_id).await?;
    let endpoint = SessionConnection {
        id: CONNECTIONS.fetch_add(1, Ordering::Relaxed),
        owner_id,
        session_id,
        chat,
        events: Some(events),
        forwarder: None,
        follower: Arc::default(),
    };
    let limits = WsLimits::for_endpoint(&state.websocket, WsEndpoint::Chat);
    Ok(serve(upgrade, admission, limits, state.context.clone(), endpoint))
}

struct SessionConnection {
    id: u64,
    owner_id: UserId,
    session_id: ChatSessionId,
    chat: ChatService,
    /// The session's events, until `opened` hands them to the forwarder.
    events: Option<broadcast::Receiver<SessionEvent>>,
    forwarder: Option<TaskGuard>,
    /// Sends the reply this connection follows; replaced when another is followed.
    follower: Arc<Mutex<Option<TaskGuard>>>,
}

/// Sends a followed reply to the client: its chunks, then the stored reply (after an `error`
/// when it failed).
async fn relay(mut follower: Follower, outbox: Outbox<ChatReply>) {
    while let Some(followed) = follower.next().await {
        let delivered = match followed {
            Followed::Chunk(seq, Chunk::Text(content)) => {
                let message_id = follower.message_id();
                outbox.send(&ChatReply::AiMessageChunk { message_id, seq, content }).await
            }
            Followed::Chunk(seq, Chunk::Part(part)) => {
                outbox.send(&ChatReply::part(follower.message_id(), seq, *part)).await
            }
            Followed::Finished(message) => {
                send_finished(&outbox, *message).await;
                return;
            }
        };
        if !delivered {
            return;
        }
    }
}

async fn send_finished(outbox: &Outbox<ChatReply>, message: ChatMessage) {
    if message.status == MessageStatus::Error {
        let reason = message.error.clone().unwrap_or_else(|| "the model failed".into());
        outbox.send(&ChatReply::Error { code: ErrorCode::Upstream, message: reason }).await;
    }
    outbox.send(&ChatReply::AiMessageComplete { message }).await;
}

fn follow(slot: &Mutex<Option<TaskGuard>>, follower: Follower, outbox: &Outbox<ChatReply>) {
    let task = TaskGuard::spawn(relay(follower, outbox.clone()));
    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
}

impl Endpoint for SessionConnection {
    type Request = ChatRequest;
    type Reply = ChatReply;

    fn error(error: ApiError) -> ChatReply {
        ChatReply::Error { code: error.code, message: error.message }
    }

    async fn opened(&mut self, outbox: &Outbox<ChatReply>) {
        let streaming_message_id = self.chat.streaming_reply(self.session_id).await;
        outbox
            .send(&ChatReply::ConnectionEstablished { session_id: self.session_id, streaming_message_id })
            .await;
        let Some(mut events) = self.events.take() else { return };
        let (outbox, follower, me) = (outbox.clone(), self.follower.clone(), self.id);
        let (chat, session_id) = (self.chat.clone(), self.session_id);
        self.forwarder = Some(TaskGuard::spawn(async move {
            loop {
                let reply = match events.recv().await {
                    Ok(SessionEvent::UserMessage { message }) => {
                        ChatReply::UserMessage { message: (*message).clone() }
                    }
                    Ok(SessionEvent::ReplyStarted { reply, message }) => {
                        outbox.send(&ChatReply::AiTyping { message: (*message).clone() }).await;
                        let followed = match reply {
                            Some(reply) => Some(reply.follow(0)),
                            // Written by another replica (boxed: this task lives as long as the
                            // connection, and following through Redis takes a large future).
                            None => Box::pin(chat.follow(session_id, message.id, 0)).await,
                        };
                        if let Some(followed) = followed {
                            follow(&follower, followed, &outbox);
                        }
                        continue;
                    }
                    Ok(SessionEvent::Typing { active, origin }) if origin != me => {
                        ChatReply::Typing { active }
                    }
                    Ok(SessionEvent::Typing { .. }) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if !outbox.send(&reply).await {
                    return;
                }
            }
        }));
    }

    async fn received(&mut self, request: ChatRequest, outbox: &Outbox<ChatReply>) {
        let (owner, session) = (self.owner_id, self.session_id);
        let outcome = match request {
            ChatRequest::SendMessage { message, client_id, response_format, values, files } => {
                let message = NewMessage { text: message, client_id, format: response_format, values, files };
                match self.chat.send(owner, session, message).await {
                    // A fresh exchange reaches every connection through the session's events.
                    Ok(exchange) if exchange.fresh => Ok(()),
                    Ok(exchange) => {
                        outbox.send(&ChatReply::UserMessage { message: exchange.user }).await;
                        if let Some(reply) = exchange.reply {
                            self.resend(reply, outbox).await;
                        }
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            ChatRequest::Stop => match self.chat.stop(owner, session).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(AppError::Conflict("no reply is being written".into())),
                Err(e) => Err(e),
            },
            ChatRequest::Regenerate => self.chat.regenerate(owner, session).await.map(drop),
            ChatRequest::Approve { call_id, approved } => {
                self.chat.approve(owner, session, &call_id, approved).await
            }
            ChatRequest::Typing | ChatRequest::StopTyping => {
                self.chat.typing(session, request == ChatRequest::Typing, self.id);
                Ok(())
            }
            ChatRequest::Ping => {
                outbox.send(&ChatReply::Pong).await;
                Ok(())
            }
            ChatRequest::Resume { message_id, after_seq } => {
                match self.chat.follow(session, message_id, after_seq).await {
                    Some(follower) => {
                        follow(&self.follower, follower, outbox);
                        Ok(())
                    }
                    None => match self.chat.message(owner, session, message_id).await {
                        Ok(message) => {
                            send_finished(outbox, message).await;
                            Ok(())
                        }
                        Err(e) => Err(e),
                    },
                }
            }
        };
        if let Err(error) = outcome {
            outbox.send(&Self::error(error.to_api_error())).await;
        }
    }
}

impl SessionConnection {
    /// Sends a re-sent message's reply again: live from its start, or as stored.
    async fn resend(&self, reply: ChatMessage, outbox: &Outbox<ChatReply>) {
        match self.chat.follow(self.session_id, reply.id, 0).await {
            Some(follower) => {
                outbox.send(&ChatReply::AiTyping { message: reply }).await;
                follow(&self.follower, follower, outbox);
            }
            None => send_finished(outbox, reply).await,
        }
    }
}

/// Opens the caller's session-list connection.
pub async fn sessions_handler(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let admission = admit(&state, &headers, query.token()).await?;
    let updates = state.context.hub.subscribe(admission.identity.user.id);
    let feed = HubFeed::new(SessionListUpdate::ConnectionEstablished, updates, |update| match update {
        LiveUpdate::ChatSessionUpdated { session } => Some(SessionListUpdate::SessionUpdated { session }),
        LiveUpdate::ChatSessionDeleted { session_id } => {
            Some(SessionListUpdate::SessionDeleted { session_id })
        }
        _ => None,
    });
    let limits = WsLimits::for_endpoint(&state.websocket, WsEndpoint::ChatSessions);
    Ok(serve(upgrade, admission, limits, state.context.clone(), feed))
}

impl FeedReply for SessionListUpdate {
    fn error(error: ApiError) -> Self {
        Self::Error { code: error.code, message: error.message }
    }

    fn pong() -> Self {
        Self::Pong
    }
}
