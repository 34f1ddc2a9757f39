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

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{FromRedisValue, RedisResult};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use super::chat::{SIGNALS_CHANNEL, SessionEvent, SharedReplies, Signalled};
use super::hub::{Hub, Relay};
use crate::protocol::{ChatSessionId, Check, LiveUpdate, UserId};

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
/// How often a replica says it is alive; its websocket counts are ignored once it has not said
/// so for [`ALIVE_FOR`].
const HEARTBEAT: Duration = Duration::from_secs(2);
const ALIVE_FOR: Duration = Duration::from_secs(6);
/// How long a user's websocket counts outlive their last change (when every replica stopped).
const COUNTS_TTL: Duration = Duration::from_secs(24 * 3600);

/// Opens a websocket of the user `KEYS[1]` counts on the replica `ARGV[1]` if the user's open
/// websockets on every live replica are fewer than `ARGV[2]`; forgets the counts of replicas
/// that stopped saying they are alive.
const OPEN: &str = "local total = 0
local counts = redis.call('HGETALL', KEYS[1])
for i = 1, #counts, 2 do
  if counts[i] == ARGV[1] or redis.call('EXISTS', 'aic:replica:' .. counts[i]) == 1 then
    total = total + tonumber(counts[i + 1])
  else
    redis.call('HDEL', KEYS[1], counts[i])
  end
end
if total >= tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1";
/// Closes one of the user `KEYS[1]`'s websockets on the replica `ARGV[1]`.
const CLOSE: &str =
    "if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1";

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
    redis: Arc<RedisCommands>,
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
        let heard = Heard { origin, hub, sessions, signals: signals.clone() };
        tokio::spawn(subscribe(client.clone(), heard, link.clone()));
        let redis = Arc::new(RedisCommands::new(client));
        tokio::spawn(publish(redis.clone(), queued));
        tokio::spawn(say_alive(Arc::downgrade(&redis), origin));
        Ok(Arc::new(Self { redis, origin, link, signals }))
    }

    /// This replica's side of the chat replies shared through the same Redis.
    pub fn shared_replies(&self) -> Arc<SharedReplies> {
        SharedReplies::new(self.redis.clone(), self.origin, self.signals.clone())
    }

    /// Each user's websockets, counted across the replicas.
    pub fn connection_counts(&self) -> ConnectionCounts {
        ConnectionCounts { redis: self.redis.clone(), origin: self.origin }
    }

    /// Why live updates from the other replicas do not reach this replica's pages now; none
    /// when they do.
    pub fn degraded(&self) -> Option<String> {
        self.link.read().map(|link| link.degraded()).unwrap_or_else(|_| Link::Connecting.degraded())
    }

    /// The link's state, as a readiness check (in the words the pages get).
    pub fn check(&self) -> Check {
        let degraded = self.degraded();
        Check {
            name: "redis".into(),
            ok: degraded.is_none(),
            detail: degraded.unwrap_or_else(|| "connected".into()),
        }
    }
}

/// Commands to the replicas' Redis, on one multiplexed connection that is replaced after a
/// failure.
#[derive(Debug)]
pub struct RedisCommands {
    client: redis::Client,
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl RedisCommands {
    /// Commands through `client`, which connects on first use.
    pub fn new(client: redis::Client) -> Self {
        Self { client, connection: Mutex::default() }
    }

    /// The client, for connections of their own (blocking reads).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    async fn connection(&self) -> RedisResult<MultiplexedConnection> {
        let cached = self.connection.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match cached {
            Some(connection) => Ok(connection),
            None => {
                let fresh = self.client.get_multiplexed_async_connection().await?;
                *self.connection.lock().unwrap_or_else(|p| p.into_inner()) = Some(fresh.clone());
                Ok(fresh)
            }
        }
    }

    /// Runs `pipe`, replacing the connection for the next call when it failed.
    pub async fn run<T: FromRedisValue>(&self, pipe: &redis::Pipeline) -> RedisResult<T> {
        let mut connection = self.connection().await?;
        let result = pipe.query_async(&mut connection).await;
        if result.is_err() {
            *self.connection.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        result
    }

    /// Runs the one command `cmd`.
    pub async fn query<T: FromRedisValue>(&self, cmd: redis::Cmd) -> RedisResult<T> {
        let mut pipe = redis::pipe();
        pipe.add_command(cmd);
        let (value,): (T,) = self.run(&pipe).await?;
        Ok(value)
    }
}

/// An `EVAL` of the Lua `script` on `key`; its arguments are added to it.
pub fn script(script: &str, key: String) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(1).arg(key);
    cmd
}

/// Says every [`HEARTBEAT`] that the replica `origin` is alive, until `redis` is dropped.
async fn say_alive(redis: std::sync::Weak<RedisCommands>, origin: u64) {
    let mut beat = tokio::time::interval(HEARTBEAT);
    loop {
        beat.tick().await;
        let Some(redis) = redis.upgrade() else { return };
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("aic:replica:{origin}")).arg(1).arg("PX").arg(ALIVE_FOR.as_millis() as u64);
        if let Err(e) = redis.query::<()>(cmd).await {
            tracing::debug!("cannot say this replica is alive: {e}");
        }
    }
}

/// Each user's open websockets, counted across the replicas (in a Redis hash per user, a count
/// per replica), for the per-user cap. The counts of a replica that stopped (it no longer says it
/// is alive) are forgotten.
#[derive(Clone, Debug)]
pub struct ConnectionCounts {
    redis: Arc<RedisCommands>,
    origin: u64,
}

fn counts_key(user_id: UserId) -> String {
    format!("aic:ws:{user_id}")
}

impl ConnectionCounts {
    /// Counts a new websocket of `user_id`'s, unless they have `cap` open on the replicas
    /// already: false then.
    pub async fn open(&self, user_id: UserId, cap: usize) -> RedisResult<bool> {
        let mut cmd = script(OPEN, counts_key(user_id));
        cmd.arg(self.origin).arg(cap).arg(COUNTS_TTL.as_millis() as u64);
        self.redis.query(cmd).await
    }

    /// Counts one of `user_id`'s websockets as closed.
    pub async fn close(&self, user_id: UserId) -> RedisResult<()> {
        let mut cmd = script(CLOSE, counts_key(user_id));
        cmd.arg(self.origin);
        self.redis.query::<i64>(cmd).await.map(drop)
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

/// Publishes what the hubs hand over, in order. A failed command is tried once more (on a new
/// connection, for a Redis that restarted); what cannot be published while Redis is away is
/// dropped, and logged.
async fn publish(redis: Arc<RedisCommands>, mut queued: mpsc::Receiver<(&'static str, String)>) {
    while let Some((channel, json)) = queued.recv().await {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(channel).arg(&json);
        if redis.query::<i64>(cmd.clone()).await.is_err()
            && let Err(e) = redis.query::<i64>(cmd).await
        {
            tracing::warn!("an update stayed on this replica: {e}");
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
