//! Several replicas of the app behind a load balancer: what one replica publishes to its live hub
//! (events, alerts, sightings, session-list changes) reaches the pages connected to the others,
//! and what happens in a chat session (messages, replies starting, typing) reaches the session's
//! connections on the others, through Redis pub/sub (`AIC_REDIS_URL`). Each replica publishes on
//! a channel per hub and delivers what the others published; its own messages come back and are
//! skipped.
//!
//! The same Redis carries the chat replies the replicas share (see [`super::chat::SharedReplies`]),
//! and, on a third channel, what they tell each other about chat sessions (stop a reply; a
//! session was written).
//!
//! Redis going away degrades a replica instead of stopping it: its own pages still get its own
//! updates, what it publishes meanwhile is not seen elsewhere (live updates are not stored here;
//! the events, alerts and messages behind them are in the database), `/readyz` says so, and the
//! relay reconnects on its own.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use super::chat::{SIGNALS_CHANNEL, SessionEvent, SharedReplies, Signalled};
use super::hub::{Hub, Relay};
use crate::protocol::{ChatSessionId, Check, LiveUpdate};

/// The pub/sub channel every replica publishes its live updates on.
const LIVE_CHANNEL: &str = "aic:live";
/// The pub/sub channel every replica publishes what happens in chat sessions on.
const SESSIONS_CHANNEL: &str = "aic:chat:sessions";
/// Chat signals a replica may fall behind by (one per write of a session, one per stop).
const SIGNALS_BACKLOG: usize = 1024;
/// Live updates waiting to be published; beyond them (a Redis that hangs), new ones stay on this
/// replica.
const OUTBOX: usize = 4096;
/// The longest wait between attempts to reach Redis again.
const MOST_BACKOFF: Duration = Duration::from_secs(5);

/// One update as it travels between replicas.
#[derive(Serialize, Deserialize)]
struct Envelope<K, T> {
    /// The replica that published it.
    origin: u64,
    /// Whose subscribers get it.
    key: K,
    update: T,
}

/// Whether the relay reaches Redis.
#[derive(Clone, Debug)]
enum Link {
    Connecting,
    Up,
    Down(String),
}

impl Link {
    /// Why live updates from the other replicas do not arrive; none when they do.
    fn degraded(&self) -> Option<String> {
        match self {
            Self::Up => None,
            Self::Connecting => Some("connecting to Redis".into()),
            Self::Down(why) => Some(format!("Redis is unreachable: {why}")),
        }
    }
}

/// The hub's relay through Redis, with the state of its link for `/readyz`.
#[derive(Debug)]
pub struct RedisRelay {
    client: redis::Client,
    origin: u64,
    link: Arc<RwLock<Link>>,
    /// What the replicas tell each other about chat sessions.
    signals: broadcast::Sender<Signalled>,
}

impl RedisRelay {
    /// Starts relaying the live `hub` and the chat's `sessions` hub through the Redis at `url`
    /// (`redis://host:port/`): publishes what they publish, delivers what the other replicas
    /// publish. Fails on a malformed URL or a hub relayed already; an unreachable Redis is
    /// retried in the background.
    pub fn start(
        url: &str,
        hub: Hub,
        sessions: Hub<SessionEvent, ChatSessionId>,
    ) -> Result<Arc<Self>, String> {
        let client = redis::Client::open(url).map_err(|e| format!("AIC_REDIS_URL: {e}"))?;
        let origin = getrandom::u64().map_err(|e| format!("no randomness for the replica's id: {e}"))?;
        let link = Arc::new(RwLock::new(Link::Connecting));
        let (outbox, queued) = mpsc::channel(OUTBOX);
        let relayed = |channel| Arc::new(ChannelRelay { channel, origin, outbox: outbox.clone() });
        let twice = "a hub is relayed already";
        hub.relay_through(relayed(LIVE_CHANNEL)).map_err(|_| twice)?;
        sessions.relay_through(relayed(SESSIONS_CHANNEL)).map_err(|_| twice)?;
        let signals = broadcast::channel(SIGNALS_BACKLOG).0;
        tokio::spawn(publish(client.clone(), queued));
        let heard = Heard { origin, hub, sessions, signals: signals.clone() };
        tokio::spawn(subscribe(client.clone(), heard, link.clone()));
        Ok(Arc::new(Self { client, origin, link, signals }))
    }

    /// This replica's side of the chat replies shared through the same Redis.
    pub fn shared_replies(&self) -> Arc<SharedReplies> {
        SharedReplies::new(self.client.clone(), self.origin, self.signals.clone())
    }

    /// Why live updates from the other replicas do not reach this replica's pages now; none
    /// when they do.
    pub fn degraded(&self) -> Option<String> {
        self.link.read().map(|link| link.degraded()).unwrap_or_else(|_| Link::Connecting.degraded())
    }

