//! Replies being generated, held in memory so any number of connections can follow them: every
//! chunk is kept with its sequence number, so a connection that (re)joins replays exactly what
//! it missed and then follows live. Nothing is dropped for a slow follower.
//!
//! A reply shared with the other replicas (see [`super::shared`]) shows its followers only the
//! chunks already in Redis, so that no chunk a client has seen is lost with this replica.

use crate::protocol::{ChatSessionId, MessageId};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::shared::SharedFollower;
use crate::protocol::{ChatMessage, PlacedPart, ReplyPart};

/// A reply in progress.
#[derive(Debug)]
pub struct LiveReply {
    /// The reply's message id.
    pub message_id: MessageId,
    /// The session it belongs to.
    pub session_id: ChatSessionId,
    /// Cancelled when the user stops the reply.
    pub cancel: CancellationToken,
    state: Mutex<ReplyState>,
    /// Bumped on every change, to wake followers.
    version: watch::Sender<u64>,
    /// Chunks saved so far.
    saved_chunks: AtomicUsize,
}

/// A reply's chunks, kept as its text once, where each chunk ends in it, and its parts: a chunk
/// costs its text and four bytes (a chunk of its own would cost a string's allocation and slot).
#[derive(Debug, Default)]
struct Chunks {
    text: String,
    /// Per chunk (chunk `n` has sequence number `n + 1`): the text's length after it.
    ends: Vec<u32>,
    /// The parts, with the index of their chunk, in order.
    parts: Vec<(usize, ReplyPart)>,
}

impl Chunks {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn push(&mut self, chunk: Chunk) {
        match chunk {
            Chunk::Text(text) => self.text.push_str(&text),
            Chunk::Part(part) => self.parts.push((self.ends.len(), *part)),
        }
        self.ends.push(u32::try_from(self.text.len()).unwrap_or(u32::MAX));
    }

    /// The text before chunk `n`'s.
    fn start(&self, n: usize) -> usize {
        n.checked_sub(1).and_then(|before| self.ends.get(before)).map_or(0, |&end| end as usize)
    }

    /// Chunk `n`, if there is one.
    fn get(&self, n: usize) -> Option<Chunk> {
        let end = *self.ends.get(n)? as usize;
        if let Ok(i) = self.parts.binary_search_by_key(&n, |(at, _)| *at) {
            return Some(Chunk::Part(Box::new(self.parts[i].1.clone())));
        }
        Some(Chunk::Text(self.text.get(self.start(n)..end).unwrap_or_default().to_owned()))
    }

    /// The parts, each after the text of the chunks before it.
    fn placed(&self) -> Vec<PlacedPart> {
        self.parts.iter().map(|(n, part)| PlacedPart { at: self.start(*n), part: part.clone() }).collect()
    }
}

#[derive(Debug, Default)]
struct ReplyState {
    chunks: Chunks,
    /// How many chunks followers may see: all of them, unless the reply is shared and the
    /// latest are not in Redis yet.
    visible: usize,
    /// Whether chunks wait for Redis before followers see them.
    shared: bool,
    finished: Option<ChatMessage>,
}

impl ReplyState {
    /// Whether followers have seen everything once they reach the end.
    fn all_visible(&self) -> bool {
        self.visible == self.chunks.len()
    }
}

/// A step of a reply: text, or a part (a tool call, its result, an approval request, a widget).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Chunk {
    /// More text.
    Text(String),
    /// A part, after the text so far (boxed, as the turn sends it: most chunks are text).
    Part(Box<ReplyPart>),
}

/// The text of `chunks` and their parts in their places.
pub fn assemble(chunks: impl IntoIterator<Item = Chunk>) -> (String, Vec<PlacedPart>) {
    let mut all = Chunks::default();
    chunks.into_iter().for_each(|chunk| all.push(chunk));
    let parts = all.placed();
    (all.text, parts)
}

/// What a follower gets next.
#[derive(Clone, Debug, PartialEq)]
pub enum Followed {
    /// A chunk and its sequence number.
    Chunk(u64, Chunk),
    /// The stored reply, once it ended.
    Finished(Box<ChatMessage>),
}

impl LiveReply {
    fn state(&self) -> MutexGuard<'_, ReplyState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a chunk; returns its sequence number.
    pub fn push(&self, chunk: Chunk) -> u64 {
        let seq = {
            let mut state = self.state();
            state.chunks.push(chunk);
            if !state.shared {
                state.visible = state.chunks.len();
            }
            state.chunks.len() as u64
        };
        self.version.send_modify(|v| *v += 1);
        seq
    }

    /// How many chunks it has.
    pub fn chunk_count(&self) -> usize {
        self.state().chunks.len()
    }

    /// The text so far and the parts, if chunks came since the last call (which counts them as
    /// saved).
    pub fn progress_to_save(&self) -> Option<(String, Vec<PlacedPart>)> {
        let count = self.chunk_count();
        (self.saved_chunks.swap(count, Ordering::Relaxed) != count).then(|| self.content())
    }

