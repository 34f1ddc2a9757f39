//! Replies shared by the replicas through Redis (`AIC_REDIS_URL`), so that a chat connection on
//! any replica resumes, follows and stops a reply another replica writes, and a reply whose
//! replica dies is not left `streaming`:
//!
//! - the replica writing a reply holds the session's **lease** (`aic:chat:lease:{session}`, a key
//!   that expires unless renewed), which is also the claim that keeps a session to one reply at
//!   a time across replicas;
//! - it appends every chunk to the reply's **stream** (`aic:chat:reply:{message}`, entry id
//!   `{seq}-0`, capped, expiring) before its own followers see it, and the stored reply last;
//!   another replica replays the stream from any sequence number and then follows it live;
//! - `stop` on another replica is published on [`SIGNALS_CHANNEL`], which every replica hears,
//!   and so is every write of a session (which the others' read-ahead forgets);
//! - every replica sweeps for replies left `streaming` whose lease is gone (their replica died)
//!   and marks them `interrupted` with every chunk the stream has.
//!
//! When Redis is away, replies stay on the replica that writes them (as without replicas).

use crate::protocol::{ChatMessage, ChatSessionId, MessageId, PlacedPart};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisResult};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use super::replies::{Chunk, Followed, Follower, LiveReply, assemble};
use super::store::ChatStore;
use crate::backend::replicas::{RedisCommands, script};

/// The pub/sub channel of what replicas tell each other about chat sessions ([`Signalled`]).
pub const SIGNALS_CHANNEL: &str = "aic:chat:signals";
/// How long a lease lasts unless renewed: a dead replica's reply is noticed within it (plus a
/// sweep).
pub const LEASE: Duration = Duration::from_secs(3);
/// How often the writing replica renews its lease.
const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How often each replica looks for replies whose lease is gone.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// The most entries a reply's stream keeps (far more chunks than a reply has).
const MAX_ENTRIES: usize = 50_000;
/// How long a reply's stream outlives its last chunk.
const STREAM_TTL: Duration = Duration::from_secs(3600);
/// How long a finished reply's stream stays for late resumes (later ones read the database).
const FINISHED_TTL: Duration = Duration::from_secs(300);
/// How long a follower waits on Redis before checking that the stream is still there.
const FOLLOW_BLOCK: Duration = Duration::from_secs(1);
/// Entries a follower reads at once.
const FOLLOW_BATCH: usize = 512;
/// Above every chunk's entry id (a sequence number) and below the end's (`*`: the time in
/// milliseconds), so following from past the last chunk still reads the end.
const PAST_EVERY_CHUNK: u64 = 1_000_000_000_000;

/// Takes the session's lease for this replica (`ARGV[1]` is its origin) unless another replica
/// holds it; this replica may take over its own lease of a reply that is just ending.
const CLAIM: &str = "local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, string.len(ARGV[1]) + 1) ~= ARGV[1] .. ':' then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. ':0', 'PX', ARGV[2])
return 1";
/// Replaces the lease `ARGV[1]` by `ARGV[2]` for `ARGV[3]` ms, if it is still held.
const HOLD: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end
return 0";
/// Gives the lease `ARGV[1]` up, if it is still held.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

/// What a replica tells the others about a chat session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Stop the session's reply (the replica writing it does).
    Stop(ChatSessionId),
    /// The session was written: what was read ahead of its next turn is stale.
    Written(ChatSessionId),
}

/// A [`Signal`] and the replica it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signalled {
    /// The replica that sent it.
    pub origin: u64,
    /// What it said.
    pub signal: Signal,
}

/// One entry of a reply's stream.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Entry {
    Chunk(Chunk),
    Finished(Box<ChatMessage>),
}

fn lease_key(session_id: ChatSessionId) -> String {
    format!("aic:chat:lease:{session_id}")
}

