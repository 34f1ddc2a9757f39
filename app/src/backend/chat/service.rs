//! The chat service: the one place that sessions, messages, presets and replies are handled.
//! Server functions, the REST API and the websockets all call it.
//!
//! The server owns generation: a reply runs in its own task, is saved every few hundred
//! milliseconds while it streams, and ends `complete`, `stopped` or `error` whether or not anyone
//! is still watching.

use crate::protocol::{ChatSessionId, FinishReason, MessageId, PresetId, ProviderKind, UserId};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::files::{Attachment, FileStore};
use super::providers::Providers;
use super::read_ahead::TurnStart;
use super::replies::{Chunk, Followed, Follower, LiveReplies, LiveReply};
use super::shared::{Heard, SWEEP_EVERY, SharedReplies, Signal};
use super::store::{ChatStore, MESSAGE_PAGE, NewUserMessage, ReplyEnd};
use crate::backend::agents::{
    AgentError, Agents, Answer, Answering, Approvals, Output, Turn, TurnEvent, UserMessage, model_turns,
};
use crate::backend::{AppError, Hub};
use crate::protocol::{
    AgentList, AgentPath, ChatMessage, ChatSession, ChatSettings, ChatStats, FileId, FileInfo, LiveUpdate,
    MAX_FILES_PER_MESSAGE, MessagePage, MessageStatus, ModelInfo, ModelList, Preset, PresetDraft,
    ProviderHealth, ResponseFormat, Role, SessionUpdate, SettingsChange, Usage, UserInfo, parse_client_id,
    parse_form_values, parse_user_message, title_from,
};

/// Events a session's slowest connection may fall behind by (each open session's channel
/// allocates them all; a session has few events: messages, replies starting, typing).
const SESSION_BACKLOG: usize = 32;

/// How often a streaming reply's text is saved.
const SAVE_EVERY: Duration = Duration::from_millis(250);

/// How long writing a new exchange waits for the model server to answer the turn's request:
/// until then, the request (on its way out, on two cores) does not share them with the write.
const ANSWER_FIRST: Duration = Duration::from_millis(1);

/// How long a stopped agent may take to notice before its turn is dropped (its context is
/// saved either way once it returns).
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What happens in a session, for its open connections (on every replica).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SessionEvent {
    /// A user message was stored.
    UserMessage {
        /// The message.
        message: Arc<ChatMessage>,
    },
    /// A reply started.
    ReplyStarted {
        /// The reply, when this replica writes it (else it is followed through Redis).
        #[serde(skip)]
        reply: Option<Arc<LiveReply>>,
        /// The reply as stored when it started.
        message: Arc<ChatMessage>,
    },
    /// The user started or stopped typing on the connection `origin`.
    Typing {
        /// Started (true) or stopped.
        active: bool,
        /// The connection it came from, which does not echo it.
        origin: u64,
    },
}

/// A user message and the reply it started (or, for a re-sent `client_id`, the ones stored
/// the first time).
#[derive(Clone, Debug)]
pub struct Exchange {
    /// The user message.
    pub user: ChatMessage,
    /// The reply, unless a re-sent message's reply was since deleted.
    pub reply: Option<ChatMessage>,
    /// False when the message had been sent before.
    pub fresh: bool,
}

/// How a session starts: its agent, the agent's start arguments and the model settings.
#[derive(Clone, Debug, Default)]
pub struct SessionStart {
    /// The agent's path; `chat` when none.
    pub agent: Option<AgentPath>,
    /// The start arguments the agent builds its context from (`null` for none).
    pub context: Value,
    /// The model settings given; the defaults for the others.
    pub settings: Option<SettingsChange>,
}

/// A user message to send.
#[derive(Clone, Debug, Default)]
pub struct NewMessage {
    /// What the user wrote.
    pub text: String,
    /// The client's id for it, so a re-send is recognised.
    pub client_id: Option<String>,
    /// The shape the reply must have.
    pub format: Option<ResponseFormat>,
    /// The values of a submitted form (an object).
    pub values: Option<Value>,
    /// Files uploaded to the session to send with it.
    pub files: Vec<FileId>,
}

/// Settings of new sessions, besides the model.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatDefaults {
    /// Sampling temperature.
    pub temperature: f32,
    /// Most tokens per reply.
    pub max_tokens: u32,
    /// Instructions before every conversation.
    pub system_prompt: String,
}

