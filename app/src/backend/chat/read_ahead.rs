//! What a session's next turn starts from, read from the database ahead of the message that needs
//! it (when a connection opens and after each reply), so a reply's model request goes out without
//! a database round trip in front of it.
//!
//! Every write to a session's row or messages goes through [`super::ChatStore`], which forgets
//! the session here; a read that was under way when the write happened is discarded on arrival.
//! Replicas that share a Redis forget what the others wrote too (see [`super::shared`]).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::protocol::{ChatMessage, ChatSession, ChatSessionId, UserId};

/// Most sessions read ahead at once.
const MAX_SESSIONS: usize = 16 * 1024;
/// Most bytes of messages held in all.
const MAX_BYTES: usize = 64 * 1024 * 1024;

/// What a turn of a session starts from.
#[derive(Clone, Debug, PartialEq)]
pub struct TurnStart {
    /// The session, as stored.
    pub session: ChatSession,
    /// Its messages with content, oldest first.
    pub history: Vec<ChatMessage>,
    /// Its agent's context.
    pub context: serde_json::Value,
}

impl TurnStart {
    /// Roughly the bytes the start holds.
    fn size(&self) -> usize {
        self.history.iter().map(|m| m.content.len() + 256).sum::<usize>() + 512
    }
}

enum Slot {
    /// A read under way, numbered.
    Reading(u64),
    /// A start read, for its owner.
    Ready { owner_id: UserId, start: Box<TurnStart>, size: usize },
}

#[derive(Default)]
struct Slots {
    by_session: HashMap<ChatSessionId, Slot>,
    next_read: u64,
    bytes: usize,
}

impl Slots {
    fn remove(&mut self, session_id: ChatSessionId) -> Option<Slot> {
        let slot = self.by_session.remove(&session_id);
        if let Some(Slot::Ready { size, .. }) = &slot {
            self.bytes -= size;
        }
        slot
    }
}

/// Sessions' next turns, read ahead.
#[derive(Default)]
pub(super) struct ReadAhead {
    slots: Mutex<Slots>,
}

impl std::fmt::Debug for ReadAhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadAhead").finish_non_exhaustive()
    }
}

impl ReadAhead {
    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a read of the session's next turn: its number, or `None` when one is held or
    /// under way already, or there is no room.
    pub fn begin(&self, session_id: ChatSessionId) -> Option<u64> {
        let mut slots = self.slots();
        if slots.by_session.contains_key(&session_id)
            || slots.by_session.len() >= MAX_SESSIONS
            || slots.bytes >= MAX_BYTES
        {
            return None;
        }
        slots.next_read += 1;
        let read = slots.next_read;
        slots.by_session.insert(session_id, Slot::Reading(read));
        Some(read)
    }

    /// Keeps what read `read` found, unless the session was written since it began.
    pub fn finish(&self, read: u64, owner_id: UserId, start: Option<TurnStart>) {
        let mut slots = self.slots();
        let Some(start) = start else {
            slots.by_session.retain(|_, slot| !matches!(slot, Slot::Reading(r) if *r == read));
            return;
        };
        let session_id = start.session.id;
        if !matches!(slots.by_session.get(&session_id), Some(Slot::Reading(r)) if *r == read) {
            return;
        }
        let size = start.size();
        if slots.bytes + size > MAX_BYTES {
            slots.by_session.remove(&session_id);
            return;
        }
        slots.bytes += size;
        slots.by_session.insert(session_id, Slot::Ready { owner_id, start: Box::new(start), size });
    }

    /// Takes the session's start read ahead, if one is ready and the session is `owner_id`'s.
    pub fn take(&self, owner_id: UserId, session_id: ChatSessionId) -> Option<TurnStart> {
        let mut slots = self.slots();
        match slots.by_session.get(&session_id) {
            Some(Slot::Ready { owner_id: owner, .. }) if *owner == owner_id => {}
            _ => return None,
        }
        match slots.remove(session_id) {
            Some(Slot::Ready { start, .. }) => Some(*start),
            _ => None,
        }
    }

    /// Forgets the session: it is being written.
    pub fn forget(&self, session_id: ChatSessionId) {
        self.slots().remove(session_id);
    }

    /// Forgets every session (writes elsewhere were missed).
    pub fn forget_all(&self) {
        let mut slots = self.slots();
        slots.by_session.clear();
        slots.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(id: i64) -> TurnStart {
        TurnStart {
            session: ChatSession {
                id: ChatSessionId(id),
                title: String::new(),
                agent: Default::default(),
                settings: crate::protocol::ChatSettings {
                    model: String::new(),
                    temperature: 0.0,
                    max_tokens: 1,
                    system_prompt: String::new(),
                },
                created_at: Default::default(),
                updated_at: Default::default(),
                archived: false,
            },
            history: Vec::new(),
            context: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_start_is_taken_once_and_only_by_its_owner() {
        let ahead = ReadAhead::default();
        let read = ahead.begin(ChatSessionId(1)).unwrap();
        assert_eq!(ahead.begin(ChatSessionId(1)), None, "one read at a time");
        ahead.finish(read, UserId(7), Some(start(1)));
        assert_eq!(ahead.take(UserId(8), ChatSessionId(1)), None);
        assert_eq!(ahead.take(UserId(7), ChatSessionId(1)), Some(start(1)));
        assert_eq!(ahead.take(UserId(7), ChatSessionId(1)), None);
    }

    #[test]
    fn a_read_overtaken_by_a_write_is_dropped() {
        let ahead = ReadAhead::default();
        let read = ahead.begin(ChatSessionId(1)).unwrap();
        ahead.forget(ChatSessionId(1));
        ahead.finish(read, UserId(7), Some(start(1)));
        assert_eq!(ahead.take(UserId(7), ChatSessionId(1)), None);
        // A newer read is not confused with the old one.
        let newer = ahead.begin(ChatSessionId(1)).unwrap();
        ahead.finish(read, UserId(7), Some(start(1)));
        assert_eq!(ahead.take(UserId(7), ChatSessionId(1)), None);
        ahead.finish(newer, UserId(7), Some(start(1)));
        assert!(ahead.take(UserId(7), ChatSessionId(1)).is_some());
    }

    #[test]
    fn missed_writes_elsewhere_forget_every_session_and_reads_under_way() {
        let ahead = ReadAhead::default();
        let (one, two) = (ahead.begin(ChatSessionId(1)).unwrap(), ahead.begin(ChatSessionId(2)).unwrap());
        ahead.finish(one, UserId(7), Some(start(1)));
        ahead.forget_all();
        ahead.finish(two, UserId(7), Some(start(2)));
        assert_eq!(ahead.take(UserId(7), ChatSessionId(1)), None);
        assert_eq!(ahead.take(UserId(7), ChatSessionId(2)), None, "a read under way is dropped on arrival");
        let again = ahead.begin(ChatSessionId(2)).unwrap();
        assert_ne!(again, two, "and not confused with a newer one");
    }

    #[test]
    fn a_failed_read_frees_its_session() {
        let ahead = ReadAhead::default();
        let read = ahead.begin(ChatSessionId(1)).unwrap();
        ahead.finish(read, UserId(7), None);
        assert!(ahead.begin(ChatSessionId(1)).is_some());
    }
}