fn stream_key(message_id: MessageId) -> String {
    format!("aic:chat:reply:{message_id}")
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

/// Appends `entry` to the stream `key` under `id` (`*` for the next free one).
fn append(pipe: &mut redis::Pipeline, key: &str, id: &str, entry: &Entry) {
    let json = serde_json::to_string(entry).unwrap_or_default();
    pipe.cmd("XADD").arg(key).arg("MAXLEN").arg("~").arg(MAX_ENTRIES).arg(id).arg("e").arg(json).ignore();
}

/// Reads a stream entry: its sequence number (the chunks') and what it holds.
fn entry((id, (_, json)): (String, (String, String))) -> Option<(u64, Entry)> {
    let seq = id.split('-').next()?.parse().ok()?;
    Some((seq, serde_json::from_str(&json).ok()?))
}

/// Whether the reply `message_id` of `session_id` is in Redis, or about to be: its stream is
/// there, or the session's lease is for it or for a reply not stored yet.
async fn alive(
    connection: &mut MultiplexedConnection,
    session_id: ChatSessionId,
    message_id: MessageId,
) -> RedisResult<bool> {
    let (exists, lease): (i64, Option<String>) = redis::pipe()
        .cmd("EXISTS")
        .arg(stream_key(message_id))
        .cmd("GET")
        .arg(lease_key(session_id))
        .query_async(connection)
        .await?;
    let leased =
        lease.is_some_and(|lease| lease.ends_with(":0") || leased_message(&lease) == Some(message_id));
    Ok(exists == 1 || leased)
}

/// The replica writing a reply, from its lease's value (`{origin}:{message id}`).
fn leased_message(lease: &str) -> Option<MessageId> {
    let id: i64 = lease.split_once(':')?.1.parse().ok()?;
    (id > 0).then_some(MessageId(id))
}

/// This replica's side of the replies shared through Redis.
#[derive(Debug)]
pub struct SharedReplies {
    redis: Arc<RedisCommands>,
    /// This replica's id in leases.
    origin: u64,
    signals: broadcast::Sender<Signalled>,
    /// Sessions written here, to tell the other replicas.
    written: mpsc::UnboundedSender<ChatSessionId>,
}

impl SharedReplies {
    /// Shares replies through `redis` as the replica `origin`, which hears the others' signals
    /// on `signals` (what [`SIGNALS_CHANNEL`] carries). Call within a Tokio runtime.
    pub fn new(redis: Arc<RedisCommands>, origin: u64, signals: broadcast::Sender<Signalled>) -> Arc<Self> {
        let (written, writes) = mpsc::unbounded_channel();
        let shared = Arc::new(Self { redis, origin, signals, written });
        tokio::spawn(tell_writes(Arc::downgrade(&shared), writes));
        shared
    }

    /// What the other replicas signal from now on.
    pub fn signals(&self) -> Signals {
        Signals { heard: self.signals.subscribe(), origin: self.origin }
    }

    /// Tells the other replicas that the session was written here (in the background).
    pub fn written(&self, session_id: ChatSessionId) {
        let _ = self.written.send(session_id);
    }

    async fn signal(&self, signal: Signal) -> RedisResult<()> {
        let json = serde_json::to_string(&Signalled { origin: self.origin, signal }).unwrap_or_default();
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(SIGNALS_CHANNEL).arg(json);
        self.redis.query::<i64>(cmd).await.map(drop)
    }

    /// Claims the session's next reply for this replica; false when another replica is
    /// writing one.
    pub async fn claim(&self, session_id: ChatSessionId) -> RedisResult<bool> {
        let mut cmd = script(CLAIM, lease_key(session_id));
        cmd.arg(self.origin).arg(millis(LEASE));
        self.redis.query(cmd).await
    }

    /// Gives back a claim whose reply did not start.
    pub async fn release(&self, session_id: ChatSessionId) -> RedisResult<()> {
        let mut cmd = script(RELEASE, lease_key(session_id));
        cmd.arg(format!("{}:0", self.origin));
        self.redis.query::<i64>(cmd).await.map(drop)
    }

    /// Replaces this replica's lease `held` on the session by `next`; false when it was lost.
    async fn hold(&self, session_id: ChatSessionId, held: &str, next: &str) -> RedisResult<bool> {
        let mut cmd = script(HOLD, lease_key(session_id));
        cmd.arg(held).arg(next).arg(millis(LEASE));
        self.redis.query(cmd).await
    }

    /// The reply some replica is writing in the session.
    pub async fn streaming(&self, session_id: ChatSessionId) -> RedisResult<Option<MessageId>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(lease_key(session_id));
        let lease: Option<String> = self.redis.query(cmd).await?;
        Ok(lease.as_deref().and_then(leased_message))
    }

    /// Asks the replica writing the session's reply to stop it; false when none is.
    pub async fn stop(&self, session_id: ChatSessionId) -> RedisResult<bool> {
        if self.streaming(session_id).await?.is_none() {
            return Ok(false);
        }
        self.signal(Signal::Stop(session_id)).await?;
        Ok(true)
    }

    /// Follows the reply `message_id` of `session_id` from Redis after the chunk `after_seq`, if
    /// it is there (or about to be); when it goes (or Redis does) before the reply's end, the
    /// follower ends with the reply as stored.
    pub async fn follow(
        &self,
        (session_id, message_id): (ChatSessionId, MessageId),
        after_seq: u64,
        store: ChatStore,
    ) -> RedisResult<Option<Follower>> {
        // Its own connection: a blocking read holds a connection until it returns.
        let config = AsyncConnectionConfig::new().set_response_timeout(Some(FOLLOW_BLOCK * 2));
        let mut connection =
            self.redis.client().get_multiplexed_async_connection_with_config(&config).await?;
        if !alive(&mut connection, session_id, message_id).await? {
            return Ok(None);
        }
        let follower = SharedFollower {
            connection,
            key: stream_key(message_id),
            last_id: format!("{}-0", after_seq.min(PAST_EVERY_CHUNK)),
            queue: VecDeque::new(),
            done: false,
            stored: (store, session_id, message_id),
        };
        Ok(Some(Follower::shared(message_id, follower)))
    }

    /// Copies `reply` into Redis as it grows (its followers see each chunk once it is there),
    /// holding the session's lease, until it ends. On a Redis failure the reply goes on here
    /// alone.
    pub fn mirror(self: &Arc<Self>, reply: Arc<LiveReply>) {
        let shared = self.clone();
        tokio::spawn(async move {
            if let Err(e) = shared.copy(&reply).await {
                tracing::warn!(reply = %reply.message_id, "a reply goes on without the other replicas: {e}");
                reply.unshare();
            }
        });
    }

    async fn copy(&self, reply: &LiveReply) -> RedisResult<()> {
        let (session_id, key) = (reply.session_id, stream_key(reply.message_id));
        let lease = format!("{}:{}", self.origin, reply.message_id);
        if !self.hold(session_id, &format!("{}:0", self.origin), &lease).await? {
            tracing::warn!(session = %session_id, "a reply started after its claim expired");
        }
        let mut changes = reply.changes();
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + RENEW_EVERY, RENEW_EVERY);
        let mut published = 0;
        loop {
            changes.borrow_and_update();
            let (chunks, finished) = reply.unpublished(published);
            let mut pipe = redis::pipe();
            for (n, chunk) in chunks.iter().enumerate() {
                append(&mut pipe, &key, &format!("{}-0", published + n + 1), &Entry::Chunk(chunk.clone()));
            }
            if let Some(message) = &finished {
                append(&mut pipe, &key, "*", &Entry::Finished(Box::new(message.clone())));
                pipe.cmd("PEXPIRE").arg(&key).arg(millis(FINISHED_TTL)).ignore();
                pipe.add_command(script(RELEASE, lease_key(session_id))).arg(&lease).ignore();
            } else if !chunks.is_empty() {
                pipe.cmd("PEXPIRE").arg(&key).arg(millis(STREAM_TTL)).ignore();
            }
            if !chunks.is_empty() || finished.is_some() {
                self.redis.run::<()>(&pipe).await?;
                published += chunks.len();
                reply.reveal(published);
            }
            if finished.is_some() {
                return Ok(());
            }
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
                _ = renew.tick() => {
                    if !self.hold(session_id, &lease, &lease).await? {
                        tracing::warn!(session = %session_id, "a reply's lease was lost; another replica may mark it interrupted");
                    }
                }
            }
        }
    }

    /// Those of `replies` (session and reply) that no replica holds a lease for any more.
    pub async fn orphans(
        &self,
        replies: &[(ChatSessionId, MessageId)],
    ) -> RedisResult<Vec<(ChatSessionId, MessageId)>> {
        if replies.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for (session_id, _) in replies {
            cmd.arg(lease_key(*session_id));
        }
        let leases: Vec<Option<String>> = self.redis.query(cmd).await?;
        Ok(replies
            .iter()
            .zip(leases)
            .filter(|((_, message_id), lease)| match lease {
                None => true,
                // Claimed, and its reply not stored yet.
                Some(lease) if lease.ends_with(":0") => false,
                Some(lease) => leased_message(lease) != Some(*message_id),
            })
            .map(|(reply, _)| *reply)
            .collect())
    }

    /// The text and parts of the reply `message_id` in its stream, if the stream holds it from
    /// its first chunk.
    pub async fn content(&self, message_id: MessageId) -> RedisResult<Option<(String, Vec<PlacedPart>)>> {
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(stream_key(message_id)).arg("-").arg("+");
        let entries: Vec<(String, (String, String))> = self.redis.query(cmd).await?;
        let mut chunks = Vec::new();
        for (seq, entry) in entries.into_iter().filter_map(entry) {
            match entry {
                Entry::Chunk(chunk) if seq == chunks.len() as u64 + 1 => chunks.push(chunk),
                // Trimmed, or out of order: not the whole reply.
                Entry::Chunk(_) => return Ok(None),
                Entry::Finished(_) => break,
            }
        }
        Ok(Some(assemble(chunks)))
    }

    /// Ends the stream of a reply another replica left unfinished with its stored form.
    pub async fn end(&self, message: &ChatMessage) -> RedisResult<()> {
        let key = stream_key(message.id);
        let mut pipe = redis::pipe();
        append(&mut pipe, &key, "*", &Entry::Finished(Box::new(message.clone())));
        pipe.cmd("PEXPIRE").arg(&key).arg(millis(FINISHED_TTL)).ignore();
        self.redis.run(&pipe).await
    }
}

