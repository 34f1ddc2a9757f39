//! The chat's wire types: sessions, messages and presets, and the messages of the session
//! websocket (`/ws/ai-chat/session/{id}/`) and the session-list websocket (`/ws/ai-chat/sessions/`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    AgentPath, ApiError, ApprovalPart, ChatSessionId, ErrorCode, FileId, FileInfo, MessageId, PlacedPart,
    PresetId, ReplyPart, ToolCallPart, ToolResultPart, WidgetPart,
};

/// Longest user message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 32_000;
/// Longest system prompt accepted, in characters.
pub const MAX_SYSTEM_PROMPT_CHARS: usize = 8_000;
/// Most tokens a reply may be asked for.
pub const MAX_REPLY_TOKENS: u32 = 8_192;

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(type_name = "TEXT", rename_all = "lowercase"))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Role {
    /// Instructions that frame the conversation.
    System,
    /// The person chatting.
    User,
    /// The model.
    Assistant,
}

/// Where a message stands. A user message is always `complete`; a reply starts `streaming`
/// and ends in one of the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(type_name = "TEXT", rename_all = "lowercase"))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum MessageStatus {
    /// The reply is being generated.
    Streaming,
    /// The model finished.
    Complete,
    /// The user stopped it; the text so far is kept.
    Stopped,
    /// The model failed; the text so far is kept and `error` says why.
    Error,
    /// The server stopped while it was being generated.
    Interrupted,
}

impl MessageStatus {
    /// True while the reply may still grow.
    pub fn is_streaming(self) -> bool {
        self == Self::Streaming
    }
}

/// Tokens a reply took, when the model reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Usage {
    /// Tokens of the prompt (history included).
    pub prompt_tokens: u32,
    /// Tokens of the reply.
    pub completion_tokens: u32,
}

/// Why a reply ended, as a string on the wire (`stop`, `length`, …). Model servers may send
/// reasons of their own: those are kept as they came.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum FinishReason {
    /// The model ended its reply.
    Stop,
    /// The reply reached its token limit.
    Length,
    /// The user stopped the reply.
    Stopped,
    /// The server's content filter cut it.
    ContentFilter,
    /// The model asked to call tools.
    ToolCalls,
    /// Any other reason a model server gave.
    Other(String),
}

impl FinishReason {
    /// The reason as the wire and the database write it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::Stopped => "stopped",
            Self::ContentFilter => "content_filter",
            Self::ToolCalls => "tool_calls",
            Self::Other(reason) => reason,
        }
    }
}

impl From<String> for FinishReason {
    fn from(reason: String) -> Self {
        match reason.as_str() {
            "stop" => Self::Stop,
            "length" => Self::Length,
            "stopped" => Self::Stopped,
            "content_filter" => Self::ContentFilter,
            "tool_calls" => Self::ToolCalls,
            _ => Self::Other(reason),
        }
    }
}

#[cfg(feature = "ssr")]
super::text_column!(FinishReason);

/// A string in the API's description: the known reasons, or another a model server gave.
#[cfg(feature = "ssr")]
impl utoipa::PartialSchema for FinishReason {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .description(Some("`stop`, `length`, `stopped`, `content_filter`, `tool_calls`, or another reason the model server gave"))
            .examples(["stop"])
            .into()
    }
}

#[cfg(feature = "ssr")]
impl utoipa::ToSchema for FinishReason {}

impl From<FinishReason> for String {
    fn from(reason: FinishReason) -> Self {
        match reason {
            FinishReason::Other(reason) => reason,
            known => known.as_str().to_owned(),
        }
    }
}

/// Largest JSON Schema a reply may be asked to follow, in bytes of JSON.
pub const MAX_SCHEMA_BYTES: usize = 16 * 1024;

/// The shape a reply must have: OpenAI's `response_format`, e.g.
/// `{"type": "json_schema", "json_schema": {"name": "city", "schema": {…}}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum ResponseFormat {
    /// Any text: the default.
    Text,
    /// A JSON object.
    JsonObject,
    /// A JSON document that a JSON Schema accepts.
    JsonSchema {
        /// The schema and its name.
        json_schema: JsonSchemaFormat,
    },
}

