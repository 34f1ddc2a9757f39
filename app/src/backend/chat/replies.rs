//! Replies being generated, held in memory so any number of connections can follow them: every
//! chunk is kept with its sequence number, so a connection that (re)joins replays exactly what
//! it missed and then follows live. Nothing is dropped for a slow follower.

use crate::protocol::{ChatSessionId, MessageId};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

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

#[derive(Debug, Default)]
struct ReplyState {
    /// Chunk `n` has sequence number `n + 1`.
    chunks: Vec<Chunk>,
    finished: Option<ChatMessage>,
}

/// A step of a reply: text, or a part (a tool call, its result, an approval request, a widget).
#[derive(Clone, Debug, PartialEq)]
pub enum Chunk {
    /// More text.
    Text(String),
    /// A part, after the text so far.
    Part(ReplyPart),
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
        let (mut text, mut parts) = (String::new(), Vec::new());
        for chunk in &self.state().chunks {
            match chunk {
                Chunk::Text(more) => text.push_str(more),
                Chunk::Part(part) => parts.push(PlacedPart { at: text.len(), part: part.clone() }),
            }
        }
        (text, parts)
    }

    /// Marks the reply as ended with its stored form.
    pub fn finish(&self, message: ChatMessage) {
        self.state().finished = Some(message);
        self.version.send_modify(|v| *v += 1);
    }

    /// Follows the reply from the chunk after `after_seq`.
    pub fn follow(self: &Arc<Self>, after_seq: u64) -> Follower {
        Follower { reply: self.clone(), next: after_seq, changes: self.version.subscribe(), done: false }
    }
}

/// Reads a reply's chunks in order, waiting for new ones.
#[derive(Debug)]
pub struct Follower {
    reply: Arc<LiveReply>,
    /// The last sequence number delivered.
    next: u64,
    changes: watch::Receiver<u64>,
    done: bool,
}

impl Follower {
    /// The reply followed.
    pub fn message_id(&self) -> MessageId {
        self.reply.message_id
    }

    /// The next chunk, or the finished reply, or `None` after that.
    pub async fn next(&mut self) -> Option<Followed> {
        loop {
            if self.done {
                return None;
            }
            self.changes.borrow_and_update();
            {
                let state = self.reply.state();
                if let Some(chunk) = state.chunks.get(self.next as usize) {
                    self.next += 1;
                    return Some(Followed::Chunk(self.next, chunk.clone()));
                }
                if let Some(message) = &state.finished {
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

    /// Registers a new reply, stopped by `cancel`.
    pub fn start(
        &self,
        session_id: ChatSessionId,
        message_id: MessageId,
        cancel: CancellationToken,
    ) -> Arc<LiveReply> {
        let reply = Arc::new(LiveReply {
            message_id,
            session_id,
            cancel,
            state: Mutex::default(),
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
        let reply = replies.start(ChatSessionId(1), MessageId(10), CancellationToken::new());
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
        reply.push(Chunk::Part(widget.clone()));
        assert_eq!(
            reply.content().1,
            [PlacedPart { at: 6, part: widget }],
            "a part is placed after the text so far"
        );
        assert!(replies.in_session(ChatSessionId(1)).is_some());
        replies.remove(MessageId(10));
        assert!(replies.get(MessageId(10)).is_none());
    }
}
