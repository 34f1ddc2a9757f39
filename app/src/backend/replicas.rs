//! Several replicas of the app behind a load balancer: what one replica publishes to its live hub
//! (events, alerts, sightings, session-list changes) reaches the pages connected to the others,
//! through Redis pub/sub (`AIC_REDIS_URL`). Each replica publishes on one channel and delivers
//! what the others published; its own messages come back and are skipped.
//!
//! Redis going away degrades a replica instead of stopping it: its own pages still get its own
//! updates, what it publishes meanwhile is not seen elsewhere (live updates are not stored here;
//! the events, alerts and messages behind them are in the database), `/readyz` says so, and the
//! relay reconnects on its own.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::hub::{Hub, Relay};
use crate::protocol::{Check, LiveUpdate, UserId};

/// The pub/sub channel every replica publishes its live updates on.
const CHANNEL: &str = "aic:live";
/// Live updates waiting to be published; beyond them (a Redis that hangs), new ones stay on this
/// replica.
const OUTBOX: usize = 4096;
/// The longest wait between attempts to reach Redis again.
const MOST_BACKOFF: Duration = Duration::from_secs(5);

/// One live update as it travels between replicas.
#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The replica that published it.
    origin: u64,
    user: UserId,
    update: LiveUpdate,
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
    origin: u64,
    outbox: mpsc::Sender<String>,
    link: Arc<RwLock<Link>>,
}

impl RedisRelay {
    /// Starts relaying `hub` through the Redis at `url` (`redis://host:port/`): publishes what it
    /// publishes, delivers what the other replicas publish. Fails only on a malformed URL; an
    /// unreachable Redis is retried in the background.
    pub fn start(url: &str, hub: Hub) -> Result<Arc<Self>, String> {
        let client = redis::Client::open(url).map_err(|e| format!("AIC_REDIS_URL: {e}"))?;
        let origin = getrandom::u64().map_err(|e| format!("no randomness for the replica's id: {e}"))?;
        let link = Arc::new(RwLock::new(Link::Connecting));
        let (outbox, queued) = mpsc::channel(OUTBOX);
        tokio::spawn(publish(client.clone(), queued));
        tokio::spawn(subscribe(client, origin, hub, link.clone()));
        Ok(Arc::new(Self { origin, outbox, link }))
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

impl Relay<LiveUpdate, UserId> for RedisRelay {
    fn relay(&self, key: &UserId, update: &LiveUpdate) {
        let envelope = Envelope { origin: self.origin, user: *key, update: update.clone() };
        if let Ok(json) = serde_json::to_string(&envelope)
            && self.outbox.try_send(json).is_err()
        {
            tracing::warn!("a live update stayed on this replica: Redis is not keeping up");
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
async fn publish(client: redis::Client, mut queued: mpsc::Receiver<String>) {
    let mut connection: Option<redis::aio::MultiplexedConnection> = None;
    while let Some(json) = queued.recv().await {
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
                redis::cmd("PUBLISH").arg(CHANNEL).arg(&json).query_async(redis).await;
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

/// Delivers what the other replicas publish, subscribing again (with back-off) whenever the
/// connection is lost.
async fn subscribe(client: redis::Client, origin: u64, hub: Hub, link: Arc<RwLock<Link>>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(CHANNEL).await {
                Ok(()) => {
                    set(&link, Link::Up, &hub);
                    backoff = Duration::from_millis(100);
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let Ok(json) = message.get_payload::<String>() else { continue };
                        match serde_json::from_str::<Envelope>(&json) {
                            Ok(envelope) if envelope.origin != origin => {
                                hub.deliver(envelope.user, envelope.update)
                            }
                            Ok(_) => {}
                            Err(e) => tracing::warn!("an unreadable live update from another replica: {e}"),
                        }
                    }
                    set(&link, Link::Down("the connection was lost".into()), &hub);
                }
                Err(e) => set(&link, Link::Down(e.to_string()), &hub),
            },
            Err(e) => set(&link, Link::Down(e.to_string()), &hub),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MOST_BACKOFF);
    }
}