/// A named JSON Schema for a reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct JsonSchemaFormat {
    /// A name for the schema: 1–64 letters, digits, `_` or `-`.
    pub name: String,
    /// What the document is, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema (an object).
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub schema: serde_json::Value,
    /// Asks an OpenAI-compatible server to follow the schema exactly; the embedded models
    /// always do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

impl ResponseFormat {
    /// Checks the format; `text` is no format at all (`None`).
    pub fn validate(self) -> Result<Option<Self>, ApiError> {
        let Self::JsonSchema { json_schema } = &self else {
            return Ok((self != Self::Text).then_some(self));
        };
        let name = &json_schema.name;
        if !(1..=64).contains(&name.len())
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
        {
            return Err(ApiError::bad_request("a schema's name has 1 to 64 letters, digits, `_` or `-`"));
        }
        if !json_schema.schema.is_object() {
            return Err(ApiError::bad_request("a JSON Schema is an object"));
        }
        if json_schema.schema.to_string().len() > MAX_SCHEMA_BYTES {
            return Err(ApiError::bad_request(format!("a JSON Schema has at most {MAX_SCHEMA_BYTES} bytes")));
        }
        Ok(Some(self))
    }

    /// The JSON Schema a reply in this format follows (`{"type": "object"}` for `json_object`);
    /// none for text.
    pub fn schema(&self) -> Option<serde_json::Value> {
        match self {
            Self::Text => None,
            Self::JsonObject => Some(serde_json::json!({"type": "object"})),
            Self::JsonSchema { json_schema } => Some(json_schema.schema.clone()),
        }
    }
}

/// One message of a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChatMessage {
    /// Database id.
    pub id: MessageId,
    /// Who wrote it.
    pub role: Role,
    /// Its text (Markdown for replies).
    pub content: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// Where it stands.
    pub status: MessageStatus,
    /// Why the reply ended, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// Tokens used, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The model that wrote a reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Why a reply failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The id the client gave a user message, so a re-send is recognised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The shape the reply was asked to have: on a user message, what it asked for; on a reply,
    /// what it follows (its content is then a JSON document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// On a reply: its tool calls, their results and its widgets, each in its place in the text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PlacedPart>,
    /// On a user message: the values of a submitted form, as the agent receives them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub values: Option<serde_json::Value>,
    /// On a user message: the files attached to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileInfo>,
}

impl ChatMessage {
    /// A message as the server first stores it, before any reply text or parts.
    pub fn new(id: MessageId, role: Role, content: String, status: MessageStatus) -> Self {
        Self {
            id,
            role,
            content,
            created_at: Utc::now(),
            status,
            finish_reason: None,
            usage: None,
            model: None,
            error: None,
            client_id: None,
            response_format: None,
            parts: Vec::new(),
            values: None,
            files: Vec::new(),
        }
    }
}

/// How a session's replies are generated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChatSettings {
    /// The model's namespaced id, e.g. `local/qwen2.5-coder-0.5b` or `openai/gpt-4o-mini`.
    pub model: String,
    /// Sampling temperature, 0 (greedy) to 2.
    pub temperature: f32,
    /// Most tokens per reply.
    pub max_tokens: u32,
    /// Instructions sent before the conversation; empty for none.
    pub system_prompt: String,
}

impl ChatSettings {
    /// Checks the ranges and trims the model id.
    pub fn validate(mut self) -> Result<Self, ApiError> {
        self.model = self.model.trim().to_owned();
        if self.model.is_empty() || self.model.len() > 200 {
            return Err(ApiError::bad_request("choose a model"));
        }
        if !(0.0..=2.0).contains(&self.temperature) {
            return Err(ApiError::bad_request("the temperature is between 0 and 2"));
        }
        if !(1..=MAX_REPLY_TOKENS).contains(&self.max_tokens) {
            return Err(ApiError::bad_request(format!("max tokens is between 1 and {MAX_REPLY_TOKENS}")));
        }
        if self.system_prompt.chars().count() > MAX_SYSTEM_PROMPT_CHARS {
            return Err(ApiError::bad_request(format!(
                "the system prompt has at most {MAX_SYSTEM_PROMPT_CHARS} characters"
            )));
        }
        Ok(self)
    }
}

