//! The camera's websocket to `/ws/events/{stream}`: sends events as they come, keeps each until
//! the server acknowledges its sequence number, reconnects with back-off and sends what is still
//! unacknowledged again, so a network blip loses nothing (the server ignores duplicates).

use std::time::Duration;

use futures::channel::mpsc;
use futures::{FutureExt, SinkExt, StreamExt};
use gloo_net::websocket::Message;
use gloo_net::websocket::futures::WebSocket;
use leptos::prelude::*;

use super::video::Delivery;
use crate::protocol::{ClassificationEvent, EventReply, EventRequest, Unacknowledged, parse_frame};
use crate::ui::common::websocket_url;

/// Most events kept while the server has not acknowledged them.
const MAX_UNACKNOWLEDGED: usize = 256;
/// Re-sent events beyond this many are paced, to stay under the server's message rate limit.
const RESEND_BURST: usize = 20;
const RESEND_PACE: Duration = Duration::from_millis(60);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Hands events to the connection task; dropping it lets the task finish once everything sent
/// is acknowledged.
pub struct EventSender {
    events: mpsc::UnboundedSender<ClassificationEvent>,
}

impl EventSender {
    /// Connects to `path` on this site; `delivery` follows the connection.
    pub fn start(path: &str, delivery: RwSignal<Delivery>) -> Self {
        let (events, queue) = mpsc::unbounded();
        leptos::task::spawn_local(deliver(websocket_url(path), queue, delivery));
        Self { events }
    }

    /// Sends `event` (now, or after a reconnect).
    pub fn send(&self, event: ClassificationEvent) {
        let _ = self.events.unbounded_send(event);
    }
}

fn encode(event: &ClassificationEvent) -> String {
    serde_json::to_string(&EventRequest::Classification(event.clone())).unwrap_or_default()
}

async fn deliver(
    url: String,
    queue: mpsc::UnboundedReceiver<ClassificationEvent>,
    delivery: RwSignal<Delivery>,
) {
    let mut queue = queue.fuse();
    let mut waiting = Unacknowledged::new(MAX_UNACKNOWLEDGED);
    let mut producing = true;
    let mut backoff = FIRST_BACKOFF;
    let report = |waiting: &Unacknowledged<ClassificationEvent>, online: bool| {
        delivery.try_update(|d| {
            d.online = online;
            d.waiting = waiting.len();
            d.given_up = waiting.given_up();
        });
    };
    loop {
        // Events produced while offline join the buffer.
        loop {
            match queue.next().now_or_never() {
                Some(Some(event)) => {
                    delivery.try_update(|d| d.sent = event.seq);
                    waiting.push(event.seq, event);
                }
                Some(None) => producing = false,
                None => break,
            }
            if !producing {
                break;
            }
        }
        report(&waiting, false);
        if !producing && waiting.is_empty() {
            return;
        }
        if let Ok(socket) = WebSocket::open(&url) {
            let (mut outgoing, incoming) = socket.split();
            let mut incoming = incoming.fuse();
            let mut online = false;
            loop {
                futures::select! {
                    message = incoming.next() => {
                        let Some(Ok(message)) = message else { break };
                        let Message::Text(text) = message else { continue };
                        match parse_frame::<EventReply>(&text) {
                            Ok(EventReply::ConnectionEstablished { .. }) => {
                                online = true;
                                backoff = FIRST_BACKOFF;
                                report(&waiting, true);
                                let resend: Vec<String> = waiting.waiting().map(encode).collect();
                                for (n, text) in resend.into_iter().enumerate() {
                                    if n >= RESEND_BURST {
                                        gloo_timers::future::sleep(RESEND_PACE).await;
                                    }
                                    if outgoing.send(Message::Text(text)).await.is_err() {
                                        break;
                                    }
                                }
                            }
                            Ok(EventReply::Ack { seq, .. }) => waiting.settle(seq),
                            Ok(EventReply::Error { seq, message, .. }) => {
                                // A refused event will be refused again: do not keep it.
                                if let Some(seq) = seq {
                                    waiting.settle(seq);
                                }
                                delivery.try_update(|d| d.refused = Some(message));
                            }
                            Ok(EventReply::Pong) | Err(_) => {}
                        }
                    }
                    event = queue.next() => match event {
                        Some(event) => {
                            let (seq, text) = (event.seq, encode(&event));
                            waiting.push(seq, event);
                            delivery.try_update(|d| d.sent = seq);
                            if online && outgoing.send(Message::Text(text)).await.is_err() {
                                break;
                            }
                        }
                        None => producing = false,
                    },
                }
                report(&waiting, online);
                if !producing && waiting.is_empty() {
                    let _ = outgoing.close().await;
                    return;
                }
            }
        }
        report(&waiting, false);
        if !producing {
            // Nobody is watching any more: one attempt to flush what is left is enough.
            return;
        }
        gloo_timers::future::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
