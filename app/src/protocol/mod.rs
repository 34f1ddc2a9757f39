//! Wire types: every message and payload that crosses the network, defined once for both sides.

/// Stores a type that converts from and into `String` as a text column.
#[cfg(feature = "ssr")]
macro_rules! text_column {
    ($name:ty) => {
        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            String: sqlx::Decode<'r, DB>,
        {
            fn decode(value: <DB as sqlx::Database>::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(<String as sqlx::Decode<'r, DB>>::decode(value)?.into())
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            String: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <String as sqlx::Encode<'q, DB>>::encode(String::from(self.clone()), buf)
            }
        }
    };
}
#[cfg(feature = "ssr")]
use text_column;

mod account;
mod agents;
mod chat;
mod classification;
mod delivery;
mod error;
mod events;
mod files;
mod frame;
mod ids;
mod live;
mod rules;
mod status;

pub use account::{
    ApiTokenInfo, NewApiToken, Password, SessionInfo, SessionState, TokenName, UserInfo, UserSummary,
    Username, safe_next,
};
pub use agents::{
    AgentInfo, AgentList, AgentPath, ApprovalPart, PlacedPart, ReplyPart, ToolCallPart, ToolResultPart,
    WidgetData, WidgetPart,
};
pub use chat::{
    ChatMessage, ChatReply, ChatRequest, ChatSession, ChatSettings, ChatStats, FinishReason,
    JsonSchemaFormat, MAX_MESSAGE_CHARS, MAX_REPLY_TOKENS, MessagePage, MessageStatus, ModelInfo, ModelList,
    Preset, PresetDraft, ProviderHealth, ProviderKind, ResponseFormat, Role, SessionListUpdate,
    SessionUpdate, SettingsChange, Usage, parse_client_id, parse_form_values, parse_user_message, title_from,
};
pub use classification::Category;
pub use delivery::Unacknowledged;
pub use error::{ApiError, ErrorCode};
pub use events::{
    Classification, ClassificationEvent, EventPage, EventReply, EventRequest, LabelActivity, LabelSeries,
    MAX_CATEGORIES, MAX_HEADS, MAX_THUMBNAIL_BYTES, Sighting, SightingPage, StoredEvent, StreamName,
    ValidEvent,
};
pub use files::{FileInfo, FileKind, MAX_FILE_BYTES, MAX_FILES_PER_MESSAGE, parse_filename};
pub use frame::parse_frame;
pub use ids::{
    AlertId, BrowserSessionId, ChatSessionId, EventId, FileId, MessageId, PresetId, RuleId, SightingId,
    TokenId, UserId,
};
pub use live::{LiveRequest, LiveUpdate};
pub use rules::{AlertInfo, MAX_COOLDOWN_SECS, MAX_STAYS_SECS, RuleDraft, RuleInfo, WebhookStatus};
pub use status::{Check, Readiness};