/// A conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChatSession {
    /// Database id.
    pub id: ChatSessionId,
    /// Set from the first message; the owner may rename it.
    pub title: String,
    /// The agent that answers.
    #[serde(default)]
    pub agent: AgentPath,
    /// How replies are generated.
    #[serde(flatten)]
    pub settings: ChatSettings,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// When it last changed (a message, a rename).
    pub updated_at: DateTime<Utc>,
    /// Archived sessions are hidden from the list and can be restored.
    pub archived: bool,
}

/// Changes to a session; absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SessionUpdate {
    /// A new title.
    #[serde(default)]
    pub title: Option<String>,
    /// Archive (true) or restore (false).
    #[serde(default)]
    pub archived: Option<bool>,
    /// New settings: the fields given replace the session's, the others stay.
    #[serde(default)]
    pub settings: Option<SettingsChange>,
}

/// Some of a session's settings; the others are taken from a base (the server's defaults for a
/// new session, the session's own for a change).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SettingsChange {
    /// The model's namespaced id.
    #[serde(default)]
    pub model: Option<String>,
    /// Sampling temperature, 0 (greedy) to 2.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Most tokens per reply.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Instructions sent before the conversation; empty for none.
    #[serde(default)]
    pub system_prompt: Option<String>,
}

impl SettingsChange {
    /// `base` with the fields given here in place of its own (not yet validated).
    pub fn over(self, base: ChatSettings) -> ChatSettings {
        ChatSettings {
            model: self.model.unwrap_or(base.model),
            temperature: self.temperature.unwrap_or(base.temperature),
            max_tokens: self.max_tokens.unwrap_or(base.max_tokens),
            system_prompt: self.system_prompt.unwrap_or(base.system_prompt),
        }
    }
}

impl From<ChatSettings> for SettingsChange {
    fn from(settings: ChatSettings) -> Self {
        Self {
            model: Some(settings.model),
            temperature: Some(settings.temperature),
            max_tokens: Some(settings.max_tokens),
            system_prompt: Some(settings.system_prompt),
        }
    }
}

/// A page of a session's messages, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MessagePage {
    /// The messages.
    pub messages: Vec<ChatMessage>,
    /// Pass as `before` to get the earlier page; absent on the first page.
    pub earlier: Option<MessageId>,
}

/// A reusable chat set-up, as its owner writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PresetDraft {
    /// A name for people, e.g. "Code reviewer".
    pub name: String,
    /// A line on what it is for.
    #[serde(default)]
    pub description: String,
    /// The settings a session started from it gets.
    #[serde(flatten)]
    pub settings: ChatSettings,
    /// Public presets are visible to every user.
    #[serde(default)]
    pub public: bool,
}

impl PresetDraft {
    /// Checks every field and trims the text ones.
    pub fn validate(mut self) -> Result<Self, ApiError> {
        self.name = self.name.trim().to_owned();
        if !(1..=64).contains(&self.name.chars().count()) {
            return Err(ApiError::bad_request("a preset's name has 1 to 64 characters"));
        }
        self.description = self.description.trim().to_owned();
        if self.description.chars().count() > 500 {
            return Err(ApiError::bad_request("a description has at most 500 characters"));
        }
        self.settings = self.settings.validate()?;
        Ok(self)
    }
}

/// A stored preset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Preset {
    /// Database id.
    pub id: PresetId,
    /// What its owner wrote.
    #[serde(flatten)]
    pub preset: PresetDraft,
    /// Its owner's username.
    pub owner: String,
    /// Whether the caller owns it (and may edit it).
    pub mine: bool,
}

/// A model the app can chat with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ModelInfo {
    /// Namespaced id: `provider/model`.
    pub id: String,
    /// The provider's name.
    pub provider: String,
    /// A name for people.
    pub name: String,
    /// A note for people, e.g. that a model is small and offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The models and the default, for model pickers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ModelList {
    /// Every model of every provider, as last discovered.
    pub models: Vec<ModelInfo>,
    /// The model new sessions get.
    pub default_model: String,
}

