use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::backend::AppContext;
use app::protocol::{ApiError, ErrorCode, parse_frame};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

use super::{Admission, WsLimits};

/// How long a closing connection waits for the client's close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// How long a message may wait to be written before the client counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a websocket endpoint does with its typed messages.
pub trait Endpoint: Send + 'static {
    /// Messages from the client.
    type Request: DeserializeOwned + Send;
    /// Messages to the client.
    type Reply: Serialize + Send + Sync + 'static;

    /// The endpoint's `error` message.
    fn error(error: ApiError) -> Self::Reply;

    /// Called once the connection is open.
    fn opened(&mut self, outbox: &Outbox<Self::Reply>) -> impl Future<Output = ()> + Send;

    /// Called for every well-formed message within the limits.
    fn received(
        &mut self,
        request: Self::Request,
        outbox: &Outbox<Self::Reply>,
    ) -> impl Future<Output = ()> + Send;
}

/// The writing half of a connection, shared by everything that sends on it.
type Sink = Arc<Mutex<SplitSink<WebSocket, Message>>>;

/// Sends typed messages to the client; cheap to clone into tasks. Each message is written to
/// the socket by its sender, in the order senders take the socket (no writer task to hand
/// messages to and wake).
pub struct Outbox<T> {
    sink: Sink,
    kind: PhantomData<fn(T)>,
}

impl<T> Clone for Outbox<T> {
    fn clone(&self) -> Self {
        Self { sink: self.sink.clone(), kind: PhantomData }
    }
}

impl<T: Serialize> Outbox<T> {
    /// Writes `reply`; false once the connection has closed (or the client takes nothing for
    /// [`WRITE_TIMEOUT`]).
    pub async fn send(&self, reply: &T) -> bool {
        match serde_json::to_string(reply) {
            Ok(text) => write(&self.sink, Message::Text(text.into())).await,
            Err(e) => {
                tracing::error!("cannot serialise a websocket reply: {e}");
                false
            }
        }
    }
}

/// Writes one frame; false once the connection has closed or the write timed out.
async fn write(sink: &Sink, frame: Message) -> bool {
    let written = tokio::time::timeout(WRITE_TIMEOUT, async { sink.lock().await.send(frame).await }).await;
    matches!(written, Ok(Ok(())))
}

/// Most bytes a connection reads from its socket at once.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// Upgrades an admitted request and runs `endpoint` on the connection.
pub fn serve<E: Endpoint>(
    upgrade: WebSocketUpgrade,
    admission: Admission,
    limits: WsLimits,
    context: AppContext,
    endpoint: E,
) -> Response {
    // Frames a little over the limit still arrive, so they can be refused with a proper 1009;
    // far larger ones are cut off by the protocol layer.
    let hard_limit = limits.max_message_bytes.saturating_mul(4).max(1024);
    upgrade
        .max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        // An idle connection holds its read buffer; the default (128 KiB) is most of what an open
        // socket costs. Larger messages are read in several reads.
        .read_buffer_size(limits.max_message_bytes.clamp(1024, READ_BUFFER_BYTES))
        // Each reply is written at once (the connection flushes after every one anyway), so the
        // write buffer never has to hold more than the message being written.
        .write_buffer_size(0)
        .on_upgrade(move |socket| run(socket, admission, limits, context, endpoint))
}