/// The chat service.
#[derive(Clone, Debug)]
pub struct ChatService {
    store: ChatStore,
    providers: Providers,
    defaults: Arc<ChatDefaults>,
    replies: LiveReplies,
    sessions: Hub<SessionEvent, ChatSessionId>,
    users: Hub,
    agents: Agents,
    approvals: Approvals,
    files: FileStore,
    /// The replies shared with the other replicas, when they share a Redis.
    shared: Option<Arc<SharedReplies>>,
}

impl ChatService {
    /// The service over `store` and `files`, answering with `agents` (which use `providers`),
    /// publishing session-list changes to `users`.
    pub fn new(
        (store, files): (ChatStore, FileStore),
        (providers, defaults): (Providers, ChatDefaults),
        agents: Agents,
        users: Hub,
    ) -> Self {
        Self {
            store,
            providers,
            defaults: Arc::new(defaults),
            replies: LiveReplies::default(),
            sessions: Hub::with_backlog(SESSION_BACKLOG),
            users,
            agents,
            approvals: Approvals::default(),
            files,
            shared: None,
        }
    }

    /// Shares replies with the other replicas (before [`start`](Self::start)): any replica
    /// resumes, follows and stops them, and marks those of a replica that died `interrupted`.
    pub fn share_replies(&mut self, shared: Arc<SharedReplies>) {
        self.store.tell_writes_to(shared.clone());
        self.shared = Some(shared);
    }

    /// What happens in sessions, for their connections (relayed to the other replicas).
    pub fn sessions_hub(&self) -> Hub<SessionEvent, ChatSessionId> {
        self.sessions.clone()
    }

    /// The agents sessions can be started with.
    pub fn agents(&self) -> AgentList {
        self.agents.list()
    }

    /// Marks replies a previous run left unfinished as `interrupted` (with replicas: those whose
    /// replica stopped, from now on), starts saving replies as they grow, and discovers the
    /// providers' models in the background. Call once at start-up.
    pub async fn start(&self) -> Result<(), AppError> {
        match &self.shared {
            Some(shared) => {
                self.keep_sweeping(shared.clone());
                self.keep_hearing(shared);
            }
            None => {
                let interrupted = self.store.interrupt_unfinished().await?;
                if interrupted > 0 {
                    tracing::warn!(
                        interrupted,
                        "replies cut short by the last shutdown are marked interrupted"
                    );
                }
            }
        }
        self.keep_saving();
        let service = self.clone();
        tokio::spawn(async move {
            for (provider, error) in service.sync_models().await.1 {
                tracing::warn!(provider, "cannot list the models: {error}");
            }
        });
        Ok(())
    }

    /// Gets the default model's provider ready in the background (the embedded model takes
    /// seconds to load), so the first reply is not slower than the next.
    pub fn warm_up_default_model(&self) {
        let providers = self.providers.clone();
        tokio::spawn(async move {
            if let Ok((provider, model)) = providers.resolve(providers.default_model())
                && let Err(e) = provider.warm_up(model).await
            {
                tracing::warn!("the default model is not ready: {e}");
            }
        });
    }

    /// The settings a new session gets.
    pub fn default_settings(&self) -> ChatSettings {
        ChatSettings {
            model: self.providers.default_model().to_owned(),
            temperature: self.defaults.temperature,
            max_tokens: self.defaults.max_tokens,
            system_prompt: self.defaults.system_prompt.clone(),
        }
    }

    /// Valid settings, for a model that a provider serves.
    fn checked(&self, settings: ChatSettings) -> Result<ChatSettings, AppError> {
        let settings = settings.validate()?;
        self.known_model(&settings.model)?;
        Ok(settings)
    }

    fn known_model(&self, model: &str) -> Result<(), AppError> {
        self.providers.resolve(model).map(drop).map_err(|e| AppError::BadRequest(e.to_string()))
    }

    fn session_changed(&self, owner_id: UserId, session: &ChatSession) {
        self.users.publish(owner_id, LiveUpdate::ChatSessionUpdated { session: session.clone() });
    }