/// What kind of model provider it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum ProviderKind {
    /// A model that runs inside the app (`embedded`).
    Embedded,
    /// A server speaking OpenAI's Chat Completions (`openai-compatible`).
    OpenaiCompatible,
}

impl ProviderKind {
    /// The kind as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::OpenaiCompatible => "openai-compatible",
        }
    }
}

/// Whether a provider answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ProviderHealth {
    /// The provider's name (the prefix of its model ids).
    pub provider: String,
    /// What it is.
    pub kind: ProviderKind,
    /// True when it answered.
    pub ok: bool,
    /// What was checked, or what went wrong.
    pub detail: String,
    /// How long the check took, in milliseconds.
    pub latency_ms: u64,
}

/// A user's chat statistics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChatStats {
    /// Sessions, archived ones excluded.
    pub sessions: i64,
    /// Archived sessions.
    pub archived_sessions: i64,
    /// Messages written by the user.
    pub user_messages: i64,
    /// Replies.
    pub replies: i64,
    /// Tokens of replies, where known.
    pub completion_tokens: i64,
}

/// What the client sends on a session's websocket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant, reason = "a request lives only while it is handled")]
pub enum ChatRequest {
    /// Sends a message and starts a reply. A repeated `client_id` is not stored twice: the
    /// server answers with the message it already has.
    SendMessage {
        /// The text.
        message: String,
        /// The client's id for the message (1–64 characters), for safe re-sending.
        #[serde(default)]
        client_id: Option<String>,
        /// The shape the reply must have (a JSON Schema); text by default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response_format: Option<ResponseFormat>,
        /// The values of a submitted form (an object), for the agent; `message` says them for people.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        values: Option<serde_json::Value>,
        /// Files uploaded to the session (`POST /ai-chat/api/sessions/{id}/files/`) to attach.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<FileId>,
    },
    /// Answers an `approval_request`: runs the call (true) or refuses it.
    Approve {
        /// The call waiting.
        call_id: String,
        /// Whether to run it.
        approved: bool,
    },
    /// Stops the reply being generated, keeping its text.
    Stop,
    /// Replaces the last reply by a new one.
    Regenerate,
    /// The user is typing (relayed to the user's other pages of the session).
    Typing,
    /// The user stopped typing.
    StopTyping,
    /// Asks for a `pong`.
    Ping,
    /// Replays a reply's chunks after `after_seq`, then follows it live.
    Resume {
        /// The reply.
        message_id: MessageId,
        /// The last sequence number the client has (0 for none).
        after_seq: u64,
    },
}

/// What the server sends on a session's websocket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatReply {
    /// The connection is open. When a reply is being written, its id is given: send `resume`
    /// to receive it.
    ConnectionEstablished {
        /// The session.
        session_id: ChatSessionId,
        /// The reply in progress, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        streaming_message_id: Option<MessageId>,
    },
    /// A user message was stored.
    UserMessage {
        /// The stored message.
        message: ChatMessage,
    },
    /// A reply has started; chunks follow.
    AiTyping {
        /// The reply (status `streaming`, empty).
        message: ChatMessage,
    },
    /// More text of a reply: only the new part.
    AiMessageChunk {
        /// The reply.
        message_id: MessageId,
        /// 1, 2, 3, … within the reply.
        seq: u64,
        /// The new text.
        content: String,
    },
    /// The reply's agent called a tool.
    ToolCall {
        /// The reply.
        message_id: MessageId,
        /// Numbered with the reply's chunks.
        seq: u64,
        /// The call.
        #[serde(flatten)]
        call: ToolCallPart,
    },
    /// A tool answered.
    ToolResult {
        /// The reply.
        message_id: MessageId,
        /// Numbered with the reply's chunks.
        seq: u64,
        /// The result.
        #[serde(flatten)]
        result: ToolResultPart,
    },
    /// A call waits for the user: send `approve`.
    ApprovalRequest {
        /// The reply.
        message_id: MessageId,
        /// Numbered with the reply's chunks.
        seq: u64,
        /// What waits.
        #[serde(flatten)]
        approval: ApprovalPart,
    },
    /// The reply shows a widget.
    Widget {
        /// The reply.
        message_id: MessageId,
        /// Numbered with the reply's chunks.
        seq: u64,
        /// The widget.
        #[serde(flatten)]
        widget: WidgetPart,
    },
    /// A reply ended (complete, stopped or failed): the whole stored message.
    AiMessageComplete {
        /// The stored reply.
        message: ChatMessage,
    },
    /// The user is typing on another page of this session.
    Typing {
        /// True when typing started, false when it stopped.
        active: bool,
    },
    /// The answer to `ping`.
    Pong,
    /// A message could not be handled, or a reply failed; the connection stays open.
    Error {
        /// The kind of failure.
        code: ErrorCode,
        /// A human-readable explanation.
        message: String,
    },
}

