use serde::{Deserialize, Serialize};

use super::{AlertInfo, ChatSession, ChatSessionId, ErrorCode, Sighting, StoredEvent};

/// What a page sends on its live connection (`/ws/live`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveRequest {
    /// Asks for a `pong`, to check the connection end to end.
    Ping,
}

/// What the server pushes to a page on its live connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveUpdate {
    /// The connection is authenticated and open.
    ConnectionEstablished {
        /// Who it belongs to.
        username: String,
        /// Why live updates from the other replicas do not reach this connection now (their
        /// shared Redis is away); none when they do, or when there are no replicas.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        degraded: Option<String>,
    },
    /// Whether live updates from the other replicas reach this connection changed: `degraded`
    /// says why they do not, none once they do again.
    Replicas {
        /// Why they do not reach it.
        degraded: Option<String>,
    },
    /// The answer to `ping`.
    Pong,
    /// One of the user's cameras sent an event (just stored).
    Event(StoredEvent),
    /// A sighting on one of the user's cameras began, changed (a better score) or ended.
    Sighting(Sighting),
    /// One of the user's rules fired.
    Alert(AlertInfo),
    /// One of the user's alert rules was created, changed, paused or deleted (on any replica).
    RulesChanged,
    /// One of the user's chat sessions was created or changed.
    ChatSessionUpdated {
        /// The session as it is now.
        session: ChatSession,
    },
    /// One of the user's chat sessions was deleted for good.
    ChatSessionDeleted {
        /// Its id.
        session_id: ChatSessionId,
    },
    /// A message could not be handled; the connection stays open.
    Error {
        /// The kind of failure.
        code: ErrorCode,
        /// A human-readable explanation.
        message: String,
    },
}
