//! Chat sessions, messages, presets and discovered models in the database. Every query that
//! takes an owner stays within that owner's records.

use crate::protocol::{ChatSessionId, FinishReason, MessageId, PresetId, UserId};
use chrono::{DateTime, Utc};
use std::sync::{Arc, OnceLock};

use sqlx::QueryBuilder;

use super::read_ahead::{ReadAhead, TurnStart};
use super::shared::SharedReplies;

use crate::backend::db::{Pool, on_engine};
use crate::backend::{AppError, Database};
use crate::protocol::{
    AgentPath, ChatMessage, ChatSession, ChatSettings, ChatStats, FileInfo, MessagePage, MessageStatus,
    ModelInfo, PlacedPart, Preset, PresetDraft, ResponseFormat, Role, Usage,
};

/// Messages on one page of a transcript.
pub const MESSAGE_PAGE: i64 = 100;

const SESSION_COLUMNS: &str =
    "id, title, agent, model, temperature, max_tokens, system_prompt, archived, created_at, updated_at";
const MESSAGE_COLUMNS: &str = "id, role, content, created_at, status, finish_reason, prompt_tokens, \
                               completion_tokens, model, error, client_id, response_format, parts, form_values, files";
const PRESET_COLUMNS: &str = "p.id, p.name, p.description, p.model, p.temperature, p.max_tokens, \
                              p.system_prompt, p.public, u.username, p.owner_id";

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: ChatSessionId,
    title: String,
    agent: String,
    model: String,
    temperature: f64,
    max_tokens: i64,
    system_prompt: String,
    archived: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<SessionRow> for ChatSession {
    fn from(row: SessionRow) -> Self {
        Self {
            id: row.id,
            title: row.title,
            // Written by this program from a checked path: it parses.
            agent: AgentPath::parse(&row.agent).unwrap_or_default(),
            settings: settings(row.model, row.temperature, row.max_tokens, row.system_prompt),
            created_at: row.created_at,
            updated_at: row.updated_at,
            archived: row.archived,
        }
    }
}

fn settings(model: String, temperature: f64, max_tokens: i64, system_prompt: String) -> ChatSettings {
    ChatSettings {
        model,
        temperature: temperature as f32,
        max_tokens: u32::try_from(max_tokens).unwrap_or(1),
        system_prompt,
    }
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: MessageId,
    role: Role,
    content: String,
    created_at: DateTime<Utc>,
    status: MessageStatus,
    finish_reason: Option<FinishReason>,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    model: Option<String>,
    error: Option<String>,
    client_id: Option<String>,
    response_format: Option<String>,
    parts: Option<String>,
    form_values: Option<String>,
    files: Option<String>,
}