impl ChatReply {
    /// The message that carries a reply's part.
    pub fn part(message_id: MessageId, seq: u64, part: ReplyPart) -> Self {
        match part {
            ReplyPart::ToolCall(call) => Self::ToolCall { message_id, seq, call },
            ReplyPart::ToolResult(result) => Self::ToolResult { message_id, seq, result },
            ReplyPart::ApprovalRequest(approval) => Self::ApprovalRequest { message_id, seq, approval },
            ReplyPart::Widget(widget) => Self::Widget { message_id, seq, widget },
        }
    }

    /// The reply's part this message carries, with the reply and the sequence number; none for
    /// other messages.
    pub fn into_part(self) -> Option<(MessageId, u64, ReplyPart)> {
        match self {
            Self::ToolCall { message_id, seq, call } => Some((message_id, seq, ReplyPart::ToolCall(call))),
            Self::ToolResult { message_id, seq, result } => {
                Some((message_id, seq, ReplyPart::ToolResult(result)))
            }
            Self::ApprovalRequest { message_id, seq, approval } => {
                Some((message_id, seq, ReplyPart::ApprovalRequest(approval)))
            }
            Self::Widget { message_id, seq, widget } => Some((message_id, seq, ReplyPart::Widget(widget))),
            _ => None,
        }
    }
}

/// What the server sends on the session-list websocket (which takes `ping`, as `/ws/live` does).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SessionListUpdate {
    /// The connection is open.
    ConnectionEstablished,
    /// A session was created or changed (title, settings, new message, archived or restored).
    SessionUpdated {
        /// The session as it is now.
        session: ChatSession,
    },
    /// A session was deleted for good.
    SessionDeleted {
        /// Its id.
        session_id: ChatSessionId,
    },
    /// The answer to `ping`.
    Pong,
    /// A message could not be handled; the connection stays open.
    Error {
        /// The kind of failure.
        code: ErrorCode,
        /// A human-readable explanation.
        message: String,
    },
}

/// A user message's text, checked: not blank, not too long.
pub fn parse_user_message(text: &str) -> Result<String, ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::bad_request("the message is empty"));
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::bad_request(format!("a message has at most {MAX_MESSAGE_CHARS} characters")));
    }
    Ok(text.to_owned())
}

/// Largest form values a message may carry, in bytes of JSON.
pub const MAX_VALUES_BYTES: usize = 16 * 1024;

/// A message's form values, checked: a JSON object of at most [`MAX_VALUES_BYTES`].
pub fn parse_form_values(values: serde_json::Value) -> Result<serde_json::Value, ApiError> {
    if values.is_object() && values.to_string().len() <= MAX_VALUES_BYTES {
        Ok(values)
    } else {
        Err(ApiError::bad_request(format!(
            "form values are a JSON object of at most {MAX_VALUES_BYTES} bytes"
        )))
    }
}

/// A client id, checked: 1–64 visible ASCII characters.
pub fn parse_client_id(id: &str) -> Result<String, ApiError> {
    if (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(id.to_owned())
    } else {
        Err(ApiError::bad_request("a client_id has 1 to 64 visible ASCII characters"))
    }
}