    /// Starts a session for `visitor` with an agent (`chat` unless given), whose context is
    /// built from the start arguments, and the default model settings unless given.
    pub async fn create_session(
        &self,
        visitor: &UserInfo,
        start: SessionStart,
    ) -> Result<ChatSession, AppError> {
        let settings = self.checked(start.settings.unwrap_or_default().over(self.default_settings()))?;
        let agent = start.agent.unwrap_or_default();
        let context = self.agents.create_context(&agent, visitor, start.context)?;
        let session = self.store.create_session(visitor.id, "", &settings, None, (&agent, &context)).await?;
        self.session_changed(visitor.id, &session);
        Ok(session)
    }

    /// Starts a `chat` session with a preset's settings.
    pub async fn create_session_from_preset(
        &self,
        visitor: &UserInfo,
        preset_id: PresetId,
    ) -> Result<ChatSession, AppError> {
        let preset = self.store.preset(visitor.id, preset_id).await?;
        let settings = self.checked(preset.preset.settings)?;
        let agent = AgentPath::default();
        let context = self.agents.create_context(&agent, visitor, Value::Null)?;
        let session = self
            .store
            .create_session(visitor.id, &preset.preset.name, &settings, Some(preset_id), (&agent, &context))
            .await?;
        self.session_changed(visitor.id, &session);
        Ok(session)
    }

    /// `owner_id`'s sessions, most recent first (archived ones on request), optionally
    /// searched by title.
    pub async fn sessions(
        &self,
        owner_id: UserId,
        archived: bool,
        search: Option<&str>,
    ) -> Result<Vec<ChatSession>, AppError> {
        self.store.sessions(owner_id, archived, search).await
    }

    /// One of `owner_id`'s sessions.
    pub async fn session(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
    ) -> Result<ChatSession, AppError> {
        self.store.session(owner_id, session_id).await
    }

    /// Renames, archives, restores or re-configures a session.
    pub async fn update_session(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
        update: SessionUpdate,
    ) -> Result<ChatSession, AppError> {
        let title = update.title.map(|t| t.trim().to_owned());
        if title.as_ref().is_some_and(|t| !(1..=200).contains(&t.chars().count())) {
            return Err(AppError::BadRequest("a title has 1 to 200 characters".into()));
        }
        let settings = match update.settings {
            Some(change) => {
                let current = self.store.session(owner_id, session_id).await?.settings;
                Some(self.checked(change.over(current))?)
            }
            None => None,
        };
        let session = self
            .store
            .update_session(owner_id, session_id, title.as_deref(), update.archived, settings.as_ref())
            .await?;
        self.session_changed(owner_id, &session);
        Ok(session)
    }

    /// Deletes a session for good, with its files, stopping its reply first.
    pub async fn delete_session(&self, owner_id: UserId, session_id: ChatSessionId) -> Result<(), AppError> {
        self.store.session(owner_id, session_id).await?;
        self.stop_reply(session_id).await;
        let files = self.files.list(owner_id, session_id).await?;
        self.store.delete_session(owner_id, session_id).await?;
        self.files.delete_bytes(&files).await;
        self.users.publish(owner_id, LiveUpdate::ChatSessionDeleted { session_id });
        Ok(())
    }

    /// A page of a session's messages, oldest first: the latest, or those before `before`.
    pub async fn messages(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
        before: Option<MessageId>,
    ) -> Result<MessagePage, AppError> {
        self.store.session(owner_id, session_id).await?;
        self.store.messages(session_id, before, MESSAGE_PAGE).await
    }

    /// A message of one of `owner_id`'s sessions.
    pub async fn message(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
        message_id: MessageId,
    ) -> Result<ChatMessage, AppError> {
        self.store.session(owner_id, session_id).await?;
        self.store.message(session_id, message_id).await
    }