/// What the other replicas signal, as this replica hears it.
#[derive(Debug)]
pub struct Signals {
    heard: broadcast::Receiver<Signalled>,
    /// This replica, whose own signals are skipped.
    origin: u64,
}

/// What a replica hears next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heard {
    /// Another replica's signal.
    Signal(Signal),
    /// Signals came faster than they were heard, and some were missed.
    Missed,
}

impl Signals {
    /// The next signal from another replica; `None` once Redis is no longer listened to.
    pub async fn next(&mut self) -> Option<Heard> {
        loop {
            match self.heard.recv().await {
                Ok(Signalled { origin, signal }) if origin != self.origin => {
                    return Some(Heard::Signal(signal));
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => return Some(Heard::Missed),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// Tells the other replicas of the sessions written here, until `shared` is dropped.
async fn tell_writes(
    shared: std::sync::Weak<SharedReplies>,
    mut writes: mpsc::UnboundedReceiver<ChatSessionId>,
) {
    while let Some(session_id) = writes.recv().await {
        let Some(shared) = shared.upgrade() else { return };
        if let Err(e) = shared.signal(Signal::Written(session_id)).await {
            tracing::warn!(session = %session_id, "the other replicas may start a turn from a stale read: {e}");
        }
    }
}

/// Follows a reply another replica writes, from its stream in Redis.
#[derive(Debug)]
pub struct SharedFollower {
    connection: MultiplexedConnection,
    key: String,
    /// The id of the last entry read.
    last_id: String,
    queue: VecDeque<(u64, Entry)>,
    done: bool,
    /// Where the reply is stored, for when the stream is gone.
    stored: (ChatStore, ChatSessionId, MessageId),
}

impl SharedFollower {
    /// The next chunk, or the finished reply, or `None` after that.
    pub async fn next(&mut self) -> Option<Followed> {
        while !self.done {
            if let Some((seq, entry)) = self.queue.pop_front() {
                return Some(match entry {
                    Entry::Chunk(chunk) => Followed::Chunk(seq, chunk),
                    Entry::Finished(message) => {
                        self.done = true;
                        Followed::Finished(message)
                    }
                });
            }
            match self.read().await {
                Ok(true) => {}
                Ok(false) => return self.stored().await,
                Err(e) => {
                    tracing::warn!("a reply followed through Redis ends here: {e}");
                    return self.stored().await;
                }
            }
        }
        None
    }

    /// Reads the entries after the last one, waiting a while for some; false when the reply is
    /// gone from Redis.
    async fn read(&mut self) -> RedisResult<bool> {
        type Read = Option<Vec<(String, Vec<(String, (String, String))>)>>;
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT").arg(FOLLOW_BATCH).arg("BLOCK").arg(millis(FOLLOW_BLOCK));
        cmd.arg("STREAMS").arg(&self.key).arg(&self.last_id);
        let read: Read = cmd.query_async(&mut self.connection).await?;
        let Some(entries) = read.into_iter().flatten().next().map(|(_, entries)| entries) else {
            let (_, session_id, message_id) = self.stored;
            return alive(&mut self.connection, session_id, message_id).await;
        };
        for raw in entries {
            self.last_id.clone_from(&raw.0);
            if let Some(entry) = entry(raw) {
                self.queue.push_back(entry);
            }
        }
        Ok(true)
    }

    /// Ends with the reply as stored.
    async fn stored(&mut self) -> Option<Followed> {
        self.done = true;
        let (store, session_id, message_id) = &self.stored;
        match store.message(*session_id, *message_id).await {
            Ok(message) => Some(Followed::Finished(Box::new(message))),
            Err(e) => {
                tracing::warn!(reply = %message_id, "cannot read a followed reply: {e}");
                None
            }
        }
    }
}
