//! Wire types: every message and payload that crosses the network, defined once for both sides.

mod account;
mod chat;
mod classification;
mod delivery;
mod error;
mod events;
mod frame;
mod ids;
mod live;
mod rules;
mod status;

pub use account::{
    ApiTokenInfo, NewApiToken, Password, SessionInfo, SessionState, TokenName, UserInfo, UserSummary,
    Username, safe_next,
};
pub use chat::{
    ChatMessage, ChatReply, ChatRequest, ChatSession, ChatSettings, ChatStats, MAX_MESSAGE_CHARS,
    MAX_REPLY_TOKENS, MessagePage, MessageStatus, ModelInfo, ModelList, Preset, PresetDraft, ProviderHealth,
    Role, SessionListUpdate, SessionUpdate, Usage, parse_client_id, parse_user_message, title_from,
};
pub use classification::Category;
pub use delivery::Unacknowledged;
pub use error::{ApiError, ErrorCode};
pub use events::{
    Classification, ClassificationEvent, EventPage, EventReply, EventRequest, LabelActivity, LabelSeries,
    MAX_CATEGORIES, MAX_HEADS, MAX_THUMBNAIL_BYTES, StoredEvent, StreamName, ValidEvent,
};
pub use frame::parse_frame;
pub use ids::{
    AlertId, BrowserSessionId, ChatSessionId, EventId, MessageId, PresetId, RuleId, TokenId, UserId,
};
pub use live::{LiveRequest, LiveUpdate};
pub use rules::{AlertInfo, MAX_COOLDOWN_SECS, RuleDraft, RuleInfo};
pub use status::{Check, Readiness};