    /// The text so far and the parts in their places.
    pub fn content(&self) -> (String, Vec<PlacedPart>) {
        let state = self.state();
        (state.chunks.text.clone(), state.chunks.placed())
    }

    /// Marks the reply as ended with its stored form.
    pub fn finish(&self, message: ChatMessage) {
        self.state().finished = Some(message);
        self.version.send_modify(|v| *v += 1);
    }

    /// The chunks after the first `published`, and the stored reply once it ended (and those
    /// chunks are all there is).
    pub fn unpublished(&self, published: usize) -> (Vec<Chunk>, Option<ChatMessage>) {
        let state = self.state();
        let chunks = (published..state.chunks.len()).filter_map(|n| state.chunks.get(n)).collect();
        (chunks, state.finished.clone())
    }

    /// Lets followers see the first `count` chunks (they are in Redis).
    pub fn reveal(&self, count: usize) {
        {
            let mut state = self.state();
            state.visible = state.visible.max(count.min(state.chunks.len()));
        }
        self.version.send_modify(|v| *v += 1);
    }

    /// Stops waiting for Redis: followers see every chunk at once from now on.
    pub fn unshare(&self) {
        {
            let mut state = self.state();
            state.shared = false;
            state.visible = state.chunks.len();
        }
        self.version.send_modify(|v| *v += 1);
    }

    /// Wakes on every change.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Follows the reply from the chunk after `after_seq`.
    pub fn follow(self: &Arc<Self>, after_seq: u64) -> Follower {
        let here = HereFollower {
            reply: self.clone(),
            next: after_seq,
            changes: self.version.subscribe(),
            done: false,
        };
        Follower { message_id: self.message_id, source: Source::Here(here) }
    }
}

/// Reads a reply's chunks in order, waiting for new ones: from this replica's memory, or from
/// Redis for a reply another replica writes.
#[derive(Debug)]
pub struct Follower {
    message_id: MessageId,
    source: Source,
}

#[derive(Debug)]
enum Source {
    Here(HereFollower),
    Shared(Box<SharedFollower>),
}

impl Follower {
    /// Follows a reply another replica writes.
    pub(super) fn shared(message_id: MessageId, follower: SharedFollower) -> Self {
        Self { message_id, source: Source::Shared(Box::new(follower)) }
    }

    /// The reply followed.
    pub fn message_id(&self) -> MessageId {
        self.message_id
    }

    /// The next chunk, or the finished reply, or `None` after that.
    pub async fn next(&mut self) -> Option<Followed> {
        match &mut self.source {
            Source::Here(here) => here.next().await,
            Source::Shared(shared) => shared.next().await,
        }
    }
}

/// Follows a reply in this replica's memory.
#[derive(Debug)]
struct HereFollower {
    reply: Arc<LiveReply>,
    /// The last sequence number delivered.
    next: u64,
    changes: watch::Receiver<u64>,
    done: bool,
}

impl HereFollower {
    async fn next(&mut self) -> Option<Followed> {
        loop {
            if self.done {
                return None;
            }
            self.changes.borrow_and_update();
            {
                let state = self.reply.state();
                if (self.next as usize) < state.visible
                    && let Some(chunk) = state.chunks.get(self.next as usize)
                {
                    self.next += 1;
                    return Some(Followed::Chunk(self.next, chunk));
                }
                if let Some(message) = state.finished.as_ref().filter(|_| state.all_visible()) {
                    self.done = true;
                    return Some(Followed::Finished(Box::new(message.clone())));
                }
            }
            if self.changes.changed().await.is_err() {
                // The reply was dropped without finishing: nothing more will come.
                return None;
            }
        }
    }
}

/// Every reply in progress, by message id and by session.
#[derive(Clone, Debug, Default)]
pub struct LiveReplies {
    replies: Arc<Mutex<HashMap<MessageId, Arc<LiveReply>>>>,
    /// Sessions with a reply in progress or about to start: one at a time per session.
    busy: Arc<Mutex<HashSet<ChatSessionId>>>,
}

impl LiveReplies {
    fn map(&self) -> MutexGuard<'_, HashMap<MessageId, Arc<LiveReply>>> {
        self.replies.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reserves the session for a new reply; false when it already has one.
    pub fn claim(&self, session_id: ChatSessionId) -> bool {
        self.busy.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(session_id)
    }