/// A session title from its first message: the first line, at most 60 characters.
pub fn title_from(message: &str) -> String {
    let line = message.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("New chat");
    let mut title: String = line.chars().take(60).collect();
    if line.chars().count() > 60 {
        title.push('…');
    }
    title
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons_are_typed_and_unknown_ones_kept() {
        let reasons: Vec<FinishReason> =
            serde_json::from_str(r#"["stop","length","tool_calls","eos_token"]"#).unwrap();
        assert_eq!(reasons[..3], [FinishReason::Stop, FinishReason::Length, FinishReason::ToolCalls]);
        assert_eq!(reasons[3], FinishReason::Other("eos_token".into()));
        assert_eq!(serde_json::to_string(&reasons).unwrap(), r#"["stop","length","tool_calls","eos_token"]"#);
        assert_eq!(serde_json::to_string(&ProviderKind::OpenaiCompatible).unwrap(), r#""openai-compatible""#);
    }

    #[test]
    fn requests_parse_from_the_documented_json() {
        let send: ChatRequest =
            serde_json::from_str(r#"{"type":"send_message","message":"Hi","client_id":"c1"}"#).unwrap();
        assert_eq!(
            send,
            ChatRequest::SendMessage {
                message: "Hi".into(),
                client_id: Some("c1".into()),
                response_format: None,
                values: None,
                files: Vec::new(),
            }
        );
        let structured: ChatRequest = serde_json::from_str(
            r#"{"type":"send_message","message":"Hi","response_format":{"type":"json_schema",
                "json_schema":{"name":"city","schema":{"type":"object"},"strict":true}}}"#,
        )
        .unwrap();
        let ChatRequest::SendMessage { response_format: Some(format), .. } = structured else { panic!() };
        assert_eq!(format.clone().validate().unwrap(), Some(format.clone()));
        assert_eq!(format.schema(), Some(serde_json::json!({"type": "object"})));
        let resume: ChatRequest =
            serde_json::from_str(r#"{"type":"resume","message_id":7,"after_seq":3}"#).unwrap();
        assert_eq!(resume, ChatRequest::Resume { message_id: MessageId(7), after_seq: 3 });
        let chunk = ChatReply::AiMessageChunk { message_id: MessageId(7), seq: 4, content: "lo".into() };
        assert_eq!(
            serde_json::to_value(&chunk).unwrap(),
            serde_json::json!({"type": "ai_message_chunk", "message_id": 7, "seq": 4, "content": "lo"})
        );
    }

    #[test]
    fn response_formats_are_checked() {
        let schema = |name: &str, schema: serde_json::Value| ResponseFormat::JsonSchema {
            json_schema: JsonSchemaFormat { name: name.into(), description: None, schema, strict: None },
        };
        assert_eq!(ResponseFormat::Text.validate().unwrap(), None, "text is no format");
        assert!(ResponseFormat::JsonObject.validate().unwrap().is_some());
        assert!(schema("bad name", serde_json::json!({})).validate().is_err());
        assert!(schema("ok", serde_json::json!("a string")).validate().is_err());
        let huge = serde_json::json!({"description": "x".repeat(MAX_SCHEMA_BYTES)});
        assert!(schema("ok", huge).validate().is_err());
    }

    #[test]
    fn titles_come_from_the_first_line() {
        assert_eq!(title_from("\n  What is Rust?\nMore"), "What is Rust?");
        assert_eq!(title_from(&"a".repeat(70)).chars().count(), 61);
        assert_eq!(title_from("   "), "New chat");
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        assert!(parse_user_message("  \n").is_err());
        assert!(parse_user_message(&"x".repeat(MAX_MESSAGE_CHARS + 1)).is_err());
        assert!(parse_client_id("a b").is_err() && parse_client_id("").is_err());
        assert_eq!(parse_client_id("c-1").unwrap(), "c-1");
        assert!(parse_form_values(serde_json::json!([1])).is_err());
        assert!(parse_form_values(serde_json::json!({"x": "y".repeat(MAX_VALUES_BYTES)})).is_err());
        assert!(parse_form_values(serde_json::json!({"name": "Ada"})).is_ok());
        let settings = ChatSettings {
            model: "local/gemma-3-270m".into(),
            temperature: 3.0,
            max_tokens: 10,
            system_prompt: String::new(),
        };
        assert!(settings.clone().validate().unwrap_err().message.contains("temperature"));
        assert!(ChatSettings { temperature: 0.7, max_tokens: 0, ..settings }.validate().is_err());
    }
}