    /// The link's state, as a readiness check.
    pub fn check(&self) -> Check {
        let link = self.link.read().map(|link| link.clone()).unwrap_or(Link::Connecting);
        let (ok, detail) = match link {
            Link::Up => (true, "connected".to_owned()),
            Link::Connecting => (false, "connecting".to_owned()),
            Link::Down(why) => (false, format!("unreachable, live updates stay on this replica: {why}")),
        };
        Check { name: "redis".into(), ok, detail }
    }
}

/// Publishes one hub's updates on its channel.
#[derive(Debug)]
struct ChannelRelay {
    channel: &'static str,
    origin: u64,
    outbox: mpsc::Sender<(&'static str, String)>,
}

impl<T: Serialize, K: Serialize> Relay<T, K> for ChannelRelay {
    fn relay(&self, key: &K, update: &T) {
        let envelope = Envelope { origin: self.origin, key, update };
        if let Ok(json) = serde_json::to_string(&envelope)
            && self.outbox.try_send((self.channel, json)).is_err()
        {
            tracing::warn!("an update stayed on this replica: Redis is not keeping up");
        }
    }
}

/// Moves the link to `state`; when that starts or stops the updates from the other replicas,
/// tells this replica's pages.
fn set(link: &RwLock<Link>, state: Link, hub: &Hub) {
    let Ok(mut link) = link.write() else { return };
    let was_up = matches!(*link, Link::Up);
    let degraded = state.degraded();
    *link = state;
    drop(link);
    if was_up == degraded.is_some() {
        hub.deliver_to_all(LiveUpdate::Replicas { degraded });
    }
}

/// Publishes what the hub hands over, in order. A connection that failed is replaced for the
/// next message (and the message tried once more on it, for a Redis that restarted); what cannot
/// be published while Redis is away is dropped, and logged.
async fn publish(client: redis::Client, mut queued: mpsc::Receiver<(&'static str, String)>) {
    let mut connection: Option<redis::aio::MultiplexedConnection> = None;
    while let Some((channel, json)) = queued.recv().await {
        let mut failure = None;
        for _ in 0..2 {
            let redis = match connection.as_mut() {
                Some(redis) => redis,
                None => match client.get_multiplexed_async_connection().await {
                    Ok(fresh) => connection.insert(fresh),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                },
            };
            let published: redis::RedisResult<i64> =
                redis::cmd("PUBLISH").arg(channel).arg(&json).query_async(redis).await;
            match published {
                Ok(_) => {
                    failure = None;
                    break;
                }
                Err(e) => {
                    connection = None;
                    failure = Some(e);
                }
            }
        }
        if let Some(e) = failure {
            tracing::warn!("a live update stayed on this replica: {e}");
        }
    }
}

/// Where what the other replicas publish goes.
struct Heard {
    /// This replica, whose own updates come back and are skipped.
    origin: u64,
    hub: Hub,
    sessions: Hub<SessionEvent, ChatSessionId>,
    signals: broadcast::Sender<Signalled>,
}

impl Heard {
    fn take(&self, message: &redis::Msg) {
        let Ok(payload) = message.get_payload::<String>() else { return };
        match message.get_channel_name() {
            LIVE_CHANNEL => self.deliver(&self.hub, &payload),
            SESSIONS_CHANNEL => self.deliver(&self.sessions, &payload),
            SIGNALS_CHANNEL => match serde_json::from_str(&payload) {
                Ok(signalled) => drop(self.signals.send(signalled)),
                Err(e) => tracing::warn!("an unreadable chat signal from another replica: {e}"),
            },
            _ => {}
        }
    }

    /// Delivers another replica's update to `hub`'s subscribers here.
    fn deliver<T, K>(&self, hub: &Hub<T, K>, payload: &str)
    where
        T: Clone + DeserializeOwned,
        K: Eq + std::hash::Hash + DeserializeOwned,
    {
        match serde_json::from_str::<Envelope<K, T>>(payload) {
            Ok(envelope) if envelope.origin != self.origin => hub.deliver(envelope.key, envelope.update),
            Ok(_) => {}
            Err(e) => tracing::warn!("an unreadable update from another replica: {e}"),
        }
    }
}

/// Delivers what the other replicas publish, subscribing again (with back-off) whenever the
/// connection is lost.
async fn subscribe(client: redis::Client, heard: Heard, link: Arc<RwLock<Link>>) {
    let mut backoff = Duration::from_millis(100);
    let hub = heard.hub.clone();
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                match pubsub.subscribe(&[LIVE_CHANNEL, SESSIONS_CHANNEL, SIGNALS_CHANNEL]).await {
                    Ok(()) => {
                        set(&link, Link::Up, &hub);
                        backoff = Duration::from_millis(100);
                        let mut messages = pubsub.on_message();
                        while let Some(message) = messages.next().await {
                            heard.take(&message);
                        }
                        set(&link, Link::Down("the connection was lost".into()), &hub);
                    }
                    Err(e) => set(&link, Link::Down(e.to_string()), &hub),
                }
            }
            Err(e) => set(&link, Link::Down(e.to_string()), &hub),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MOST_BACKOFF);
    }
}