async fn run<E: Endpoint>(
    socket: WebSocket,
    admission: Admission,
    limits: WsLimits,
    context: AppContext,
    mut endpoint: E,
) {
    let (sink, mut stream) = socket.split();
    let sink: Sink = Arc::new(Mutex::new(sink));
    let outbox = Outbox::<E::Reply> { sink: sink.clone(), kind: PhantomData };
    let close = |code, reason: &'static str| {
        Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))
    };

    Box::pin(endpoint.opened(&outbox)).await;
    let mut budget = TokenBucket::new(limits.messages_per_second, limits.burst);
    let mut refused_in_a_row = 0u32;
    let mut last_heard = Instant::now();
    let mut unreadable = false;
    let mut heartbeat = tokio::time::interval(limits.idle_timeout / 3);
    let mut recheck = tokio::time::interval(limits.credential_check);
    recheck.reset();

    let farewell = loop {
        let message = tokio::select! {
            message = stream.next() => message,
            _ = heartbeat.tick() => {
                if last_heard.elapsed() >= limits.idle_timeout {
                    break Some(close(close_code::AWAY, "idle timeout"));
                }
                if !write(&sink, Message::Ping(Default::default())).await {
                    break None;
                }
                continue;
            }
            _ = recheck.tick() => {
                // Boxed, as `received` below: the loop's future stays small, and so does an idle
                // connection.
                match Box::pin(context.accounts.authenticate(&admission.credentials)).await {
                    Ok(Some(_)) => continue,
                    Ok(None) => break Some(close(close_code::POLICY, "signed out")),
                    Err(_) => continue,
                }
            }
        };
        let message = match message {
            Some(Ok(message)) => message,
            // Far over the limit, the protocol layer stops reading: still say why.
            Some(Err(e)) if is_too_big(&e) => {
                unreadable = true;
                break Some(close(close_code::SIZE, "message too big"));
            }
            Some(Err(_)) | None => break None,
        };
        last_heard = Instant::now();
        let (size, text) = match message {
            Message::Text(text) => (text.len(), Some(text)),
            Message::Binary(bytes) => (bytes.len(), None),
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => break None,
        };
        if size > limits.max_message_bytes {
            break Some(close(close_code::SIZE, "message too big"));
        }
        if !budget.take() {
            refused_in_a_row += 1;
            if refused_in_a_row > limits.burst.max(1) {
                break Some(close(close_code::POLICY, "rate limit exceeded"));
            }
            let error = ApiError::new(ErrorCode::RateLimited, "too many messages; slow down");
            outbox.send(&E::error(error)).await;
            continue;
        }
        refused_in_a_row = 0;
        let Some(text) = text else {
            let error = ApiError::bad_request("binary messages are not accepted; send JSON text messages");
            outbox.send(&E::error(error)).await;
            continue;
        };
        match parse_frame::<E::Request>(text.as_str()) {
            Ok(request) => Box::pin(endpoint.received(request, &outbox)).await,
            Err(error) => {
                outbox.send(&E::error(error)).await;
            }
        }
    };
    let closing = farewell.is_some();
    let user = admission.identity.user.id.0;
    if let Some(farewell) = farewell {
        if let Message::Close(Some(frame)) = &farewell {
            tracing::info!(user, code = frame.code, reason = %frame.reason, "websocket closed by the server");
        }
        write(&sink, farewell).await;
    }
    drop((outbox, endpoint));
    // Whatever still holds an outbox (a task finishing) finds it closed.
    let _ = tokio::time::timeout(CLOSE_GRACE, async { sink.lock().await.close().await }).await;
    if unreadable {
        // The rest of the oversized message can no longer be read; closing the socket on it at
        // once would reset the connection before the client reads the close frame.
        tokio::time::sleep(CLOSE_GRACE).await;
    } else if closing {
        // Complete the closing handshake: read (and drop) what the client still sends until its
        // own close frame, so unread data does not turn the close into a connection reset.
        let drain = async {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
    }
    tracing::debug!(user, "websocket closed");
}

/// Whether a read failed because a frame or message passed the protocol layer's hard limit.
fn is_too_big(error: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        if matches!(error.downcast_ref::<tungstenite::Error>(), Some(tungstenite::Error::Capacity(_))) {
            return true;
        }
        cause = error.source();
    }
    false
}

/// A classic token bucket: `rate` tokens per second, holding at most `rate + burst`.
struct TokenBucket {
    tokens: f64,
    rate: f64,
    capacity: f64,
    updated: Instant,
}

impl TokenBucket {
    fn new(rate: u32, burst: u32) -> Self {
        let capacity = f64::from(rate) + f64::from(burst);
        Self { tokens: capacity, rate: f64::from(rate), capacity, updated: Instant::now() }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let earned = now.duration_since(self.updated).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + earned).min(self.capacity);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TokenBucket;

    #[test]
    fn a_bucket_allows_its_burst_then_refuses() {
        let mut bucket = TokenBucket::new(2, 3);
        assert_eq!((0..5).filter(|_| bucket.take()).count(), 5);
        assert!(!bucket.take());
    }
}