    /// Frees the session for its next reply.
    pub fn release(&self, session_id: ChatSessionId) {
        self.busy.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&session_id);
    }

    /// Registers a new reply, stopped by `cancel`; a `shared` one shows followers only the
    /// chunks [revealed](LiveReply::reveal).
    pub fn start(
        &self,
        session_id: ChatSessionId,
        message_id: MessageId,
        cancel: CancellationToken,
        shared: bool,
    ) -> Arc<LiveReply> {
        let reply = Arc::new(LiveReply {
            message_id,
            session_id,
            cancel,
            state: Mutex::new(ReplyState { shared, ..ReplyState::default() }),
            version: watch::channel(0).0,
            saved_chunks: AtomicUsize::new(0),
        });
        self.map().insert(message_id, reply.clone());
        reply
    }

    /// Forgets a reply that ended (its followers still see the end).
    pub fn remove(&self, message_id: MessageId) {
        self.map().remove(&message_id);
    }

    /// The reply `message_id`, if it is in progress.
    pub fn get(&self, message_id: MessageId) -> Option<Arc<LiveReply>> {
        self.map().get(&message_id).cloned()
    }

    /// The session's reply in progress, if any.
    pub fn in_session(&self, session_id: ChatSessionId) -> Option<Arc<LiveReply>> {
        self.map().values().find(|r| r.session_id == session_id).cloned()
    }

    /// Every reply in progress.
    pub fn all(&self) -> Vec<Arc<LiveReply>> {
        self.map().values().cloned().collect()
    }

    /// How many replies are in progress.
    pub fn count(&self) -> usize {
        self.map().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{MessageStatus, Role};

    fn message(id: MessageId, content: &str) -> ChatMessage {
        ChatMessage::new(id, Role::Assistant, content.into(), MessageStatus::Complete)
    }

    fn text(text: &str) -> Chunk {
        Chunk::Text(text.into())
    }

    #[tokio::test]
    async fn a_late_follower_replays_what_it_missed_then_follows_live() {
        let replies = LiveReplies::default();
        let reply = replies.start(ChatSessionId(1), MessageId(10), CancellationToken::new(), false);
        reply.push(text("Hel"));
        reply.push(text("lo"));
        let mut late = reply.follow(1);
        assert_eq!(late.next().await, Some(Followed::Chunk(2, text("lo"))));
        let done = message(MessageId(10), "Hello!");
        let writer = {
            let (reply, done) = (reply.clone(), done.clone());
            tokio::spawn(async move {
                reply.push(text("!"));
                reply.finish(done);
            })
        };
        assert_eq!(late.next().await, Some(Followed::Chunk(3, text("!"))));
        assert_eq!(late.next().await, Some(Followed::Finished(Box::new(done))));
        assert_eq!(late.next().await, None);
        writer.await.unwrap();
        assert_eq!(reply.content().0, "Hello!");
        let widget =
            ReplyPart::Widget(crate::protocol::WidgetPart { kind: "image".into(), data: "x".into() });
        reply.push(Chunk::Part(Box::new(widget.clone())));
        assert_eq!(
            reply.content().1,
            [PlacedPart { at: 6, part: widget }],
            "a part is placed after the text so far"
        );
        assert!(replies.in_session(ChatSessionId(1)).is_some());
        replies.remove(MessageId(10));
        assert!(replies.get(MessageId(10)).is_none());
    }

    #[tokio::test]
    async fn a_reply_gives_back_each_chunk_as_pushed_with_its_parts_in_place() {
        let replies = LiveReplies::default();
        let reply = replies.start(ChatSessionId(1), MessageId(10), CancellationToken::new(), false);
        let widget = Chunk::Part(Box::new(ReplyPart::Widget(crate::protocol::WidgetPart {
            kind: "image".into(),
            data: "x".into(),
        })));
        let pushed = [text("Hé"), widget.clone(), text(""), widget.clone(), text("llo"), text(" ✓")];
        for chunk in &pushed {
            reply.push(chunk.clone());
        }
        let mut follower = reply.follow(0);
        for (seq, chunk) in (1..).zip(&pushed) {
            assert_eq!(follower.next().await, Some(Followed::Chunk(seq, chunk.clone())));
        }
        assert_eq!(reply.unpublished(4).0, pushed[4..]);
        let (text, parts) = reply.content();
        assert_eq!(text, "Héllo ✓");
        assert_eq!(
            parts.iter().map(|p| p.at).collect::<Vec<_>>(),
            [3, 3],
            "each part after the text before it"
        );
    }

    #[tokio::test]
    async fn a_shared_reply_shows_followers_only_what_is_in_redis_until_it_goes_on_alone() {
        let replies = LiveReplies::default();
        let reply = replies.start(ChatSessionId(1), MessageId(10), CancellationToken::new(), true);
        let mut follower = reply.follow(0);
        reply.push(text("a"));
        reply.push(text("b"));
        assert_eq!(reply.unpublished(0), (vec![text("a"), text("b")], None));
        reply.reveal(1);
        assert_eq!(follower.next().await, Some(Followed::Chunk(1, text("a"))));
        use futures::FutureExt;
        assert_eq!(follower.next().now_or_never(), None, "the second chunk is not in Redis yet");
        let done = message(MessageId(10), "abc");
        reply.push(text("c"));
        reply.finish(done.clone());
        assert_eq!(reply.unpublished(1), (vec![text("b"), text("c")], Some(done.clone())));
        reply.unshare();
        assert_eq!(follower.next().await, Some(Followed::Chunk(2, text("b"))));
        assert_eq!(follower.next().await, Some(Followed::Chunk(3, text("c"))));
        assert_eq!(follower.next().await, Some(Followed::Finished(Box::new(done))), "the end comes last");
    }
}