impl From<MessageRow> for ChatMessage {
    fn from(row: MessageRow) -> Self {
        let tokens = |n: i64| u32::try_from(n).unwrap_or(0);
        let usage = match (row.prompt_tokens, row.completion_tokens) {
            (None, None) => None,
            (prompt, completion) => Some(Usage {
                prompt_tokens: prompt.map_or(0, tokens),
                completion_tokens: completion.map_or(0, tokens),
            }),
        };
        Self {
            id: row.id,
            role: row.role,
            content: row.content,
            created_at: row.created_at,
            status: row.status,
            finish_reason: row.finish_reason,
            usage,
            model: row.model,
            error: row.error,
            client_id: row.client_id,
            // Written by this program from checked values: they read back.
            response_format: row.response_format.and_then(|format| serde_json::from_str(&format).ok()),
            parts: row.parts.and_then(|parts| serde_json::from_str(&parts).ok()).unwrap_or_default(),
            values: row.form_values.and_then(|values| serde_json::from_str(&values).ok()),
            files: row.files.and_then(|files| serde_json::from_str(&files).ok()).unwrap_or_default(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct PresetRow {
    id: PresetId,
    name: String,
    description: String,
    model: String,
    temperature: f64,
    max_tokens: i64,
    system_prompt: String,
    public: bool,
    username: String,
    owner_id: UserId,
}

impl PresetRow {
    fn into_preset(self, viewer: UserId) -> Preset {
        Preset {
            id: self.id,
            preset: PresetDraft {
                name: self.name,
                description: self.description,
                settings: settings(self.model, self.temperature, self.max_tokens, self.system_prompt),
                public: self.public,
            },
            owner: self.username,
            mine: self.owner_id == viewer,
        }
    }
}

/// How a reply ended, for [`ChatStore::finish_reply`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplyEnd {
    /// The whole text.
    pub content: String,
    /// How it ended.
    pub status: Option<MessageStatus>,
    /// Why the model stopped.
    pub finish_reason: Option<FinishReason>,
    /// Tokens used.
    pub usage: Option<Usage>,
    /// Why it failed.
    pub error: Option<String>,
    /// Its tool calls, results and widgets.
    pub parts: Vec<PlacedPart>,
}

/// A user message to store.
#[derive(Clone, Copy, Debug)]
pub struct NewUserMessage<'a> {
    /// What the user wrote.
    pub text: &'a str,
    /// The client's id for it.
    pub client_id: Option<&'a str>,
    /// The values of a submitted form.
    pub values: Option<&'a serde_json::Value>,
    /// The files it sends (uploaded to the session, not sent before).
    pub files: &'a [FileInfo],
}

/// Parts as stored: JSON, or nothing when there are none.
fn parts_column(parts: &[PlacedPart]) -> Option<String> {
    (!parts.is_empty()).then(|| serde_json::to_string(parts).unwrap_or_default())
}

/// The chat's storage.
#[derive(Clone, Debug)]
pub struct ChatStore {
    pool: Pool,
    /// Where writes go (see [`Database::writer`]).
    writer: Pool,
    ahead: Arc<ReadAhead>,
    /// The other replicas, told of every write (when replies are shared).
    replicas: Arc<OnceLock<Arc<SharedReplies>>>,
}

impl ChatStore {
    /// Chat records in `database`.
    pub fn new(database: &Database) -> Self {
        Self {
            pool: database.pool().clone(),
            writer: database.writer().clone(),
            ahead: Arc::default(),
            replicas: Arc::default(),
        }
    }

    /// Tells `replicas` of every write of a session from now on, so that they forget what they
    /// read ahead of its next turn (once; a second call is ignored).
    pub fn tell_writes_to(&self, replicas: Arc<SharedReplies>) {
        let _ = self.replicas.set(replicas);
    }

    /// Forgets what was read ahead of the session's next turn (another replica wrote it), or of
    /// every session's when some writes were missed.
    pub fn written_elsewhere(&self, session_id: Option<ChatSessionId>) {
        match session_id {
            Some(session_id) => self.ahead.forget(session_id),
            None => self.ahead.forget_all(),
        }
    }

    /// Forgets what was read ahead of the session's next turn, here and on the other replicas:
    /// it was written.
    fn forget(&self, session_id: ChatSessionId) {
        self.ahead.forget(session_id);
        if let Some(replicas) = self.replicas.get() {
            replicas.written(session_id);
        }
    }

    /// What the next turn of one of `owner_id`'s sessions starts from: read ahead when it was
    /// (see [`ChatStore::read_ahead`]), else read now.
    pub async fn turn_start(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
    ) -> Result<TurnStart, AppError> {
        match self.ahead.take(owner_id, session_id) {
            Some(start) => Ok(start),
            None => self.read_turn_start(owner_id, session_id).await,
        }
    }

    /// Reads what one of `owner_id`'s sessions' next turn starts from (unless it is held or being
    /// read already), kept until the session is written; `NotFound` if it is not theirs.
    pub async fn read_ahead(&self, owner_id: UserId, session_id: ChatSessionId) -> Result<(), AppError> {
        let Some(read) = self.ahead.begin(session_id) else {
            return self.session(owner_id, session_id).await.map(drop);
        };
        match self.read_turn_start(owner_id, session_id).await {
            Ok(start) => {
                self.ahead.finish(read, owner_id, Some(start));
                Ok(())
            }
            Err(e) => {
                self.ahead.finish(read, owner_id, None);
                Err(e)
            }
        }
    }

    async fn read_turn_start(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
    ) -> Result<TurnStart, AppError> {
        let (session, context) = self.session_with_context(owner_id, session_id).await?;
        Ok(TurnStart { session, history: self.history(session_id).await?, context })
    }

    async fn session_with_context(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
    ) -> Result<(ChatSession, serde_json::Value), AppError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            session: SessionRow,
            context: String,
        }
        let row: Option<Row> = on_engine!(&self.pool, |pool| sqlx::query_as(&format!(
            "SELECT {SESSION_COLUMNS}, context FROM chat_sessions WHERE id = $1 AND owner_id = $2"
        ))
        .bind(session_id)
        .bind(owner_id)
        .fetch_optional(pool)
        .await)?;
        let row = row.ok_or(AppError::NotFound)?;
        let context = serde_json::from_str(&row.context)
            .map_err(|e| AppError::Internal(format!("a stored context: {e}")))?;
        Ok((row.session.into(), context))
    }