    /// Stores a user message and starts the session agent's reply, in the message's format when
    /// one is given (a JSON Schema, say). A `client_id` sent before returns the stored exchange
    /// instead, so re-sending after a reconnect never duplicates.
    pub async fn send(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
        message: NewMessage,
    ) -> Result<Exchange, AppError> {
        let text = parse_user_message(&message.text)?;
        let client_id = message.client_id.as_deref().map(parse_client_id).transpose()?;
        let format = message.format.map(ResponseFormat::validate).transpose()?.flatten();
        let values = message.values.map(parse_form_values).transpose()?;
        if message.files.len() > MAX_FILES_PER_MESSAGE {
            return Err(AppError::BadRequest(format!(
                "a message carries at most {MAX_FILES_PER_MESSAGE} files"
            )));
        }
        // Read ahead (when the connection opened, or as the last reply ended): no database
        // round trip before the model is asked.
        let start = self.store.turn_start(owner_id, session_id).await?;
        if let Some(client_id) = &client_id
            && start.history.iter().any(|m| m.client_id.as_ref() == Some(client_id))
            && let Some((user, reply)) = self.store.sent_before(session_id, client_id).await?
        {
            return Ok(Exchange { user, reply, fresh: false });
        }
        if start.session.archived {
            return Err(AppError::Conflict("the chat is archived; restore it to continue".into()));
        }
        let attachments = self.files.unsent(owner_id, session_id, &message.files).await?;
        let files: Vec<FileInfo> = attachments.iter().map(|a| a.info.clone()).collect();
        self.claim(session_id).await?;
        let started = async {
            // The agent starts before the exchange is stored: neither the model request nor the
            // first token is held up by the database (if storing fails, dropping the turn stops
            // it).
            let session = start.session.clone();
            let asked = UserMessage { text: text.clone(), values: values.clone() };
            let turn = self.start_turn(owner_id, start, (asked, attachments), format.clone());
            turn.answering.wait(ANSWER_FIRST).await;
            let user = NewUserMessage {
                text: &text,
                client_id: client_id.as_deref(),
                values: values.as_ref(),
                files: &files,
            };
            let stored =
                self.store.add_exchange(&session, Some(user), &title_from(&text), format.as_ref()).await?;
            Ok((turn, stored))
        }
        .await;
        let (turn, (user, reply, session)) = self.unclaim_on_error(session_id, started)?;
        let user = user.ok_or_else(|| AppError::Internal("the user message was not stored".into()))?;
        self.sessions.publish(session_id, SessionEvent::UserMessage { message: Arc::new(user.clone()) });
        self.begin_reply(owner_id, session, reply.clone(), turn);
        Ok(Exchange { user, reply: Some(reply), fresh: true })
    }

    /// Replaces the session's last reply by a new one, to the last user message.
    pub async fn regenerate(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
    ) -> Result<ChatMessage, AppError> {
        self.store.session(owner_id, session_id).await?;
        self.claim(session_id).await?;
        let started = async {
            match self.store.last_message(session_id).await? {
                Some(last) if last.role == Role::Assistant => {
                    self.store.delete_message(session_id, last.id).await?
                }
                Some(_) => {}
                None => return Err(AppError::Conflict("there is nothing to answer yet".into())),
            }
            let mut start = self.store.turn_start(owner_id, session_id).await?;
            let Some(asked) = start.history.pop().filter(|m| m.role == Role::User) else {
                return Err(AppError::Conflict("there is nothing to answer yet".into()));
            };
            let format = asked.response_format.clone();
            let attachments = self.files.of_message(owner_id, session_id, asked.id).await?;
            let message = UserMessage { text: asked.content, values: asked.values };
            let session = start.session.clone();
            let turn = self.start_turn(owner_id, start, (message, attachments), format.clone());
            turn.answering.wait(ANSWER_FIRST).await;
            Ok((turn, self.store.add_exchange(&session, None, "", format.as_ref()).await?))
        }
        .await;
        let (turn, (_, reply, session)) = self.unclaim_on_error(session_id, started)?;
        self.begin_reply(owner_id, session, reply.clone(), turn);
        Ok(reply)
    }

    /// Answers a call waiting for the user's approval in the session's reply.
    pub async fn approve(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
        call_id: &str,
        approved: bool,
    ) -> Result<(), AppError> {
        self.store.session(owner_id, session_id).await?;
        if self.approvals.decide(session_id, call_id, approved) {
            Ok(())
        } else {
            Err(AppError::Conflict(format!("no call `{call_id}` is waiting for approval")))
        }
    }

