//! Wire types: every message and payload that crosses the network, defined once for both sides.

mod account;
mod classification;
mod delivery;
mod error;
mod events;
mod frame;
mod live;
mod rules;
mod status;

pub use account::{
    ApiTokenInfo, NewApiToken, Password, SessionInfo, SessionState, TokenName, UserInfo, UserSummary,
    Username, safe_next,
};
pub use classification::Category;
pub use delivery::Unacknowledged;
pub use error::{ApiError, ErrorCode};
pub use events::{
    Classification, ClassificationEvent, EventPage, EventReply, EventRequest, LabelActivity, LabelSeries,
    MAX_CATEGORIES, MAX_HEADS, MAX_THUMBNAIL_BYTES, StoredEvent, StreamName, ValidEvent,
};
pub use frame::parse_frame;
pub use live::{LiveRequest, LiveUpdate};
pub use rules::{AlertInfo, MAX_COOLDOWN_SECS, RuleDraft, RuleInfo};
pub use status::{Check, Readiness};