    /// Creates a session for `owner_id`, answered by `agent` with its first `context`.
    pub async fn create_session(
        &self,
        owner_id: UserId,
        title: &str,
        settings: &ChatSettings,
        preset_id: Option<PresetId>,
        (agent, context): (&AgentPath, &serde_json::Value),
    ) -> Result<ChatSession, AppError> {
        let now = Utc::now();
        let row: SessionRow = on_engine!(&self.writer, |pool| {
            sqlx::query_as(&format!(
            "INSERT INTO chat_sessions (owner_id, title, model, temperature, max_tokens, system_prompt, preset_id,
                                        created_at, updated_at, agent, context)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10) RETURNING {SESSION_COLUMNS}"
        ))
        .bind(owner_id)
        .bind(title)
        .bind(&settings.model)
        .bind(f64::from(settings.temperature))
        .bind(i64::from(settings.max_tokens))
        .bind(&settings.system_prompt)
        .bind(preset_id)
        .bind(now)
        .bind(agent.as_str())
        .bind(context.to_string())
        .fetch_one(pool).await
        })?;
        Ok(row.into())
    }

    /// Saves the agent's context of a session.
    pub async fn save_context(
        &self,
        session_id: ChatSessionId,
        context: &serde_json::Value,
    ) -> Result<(), AppError> {
        on_engine!(&self.writer, |pool| sqlx::query("UPDATE chat_sessions SET context = $2 WHERE id = $1")
            .bind(session_id)
            .bind(context.to_string())
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        self.forget(session_id);
        Ok(())
    }

    /// `owner_id`'s sessions, most recently active first: the archived ones or the others,
    /// optionally only those whose title contains `search`.
    pub async fn sessions(
        &self,
        owner_id: UserId,
        archived: bool,
        search: Option<&str>,
    ) -> Result<Vec<ChatSession>, AppError> {
        let pattern =
            search.map(str::trim).filter(|s| !s.is_empty()).map(|s| format!("%{}%", escape_like(s)));
        let rows: Vec<SessionRow> = on_engine!(&self.pool, |pool| sqlx::query_as(&format!(
            "SELECT {SESSION_COLUMNS} FROM chat_sessions
             WHERE owner_id = $1 AND archived = $2 AND ($3 IS NULL OR lower(title) LIKE lower($3) ESCAPE '\\')
             ORDER BY updated_at DESC, id DESC LIMIT 500"
        ))
        .bind(owner_id)
        .bind(archived)
        .bind(pattern)
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// One of `owner_id`'s sessions.
    pub async fn session(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
    ) -> Result<ChatSession, AppError> {
        let row: Option<SessionRow> = on_engine!(&self.pool, |pool| sqlx::query_as(&format!(
            "SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE id = $1 AND owner_id = $2"
        ))
        .bind(session_id)
        .bind(owner_id)
        .fetch_optional(pool)
        .await)?;
        row.map(Into::into).ok_or(AppError::NotFound)
    }

    /// Changes a session's title, archived flag and settings (each when given).
    pub async fn update_session(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
        title: Option<&str>,
        archived: Option<bool>,
        settings: Option<&ChatSettings>,
    ) -> Result<ChatSession, AppError> {
        let row: Option<SessionRow> = on_engine!(&self.writer, |pool| sqlx::query_as(&format!(
            "UPDATE chat_sessions SET
                 title = COALESCE($3, title),
                 archived = COALESCE($4, archived),
                 model = COALESCE($5, model),
                 temperature = COALESCE($6, temperature),
                 max_tokens = COALESCE($7, max_tokens),
                 system_prompt = COALESCE($8, system_prompt),
                 updated_at = $9
             WHERE id = $1 AND owner_id = $2 RETURNING {SESSION_COLUMNS}"
        ))
        .bind(session_id)
        .bind(owner_id)
        .bind(title)
        .bind(archived)
        .bind(settings.map(|s| &s.model))
        .bind(settings.map(|s| f64::from(s.temperature)))
        .bind(settings.map(|s| i64::from(s.max_tokens)))
        .bind(settings.map(|s| &s.system_prompt))
        .bind(Utc::now())
        .fetch_optional(pool)
        .await)?;
        self.forget(session_id);
        row.map(Into::into).ok_or(AppError::NotFound)
    }

    /// Marks a session as just active and returns it.
    async fn touch(&self, session_id: ChatSessionId) -> Result<ChatSession, AppError> {
        let row: SessionRow = on_engine!(&self.writer, |pool| sqlx::query_as(&format!(
            "UPDATE chat_sessions SET updated_at = $2 WHERE id = $1 RETURNING {SESSION_COLUMNS}"
        ))
        .bind(session_id)
        .bind(Utc::now())
        .fetch_one(pool)
        .await)?;
        // Every write of a session's messages ends here.
        self.forget(session_id);
        Ok(row.into())
    }

    /// Deletes a session and its messages for good.
    pub async fn delete_session(&self, owner_id: UserId, session_id: ChatSessionId) -> Result<(), AppError> {
        let done = on_engine!(&self.writer, |pool| sqlx::query(
            "DELETE FROM chat_sessions WHERE id = $1 AND owner_id = $2"
        )
        .bind(session_id)
        .bind(owner_id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        self.forget(session_id);
        if done == 0 { Err(AppError::NotFound) } else { Ok(()) }
    }

    /// A page of a session's messages, oldest first: the latest ones, or those before `before`.
    pub async fn messages(
        &self,
        session_id: ChatSessionId,
        before: Option<MessageId>,
        limit: i64,
    ) -> Result<MessagePage, AppError> {
        let mut rows: Vec<MessageRow> = on_engine!(&self.pool, |pool| sqlx::query_as(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages
             WHERE session_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
        ))
        .bind(session_id)
        .bind(before)
        .bind(limit + 1)
        .fetch_all(pool)
        .await)?;
        let more = rows.len() as i64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        rows.reverse();
        let messages: Vec<ChatMessage> = rows.into_iter().map(Into::into).collect();
        let earlier = if more { messages.first().map(|m| m.id) } else { None };
        Ok(MessagePage { messages, earlier })
    }

    /// Every message of a session that a prompt is made of: user messages and the replies'
    /// text and parts so far, oldest first.
    async fn history(&self, session_id: ChatSessionId) -> Result<Vec<ChatMessage>, AppError> {
        let rows: Vec<MessageRow> = on_engine!(&self.pool, |pool| sqlx::query_as(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages
             WHERE session_id = $1 AND (content <> '' OR parts IS NOT NULL) ORDER BY id"
        ))
        .bind(session_id)
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// One message of a session.
    pub async fn message(
        &self,
        session_id: ChatSessionId,
        message_id: MessageId,
    ) -> Result<ChatMessage, AppError> {
        let row: Option<MessageRow> = on_engine!(&self.pool, |pool| sqlx::query_as(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages WHERE id = $1 AND session_id = $2"
        ))
        .bind(message_id)
        .bind(session_id)
        .fetch_optional(pool)
        .await)?;
        row.map(Into::into).ok_or(AppError::NotFound)
    }

    /// The user message a client already sent under `client_id`, and the reply that followed it.
    pub async fn sent_before(
        &self,
        session_id: ChatSessionId,
        client_id: &str,
    ) -> Result<Option<(ChatMessage, Option<ChatMessage>)>, AppError> {
        let row: Option<MessageRow> = on_engine!(&self.pool, |pool| sqlx::query_as(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages WHERE session_id = $1 AND client_id = $2"
        ))
        .bind(session_id)
        .bind(client_id)
        .fetch_optional(pool)
        .await)?;
        let Some(user) = row else { return Ok(None) };
        let reply: Option<MessageRow> = on_engine!(&self.pool, |pool| sqlx::query_as(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages
             WHERE session_id = $1 AND id > $2 AND role = 'assistant' ORDER BY id LIMIT 1"
        ))
        .bind(session_id)
        .bind(user.id)
        .fetch_optional(pool)
        .await)?;
        Ok(Some((user.into(), reply.map(Into::into))))
    }

    /// The session's last message.
    pub async fn last_message(&self, session_id: ChatSessionId) -> Result<Option<ChatMessage>, AppError> {
        let row: Option<MessageRow> = on_engine!(&self.pool, |pool| sqlx::query_as(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages WHERE session_id = $1 ORDER BY id DESC LIMIT 1"
        ))
        .bind(session_id)
        .fetch_optional(pool)
        .await)?;
        Ok(row.map(Into::into))
    }

    /// Stores a user message and an empty `streaming` reply after it in one transaction; the
    /// session gets `title` if it has none yet, and both messages the reply's `format`. Returns
    /// both and the session as it is now.
    pub async fn add_exchange(
        &self,
        session: &ChatSession,
        user: Option<NewUserMessage<'_>>,
        title: &str,
        format: Option<&ResponseFormat>,
    ) -> Result<(Option<ChatMessage>, ChatMessage, ChatSession), AppError> {
        let now = Utc::now();
        let format = format.map(|f| serde_json::to_string(f).unwrap_or_default());
        let (user, reply, session) = on_engine!(&self.writer, |pool| {
            let mut tx = pool.begin().await?;
            let user = match user {
                Some(user) => {
                    let row: MessageRow = sqlx::query_as(&format!(
                        "INSERT INTO chat_messages (session_id, role, content, status, client_id, response_format,
                                                    created_at, updated_at, form_values, files)
                         VALUES ($1, 'user', $2, 'complete', $3, $4, $5, $5, $6, $7) RETURNING {MESSAGE_COLUMNS}"
                    ))
                    .bind(session.id)
                    .bind(user.text)
                    .bind(user.client_id)
                    .bind(&format)
                    .bind(now)
                    .bind(user.values.map(serde_json::Value::to_string))
                    .bind((!user.files.is_empty()).then(|| serde_json::to_string(user.files).unwrap_or_default()))
                    .fetch_one(&mut *tx)
                    .await?;
                    for file in user.files {
                        sqlx::query(
                            "UPDATE chat_files SET message_id = $1 WHERE id = $2 AND message_id IS NULL",
                        )
                        .bind(row.id)
                        .bind(file.id)
                        .execute(&mut *tx)
                        .await?;
                    }
                    Some(row.into())
                }
                None => None,
            };
            let reply: MessageRow = sqlx::query_as(&format!(
                "INSERT INTO chat_messages (session_id, role, content, status, model, response_format, created_at, updated_at)
                 VALUES ($1, 'assistant', '', 'streaming', $2, $3, $4, $4) RETURNING {MESSAGE_COLUMNS}"
            ))
            .bind(session.id)
            .bind(&session.settings.model)
            .bind(&format)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let session: SessionRow = sqlx::query_as(&format!(
                "UPDATE chat_sessions SET updated_at = $2, title = CASE WHEN title = '' THEN $3 ELSE title END
                 WHERE id = $1 RETURNING {SESSION_COLUMNS}"
            ))
            .bind(session.id)
            .bind(now)
            .bind(title)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            (user, reply, session)
        });
        self.forget(session.id);
        Ok((user, reply.into(), session.into()))
    }

    /// Saves streaming replies' text and parts so far, in one write per thousand replies.
    pub async fn save_progress(
        &self,
        progress: &[(MessageId, String, Vec<PlacedPart>)],
    ) -> Result<(), AppError> {
        let now = Utc::now();
        for batch in progress.chunks(1000) {
            on_engine!(&self.writer, |pool| {
                let mut query = QueryBuilder::new("WITH progress (id, content, parts) AS (");
                query.push_values(batch, |mut row, (id, content, parts)| {
                    row.push_bind(*id).push_bind(content).push_bind(parts_column(parts));
                });
                query
                    .push(") UPDATE chat_messages SET content = progress.content, parts = progress.parts, updated_at = ")
                    .push_bind(now)
                    .push(" FROM progress WHERE chat_messages.id = progress.id AND chat_messages.status = 'streaming'");
                query.build().execute(pool).await?;
            });
        }
        Ok(())
    }

    /// Stores how a reply ended and returns it with its session.
    pub async fn finish_reply(
        &self,
        session_id: ChatSessionId,
        message_id: MessageId,
        end: &ReplyEnd,
    ) -> Result<(ChatMessage, ChatSession), AppError> {
        let row: MessageRow = on_engine!(&self.writer, |pool| sqlx::query_as(&format!(
            "UPDATE chat_messages SET content = $2, status = $3, finish_reason = $4, prompt_tokens = $5,
                                      completion_tokens = $6, error = $7, updated_at = $8, parts = $9
             WHERE id = $1 RETURNING {MESSAGE_COLUMNS}"
        ))
        .bind(message_id)
        .bind(&end.content)
        .bind(end.status.unwrap_or(MessageStatus::Complete))
        .bind(&end.finish_reason)
        .bind(end.usage.map(|u| i64::from(u.prompt_tokens)))
        .bind(end.usage.map(|u| i64::from(u.completion_tokens)))
        .bind(&end.error)
        .bind(Utc::now())
        .bind(parts_column(&end.parts))
        .fetch_one(pool)
        .await)?;
        Ok((row.into(), self.touch(session_id).await?))
    }

    /// Deletes a session's reply (to regenerate it).
    pub async fn delete_message(
        &self,
        session_id: ChatSessionId,
        message_id: MessageId,
    ) -> Result<(), AppError> {
        on_engine!(&self.writer, |pool| sqlx::query(
            "DELETE FROM chat_messages WHERE id = $1 AND session_id = $2"
        )
        .bind(message_id)
        .bind(session_id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        self.forget(session_id);
        Ok(())
    }

    /// Marks replies left `streaming` by a previous run as `interrupted`; returns how many.
    pub async fn interrupt_unfinished(&self) -> Result<u64, AppError> {
        let done = on_engine!(&self.writer, |pool| {
            sqlx::query(
            "UPDATE chat_messages SET status = 'interrupted', error = 'the server restarted while it was being written'
             WHERE status = 'streaming'",
        )
        .execute(pool).await?.rows_affected()
        });
        Ok(done)
    }

    /// Every reply being written on any replica, with its session and the session's owner.
    pub async fn streaming_replies(&self) -> Result<Vec<(UserId, ChatSessionId, MessageId)>, AppError> {
        let rows = on_engine!(&self.pool, |pool| {
            sqlx::query_as(
            "SELECT s.owner_id, m.session_id, m.id FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id
             WHERE m.status = 'streaming'"
        )
        .fetch_all(pool)
        .await
        })?;
        Ok(rows)
    }

    /// Marks a reply still `streaming` as `interrupted` with its text and parts so far, because
    /// of `reason`; returns it and its session, or none when it had ended meanwhile.
    pub async fn interrupt(
        &self,
        session_id: ChatSessionId,
        message_id: MessageId,
        (content, parts): (&str, &[PlacedPart]),
        reason: &str,
    ) -> Result<Option<(ChatMessage, ChatSession)>, AppError> {
        let row: Option<MessageRow> = on_engine!(&self.writer, |pool| {
            sqlx::query_as(&format!(
            "UPDATE chat_messages SET status = 'interrupted', content = $2, parts = $3, error = $4, updated_at = $5
             WHERE id = $1 AND status = 'streaming' RETURNING {MESSAGE_COLUMNS}"
        ))
        .bind(message_id)
        .bind(content)
        .bind(parts_column(parts))
        .bind(reason)
        .bind(Utc::now())
        .fetch_optional(pool)
        .await
        })?;
        match row {
            Some(row) => Ok(Some((row.into(), self.touch(session_id).await?))),
            None => Ok(None),
        }
    }

    /// `owner_id`'s chat statistics.
    pub async fn stats(&self, owner_id: UserId) -> Result<ChatStats, AppError> {
        let (sessions, archived_sessions): (i64, i64) = on_engine!(&self.pool, |pool| sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE NOT archived), COUNT(*) FILTER (WHERE archived)
             FROM chat_sessions WHERE owner_id = $1",
        )
        .bind(owner_id)
        .fetch_one(pool)
        .await)?;
        let (user_messages, replies, completion_tokens): (i64, i64, i64) = on_engine!(&self.pool, |pool| {
            sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE m.role = 'user'), COUNT(*) FILTER (WHERE m.role = 'assistant'),
                    CAST(COALESCE(SUM(m.completion_tokens), 0) AS BIGINT)
             FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id WHERE s.owner_id = $1",
        )
        .bind(owner_id)
        .fetch_one(pool).await
        })?;
        Ok(ChatStats { sessions, archived_sessions, user_messages, replies, completion_tokens })
    }

    /// The presets `viewer` may use: their own and the public ones, by name.
    pub async fn presets(&self, viewer: UserId) -> Result<Vec<Preset>, AppError> {
        let rows: Vec<PresetRow> = on_engine!(&self.pool, |pool| sqlx::query_as(&format!(
            "SELECT {PRESET_COLUMNS} FROM chat_presets p JOIN users u ON u.id = p.owner_id
             WHERE p.owner_id = $1 OR p.public ORDER BY p.name, p.id"
        ))
        .bind(viewer)
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(|r| r.into_preset(viewer)).collect())
    }

    /// A preset `viewer` may use.
    pub async fn preset(&self, viewer: UserId, preset_id: PresetId) -> Result<Preset, AppError> {
        let row: Option<PresetRow> = on_engine!(&self.pool, |pool| sqlx::query_as(&format!(
            "SELECT {PRESET_COLUMNS} FROM chat_presets p JOIN users u ON u.id = p.owner_id
             WHERE p.id = $2 AND (p.owner_id = $1 OR p.public)"
        ))
        .bind(viewer)
        .bind(preset_id)
        .fetch_optional(pool)
        .await)?;
        row.map(|r| r.into_preset(viewer)).ok_or(AppError::NotFound)
    }

    /// Creates a preset (no `id`) or replaces one of `owner_id`'s.
    pub async fn save_preset(
        &self,
        owner_id: UserId,
        id: Option<PresetId>,
        draft: &PresetDraft,
    ) -> Result<Preset, AppError> {
        let query = match id {
            None => {
                "INSERT INTO chat_presets (name, description, model, temperature, max_tokens, system_prompt, public,
                                           owner_id, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id"
            }
            Some(_) => {
                "UPDATE chat_presets SET name = $1, description = $2, model = $3, temperature = $4, max_tokens = $5,
                                         system_prompt = $6, public = $7
                 WHERE owner_id = $8 AND id = $10 RETURNING id"
            }
        };
        let saved: Option<(PresetId,)> = on_engine!(&self.writer, |pool| sqlx::query_as(query)
            .bind(&draft.name)
            .bind(&draft.description)
            .bind(&draft.settings.model)
            .bind(f64::from(draft.settings.temperature))
            .bind(i64::from(draft.settings.max_tokens))
            .bind(&draft.settings.system_prompt)
            .bind(draft.public)
            .bind(owner_id)
            .bind(Utc::now())
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        let (id,) = saved.ok_or(AppError::NotFound)?;
        self.preset(owner_id, id).await
    }

    /// Deletes one of `owner_id`'s presets.
    pub async fn delete_preset(&self, owner_id: UserId, preset_id: PresetId) -> Result<(), AppError> {
        let done = on_engine!(&self.writer, |pool| sqlx::query(
            "DELETE FROM chat_presets WHERE id = $1 AND owner_id = $2"
        )
        .bind(preset_id)
        .bind(owner_id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        if done == 0 { Err(AppError::NotFound) } else { Ok(()) }
    }

    /// The models last discovered.
    pub async fn models(&self) -> Result<Vec<ModelInfo>, AppError> {
        let rows: Vec<(String, String, String)> = on_engine!(&self.pool, |pool| sqlx::query_as(
            "SELECT id, provider, name FROM chat_models ORDER BY provider, name"
        )
        .fetch_all(pool)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(id, provider, name)| ModelInfo { id, provider, name, note: None })
            .collect())
    }

    /// Replaces `provider`'s discovered models by `models`.
    pub async fn replace_models(&self, provider: &str, models: &[ModelInfo]) -> Result<(), AppError> {
        let now = Utc::now();
        on_engine!(&self.writer, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM chat_models WHERE provider = $1")
                .bind(provider)
                .execute(&mut *tx)
                .await?;
            for model in models {
                sqlx::query(
                    "INSERT INTO chat_models (id, provider, name, synced_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (id) DO UPDATE
                     SET provider = excluded.provider, name = excluded.name, synced_at = excluded.synced_at",
                )
                .bind(&model.id)
                .bind(provider)
                .bind(&model.name)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