    /// Reserves the session for a new reply, here and (with replicas) on every replica.
    async fn claim(&self, session_id: ChatSessionId) -> Result<(), AppError> {
        let busy = || AppError::Conflict("a reply is still being written; stop it or wait for it".into());
        if !self.replies.claim(session_id) {
            return Err(busy());
        }
        let Some(shared) = &self.shared else { return Ok(()) };
        match shared.claim(session_id).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.replies.release(session_id);
                Err(busy())
            }
            Err(e) => {
                tracing::warn!(session = %session_id, "a reply starts without the other replicas: {e}");
                Ok(())
            }
        }
    }

    fn unclaim_on_error<T>(
        &self,
        session_id: ChatSessionId,
        result: Result<T, AppError>,
    ) -> Result<T, AppError> {
        if result.is_err() {
            self.replies.release(session_id);
            if let Some(shared) = self.shared.clone() {
                tokio::spawn(async move {
                    if let Err(e) = shared.release(session_id).await {
                        tracing::warn!(session = %session_id, "a reply's claim stays until it expires: {e}");
                    }
                });
            }
        }
        result
    }

    /// Stops the session's reply, if one is being written; true if there was one.
    pub async fn stop(&self, owner_id: UserId, session_id: ChatSessionId) -> Result<bool, AppError> {
        self.store.session(owner_id, session_id).await?;
        Ok(self.stop_reply(session_id).await)
    }

    /// Stops the session's reply, here or on the replica writing it; true if there was one.
    async fn stop_reply(&self, session_id: ChatSessionId) -> bool {
        if let Some(reply) = self.replies.in_session(session_id) {
            reply.cancel.cancel();
            return true;
        }
        let Some(shared) = &self.shared else { return false };
        shared.stop(session_id).await.unwrap_or_else(|e| {
            tracing::warn!(session = %session_id, "cannot ask the other replicas to stop a reply: {e}");
            false
        })
    }

    /// The session's reply being written, here or on another replica.
    pub async fn streaming_reply(&self, session_id: ChatSessionId) -> Option<MessageId> {
        if let Some(reply) = self.replies.in_session(session_id) {
            return Some(reply.message_id);
        }
        let shared = self.shared.as_ref()?;
        shared.streaming(session_id).await.unwrap_or_else(|e| {
            tracing::warn!(session = %session_id, "cannot ask the other replicas for a reply: {e}");
            None
        })
    }

    /// Follows a reply of the session being written (here or on another replica) from the
    /// chunk after `after_seq`; none once it has ended.
    pub async fn follow(
        &self,
        session_id: ChatSessionId,
        message_id: MessageId,
        after_seq: u64,
    ) -> Option<Follower> {
        if let Some(reply) = self.replies.get(message_id).filter(|r| r.session_id == session_id) {
            return Some(reply.follow(after_seq));
        }
        let shared = self.shared.as_ref()?;
        let store = self.store.clone();
        shared.follow((session_id, message_id), after_seq, store).await.unwrap_or_else(|e| {
            tracing::warn!(reply = %message_id, "cannot follow a reply through Redis: {e}");
            None
        })
    }

    /// Stores a file uploaded to one of `owner_id`'s sessions, to send with a message.
    pub async fn upload(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Result<FileInfo, AppError> {
        self.store.session(owner_id, session_id).await?;
        self.files.save(owner_id, session_id, filename, bytes).await
    }

    /// The files uploaded to one of `owner_id`'s sessions, oldest first.
    pub async fn files(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
    ) -> Result<Vec<FileInfo>, AppError> {
        self.store.session(owner_id, session_id).await?;
        self.files.list(owner_id, session_id).await
    }

    /// One of `owner_id`'s files and its bytes.
    pub async fn file(&self, owner_id: UserId, file_id: FileId) -> Result<(FileInfo, Vec<u8>), AppError> {
        self.files.content(owner_id, file_id).await
    }

    /// How many replies are being written right now.
    pub fn replies_in_progress(&self) -> usize {
        self.replies.count()
    }

    /// Waits for a reply to end and returns it as stored.
    pub async fn wait_for(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
        message_id: MessageId,
    ) -> Result<ChatMessage, AppError> {
        if let Some(mut follower) = self.follow(session_id, message_id, u64::MAX).await {
            while let Some(followed) = follower.next().await {
                if let Followed::Finished(message) = followed {
                    return Ok(*message);
                }
            }
        }
        self.message(owner_id, session_id, message_id).await
    }

    /// Receives what happens in a session from now on (after checking it is `owner_id`'s).
    pub async fn subscribe(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
    ) -> Result<broadcast::Receiver<SessionEvent>, AppError> {
        // Its next turn, read now, starts without a database round trip.
        self.store.read_ahead(owner_id, session_id).await?;
        Ok(self.sessions.subscribe(session_id))
    }

    /// Tells the session's other connections that the user is typing (or stopped).
    pub fn typing(&self, session_id: ChatSessionId, active: bool, origin: u64) {
        self.sessions.publish(session_id, SessionEvent::Typing { active, origin });
    }

    /// Starts the session's agent on `message` and its files, after the session's history; its
    /// output waits for the reply to be stored.
    fn start_turn(
        &self,
        owner_id: UserId,
        TurnStart { session, history, context }: TurnStart,
        (message, files): (UserMessage, Vec<Attachment>),
        response_format: Option<ResponseFormat>,
    ) -> RunningTurn {
        let cancel = CancellationToken::new();
        let (output, events) = Output::new(cancel.clone());
        let answering = output.answering();
        let mut turn = Turn {
            output,
            owner_id,
            session_id: session.id,
            history: model_turns(history),
            files,
            settings: session.settings,
            response_format,
            providers: self.providers.clone(),
            approvals: self.approvals.clone(),
        };
        let (agents, store, agent, session_id, mut context) =
            (self.agents.clone(), self.store.clone(), session.agent, session.id, context);
        let runner = tokio::spawn(async move {
            let before = context.clone();
            let answer = agents.respond(&agent, &message, &mut context, &mut turn).await;
            if context != before
                && let Err(e) = Box::pin(store.save_context(session_id, &context)).await
            {
                tracing::error!(session = %session_id, "cannot save an agent's context: {e}");
            }
            if let Ok(Answer::Text(text)) = &answer {
                turn.write(text.clone());
            }
            answer.map(drop)
        });
        RunningTurn { cancel, events, answering, runner: Some(runner) }
    }

    fn begin_reply(&self, owner_id: UserId, session: ChatSession, message: ChatMessage, turn: RunningTurn) {
        let reply = self.replies.start(session.id, message.id, turn.cancel.clone(), self.shared.is_some());
        if let Some(shared) = &self.shared {
            shared.mirror(reply.clone());
        }
        let started =
            SessionEvent::ReplyStarted { reply: Some(reply.clone()), message: Arc::new(message.clone()) };
        self.sessions.publish(session.id, started);
        self.session_changed(owner_id, &session);
        let service = self.clone();
        tokio::spawn(async move { service.write_reply(owner_id, session, reply, message, turn).await });
    }

    /// Takes a reply to its end, saving it as it grows.
    async fn write_reply(
        &self,
        owner_id: UserId,
        session: ChatSession,
        reply: Arc<LiveReply>,
        message: ChatMessage,
        mut turn: RunningTurn,
    ) {
        let mut end = self.stream_reply(&mut turn, &reply).await;
        (end.content, end.parts) = reply.content();
        // The database's futures are boxed where they are awaited: a reply's task holds only
        // what streaming needs while it streams.
        let finished = match Box::pin(self.store.finish_reply(session.id, message.id, &end)).await {
            Ok((finished, session)) => {
                self.session_changed(owner_id, &session);
                finished
            }
            Err(e) => {
                tracing::error!(reply = %message.id, "cannot store the end of a reply: {e}");
                ChatMessage {
                    content: end.content,
                    status: end.status.unwrap_or(MessageStatus::Error),
                    parts: end.parts,
                    ..message
                }
            }
        };
        // A stopped agent finishes (and saves its context) before the session takes another turn.
        if let Some(runner) = turn.runner.take() {
            let abort = runner.abort_handle();
            if tokio::time::timeout(STOP_GRACE, runner).await.is_err() {
                abort.abort();
                tracing::warn!(session = %session.id, "a stopped agent did not return in time");
            }
        }
        // The session is free before anyone hears the reply ended, so an answer to it is taken.
        self.replies.remove(reply.message_id);
        self.replies.release(session.id);
        // The next turn is read before anyone hears this one ended (and may send the next).
        if let Err(e) = Box::pin(self.store.read_ahead(owner_id, session.id)).await {
            tracing::debug!(session = %session.id, "cannot read a session's next turn ahead: {e}");
        }
        reply.finish(finished);
    }

    /// Moves the turn's output into the reply until the agent returns or the user stops it.
    async fn stream_reply(&self, turn: &mut RunningTurn, reply: &Arc<LiveReply>) -> ReplyEnd {
        let (mut finish_reason, mut usage) = (None, None::<Usage>);
        let mut apply = |event: TurnEvent| match event {
            TurnEvent::Text(text) => {
                reply.push(Chunk::Text(text));
            }
            TurnEvent::Part(part) => {
                reply.push(Chunk::Part(part));
            }
            TurnEvent::ModelDone { finish_reason: reason, usage: used } => {
                finish_reason = reason;
                if let Some(used) = used {
                    let total = usage.get_or_insert_default();
                    total.prompt_tokens += used.prompt_tokens;
                    total.completion_tokens += used.completion_tokens;
                }
            }
        };
        let stopped = ReplyEnd {
            status: Some(MessageStatus::Stopped),
            finish_reason: Some(FinishReason::Stopped),
            ..ReplyEnd::default()
        };
        let Some(runner) = turn.runner.as_mut() else { return stopped };
        let outcome = loop {
            tokio::select! {
                biased;
                () = reply.cancel.cancelled() => return stopped,
                Some(event) = turn.events.recv() => apply(event),
                outcome = &mut *runner => break outcome,
            }
        };
        turn.runner = None;
        while let Ok(event) = turn.events.try_recv() {
            apply(event);
        }
        let failed = |error: String| ReplyEnd {
            status: Some(MessageStatus::Error),
            error: Some(error),
            ..ReplyEnd::default()
        };
        match outcome {
            Ok(Ok(())) => ReplyEnd {
                status: Some(MessageStatus::Complete),
                finish_reason: Some(finish_reason.unwrap_or(FinishReason::Stop)),
                usage,
                ..ReplyEnd::default()
            },
            Ok(Err(AgentError::Stopped)) => stopped,
            Ok(Err(error)) => failed(error.to_string()),
            Err(panic) => {
                tracing::error!("an agent failed: {panic}");
                failed("the agent failed".into())
            }
        }
    }

    /// Saves the text of every reply in progress that grew, every [`SAVE_EVERY`], in one
    /// write: beside the streaming (a slow write never delays a chunk), and with one commit for
    /// any number of replies.
    fn keep_saving(&self) {
        let (replies, store) = (self.replies.clone(), self.store.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAVE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let progress: Vec<_> = replies
                    .all()
                    .iter()
                    .filter_map(|reply| {
                        reply.progress_to_save().map(|(text, parts)| (reply.message_id, text, parts))
                    })
                    .collect();
                if !progress.is_empty()
                    && let Err(e) = store.save_progress(&progress).await
                {
                    tracing::warn!("cannot save the progress of {} replies: {e}", progress.len());
                }
            }
        });
    }

    /// Marks replies whose replica stopped `interrupted`, every [`SWEEP_EVERY`]: those left
    /// `streaming` whose lease no replica holds any more. Each keeps every chunk its stream has
    /// (or, when that is less, what its replica saved).
    fn keep_sweeping(&self, shared: Arc<SharedReplies>) {
        let service = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = service.sweep(&shared).await {
                    tracing::warn!("cannot look for replies whose replica stopped: {e}");
                }
            }
        });
    }

    async fn sweep(&self, shared: &SharedReplies) -> Result<(), AppError> {
        let streaming = self.store.streaming_replies().await?;
        let elsewhere: Vec<_> = streaming
            .iter()
            .filter(|(_, _, message_id)| self.replies.get(*message_id).is_none())
            .map(|(_, session_id, message_id)| (*session_id, *message_id))
            .collect();
        let orphans = shared.orphans(&elsewhere).await.map_err(|e| AppError::Internal(e.to_string()))?;
        for (session_id, message_id) in orphans {
            let saved = self.store.message(session_id, message_id).await?;
            let streamed = shared.content(message_id).await.unwrap_or_default();
            let (content, parts) = match streamed {
                Some(streamed) if streamed.0.len() >= saved.content.len() => streamed,
                _ => (saved.content, saved.parts),
            };
            let reason = "the server writing it stopped";
            let Some((message, session)) =
                self.store.interrupt(session_id, message_id, (&content, &parts), reason).await?
            else {
                continue;
            };
            tracing::warn!(reply = %message_id, "a reply whose server stopped is marked interrupted");
            if let Err(e) = shared.end(&message).await {
                tracing::warn!(reply = %message_id, "followers of an interrupted reply read it stored: {e}");
            }
            if let Some((owner_id, _, _)) = streaming.iter().find(|(_, _, id)| *id == message_id) {
                self.session_changed(*owner_id, &session);
            }
        }
        Ok(())
    }

    /// Acts on what the other replicas signal: stops this replica's replies they were asked to
    /// stop, forgets what was read ahead of sessions they wrote.
    fn keep_hearing(&self, shared: &SharedReplies) {
        let (mut signals, replies, store) = (shared.signals(), self.replies.clone(), self.store.clone());
        tokio::spawn(async move {
            while let Some(heard) = signals.next().await {
                match heard {
                    Heard::Signal(Signal::Stop(session_id)) => {
                        if let Some(reply) = replies.in_session(session_id) {
                            reply.cancel.cancel();
                        }
                    }
                    Heard::Signal(Signal::Written(session_id)) => store.written_elsewhere(Some(session_id)),
                    Heard::Missed => store.written_elsewhere(None),
                }
            }
        });
    }

    /// The models of every provider, as last discovered, with those the configuration names
    /// (listed whether or not their server answered: the default model among them) and the
    /// embedded ones.
    pub async fn models(&self) -> Result<ModelList, AppError> {
        let mut models = self.store.models().await?;
        let mut named = Vec::new();
        for provider in self.providers.all() {
            if provider.kind() == ProviderKind::Embedded
                && let Ok(own) = provider.discover_models().await
            {
                models.retain(|m| m.provider != provider.name());
                models.extend(own);
            }
            named.extend(provider.configured_models());
        }
        let default_model = self.providers.default_model().to_owned();
        if let Ok((provider, name)) = self.providers.resolve(&default_model) {
            let (provider, name) = (provider.name().to_owned(), name.to_owned());
            named.push(ModelInfo { id: default_model.clone(), provider, name, note: None });
        }
        for model in named {
            if !models.iter().any(|m| m.id == model.id) {
                models.push(model);
            }
        }
        Ok(ModelList { models, default_model })
    }

    /// Asks every provider for its models and stores them; returns the models found and the
    /// providers that failed.
    pub async fn sync_models(&self) -> (Vec<ModelInfo>, Vec<(String, String)>) {
        let mut found = Vec::new();
        let mut failed = Vec::new();
        for provider in self.providers.all() {
            match provider.discover_models().await {
                Ok(models) => {
                    if let Err(e) = self.store.replace_models(provider.name(), &models).await {
                        failed.push((provider.name().to_owned(), e.to_string()));
                    }
                    found.extend(models);
                }
                Err(e) => failed.push((provider.name().to_owned(), e.to_string())),
            }
        }
        (found, failed)
    }

    /// Whether each provider answers.
    pub async fn health(&self) -> Vec<ProviderHealth> {
        self.providers.health().await
    }

    /// `owner_id`'s chat statistics.
    pub async fn stats(&self, owner_id: UserId) -> Result<ChatStats, AppError> {
        self.store.stats(owner_id).await
    }

    /// The presets `owner_id` may use.
    pub async fn presets(&self, owner_id: UserId) -> Result<Vec<Preset>, AppError> {
        self.store.presets(owner_id).await
    }

    /// A preset `owner_id` may use.
    pub async fn preset(&self, owner_id: UserId, preset_id: PresetId) -> Result<Preset, AppError> {
        self.store.preset(owner_id, preset_id).await
    }

    /// Creates a preset (no `id`) or changes one of `owner_id`'s.
    pub async fn save_preset(
        &self,
        owner_id: UserId,
        id: Option<PresetId>,
        draft: PresetDraft,
    ) -> Result<Preset, AppError> {
        let draft = draft.validate()?;
        self.known_model(&draft.settings.model)?;
        self.store.save_preset(owner_id, id, &draft).await
    }

    /// Deletes one of `owner_id`'s presets.
    pub async fn delete_preset(&self, owner_id: UserId, preset_id: PresetId) -> Result<(), AppError> {
        self.store.delete_preset(owner_id, preset_id).await
    }
}

/// An agent answering, and what it has sent that the reply has not taken yet.
struct RunningTurn {
    cancel: CancellationToken,
    events: mpsc::UnboundedReceiver<TurnEvent>,
    /// Says when the model server first answers.
    answering: Answering,
    /// The agent's task, until it has returned.
    runner: Option<JoinHandle<Result<(), AgentError>>>,
}

impl Drop for RunningTurn {
    /// A turn whose reply was never stored (or was given up) stops.
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(runner) = &self.runner {
            runner.abort();
        }
    }
}
