//! Agents: what answers a chat session. An application implements [`Agent`] — a typed context
//! built when a session starts, and `respond`, which answers one user message through a
//! [`Turn`] (streamed text, widgets, a model with tools) — and registers it under a path.
//! The built-in `chat` agent answers with the session's model; `cameras` answers from the
//! user's camera events.

mod cameras;
mod chat;
pub mod examples;
mod tools;
mod turn;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use crate::backend::chat::providers::ToolCall;
pub use cameras::CameraAssistant;
pub use chat::ChatAgent;
pub use tools::{Tool, ToolError, schema_of};
pub use turn::{Answering, Approvals, ModelCall, Output, Turn, TurnEvent, UserMessage, model_turns};

use crate::backend::AppError;
use crate::backend::chat::providers::ProviderError;
use crate::protocol::{AgentInfo, AgentList, AgentPath, UserInfo};

/// Why an agent could not start a session or answer.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The start arguments are not what the agent takes.
    #[error("{0}")]
    BadArguments(String),
    /// The user stopped the reply.
    #[error("stopped")]
    Stopped,
    /// The model failed.
    #[error(transparent)]
    Model(#[from] ProviderError),
    /// Anything else, said for the user.
    #[error("{0}")]
    Failed(String),
}

/// What `respond` returns: the text it streamed through the turn, or a whole text to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Everything was written with [`Turn::write`] (or by the model).
    Streamed,
    /// This text is the answer (written after anything streamed).
    Text(String),
}

impl From<String> for Answer {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&str> for Answer {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

/// Start arguments of an agent that takes none (`{}`).
#[derive(Clone, Debug, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// A conversational agent. Register it with [`Agents::register`] under a path; a session
/// started with that path is answered by it.
pub trait Agent: Send + Sync + 'static {
    /// What the agent keeps per session, built by [`Agent::create_context`] (its default value
    /// unless the agent says otherwise), saved after every turn, and given to `respond` (and to
    /// tools, whose parameters of the same name it fills).
    type Context: Serialize + DeserializeOwned + JsonSchema + Default + Send + Sync + 'static;
    /// The arguments a session is started with (`context` in `POST /ai-chat/api/sessions/`).
    type Args: DeserializeOwned + JsonSchema + Send + 'static;

    /// A name for people.
    fn name(&self) -> &str;

    /// What it does, for people.
    fn description(&self) -> &str;

    /// Builds the context once per session, from who starts it (a user or a guest) and the
    /// start arguments; the context's default value unless overridden.
    fn create_context(&self, _visitor: &UserInfo, _args: Self::Args) -> Result<Self::Context, AgentError> {
        Ok(Self::Context::default())
    }

    /// Answers one user message: write through `turn`, or return the text.
    fn respond(
        &self,
        message: &UserMessage,
        context: &mut Self::Context,
        turn: &mut Turn,
    ) -> impl Future<Output = Result<Answer, AgentError>> + Send;
}

/// An agent with its types erased to JSON, as the registry holds it.
trait AnyAgent: Send + Sync {
    fn info(&self, path: &AgentPath) -> AgentInfo;

    fn create_context(&self, visitor: &UserInfo, args: Value) -> Result<Value, AgentError>;

    fn respond<'a>(
        &'a self,
        message: &'a UserMessage,
        context: &'a mut Value,
        turn: &'a mut Turn,
    ) -> BoxFuture<'a, Result<Answer, AgentError>>;
}

impl<A: Agent> AnyAgent for A {
    fn info(&self, path: &AgentPath) -> AgentInfo {
        AgentInfo {
            path: path.clone(),
            name: self.name().to_owned(),
            description: self.description().to_owned(),
            start_schema: schema_of::<A::Args>(),
        }
    }

    fn create_context(&self, visitor: &UserInfo, args: Value) -> Result<Value, AgentError> {
        let args = if args.is_null() { Value::Object(Default::default()) } else { args };
        let args: A::Args = serde_json::from_value(args)
            .map_err(|e| AgentError::BadArguments(format!("start arguments: {e}")))?;
        let context = Agent::create_context(self, visitor, args)?;
        serde_json::to_value(context)
            .map_err(|e| AgentError::Failed(format!("the context cannot be saved: {e}")))
    }

    fn respond<'a>(
        &'a self,
        message: &'a UserMessage,
        context: &'a mut Value,
        turn: &'a mut Turn,
    ) -> BoxFuture<'a, Result<Answer, AgentError>> {
        Box::pin(async move {
            let mut typed: A::Context = serde_json::from_value(context.clone()).map_err(|e| {
                AgentError::Failed(format!("the session's context no longer fits its agent: {e}"))
            })?;
            let answer = Agent::respond(self, message, &mut typed, turn).await;
            // Saved however the turn ended: a stopped turn keeps what it changed.
            if let Ok(saved) = serde_json::to_value(&typed) {
                *context = saved;
            }
            answer
        })
    }
}

/// The agents, by path. Filled at start-up; `chat` is always there and is the default.
#[derive(Clone)]
pub struct Agents {
    agents: Arc<BTreeMap<AgentPath, Arc<dyn AnyAgent>>>,
}

impl std::fmt::Debug for Agents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.agents.keys()).finish()
    }
}

/// Builds the registry: [`Agents::builder`], then `register` each agent.
#[derive(Default)]
pub struct AgentsBuilder {
    agents: BTreeMap<AgentPath, Arc<dyn AnyAgent>>,
}

impl AgentsBuilder {
    /// Registers `agent` under `path` (e.g. `support`, `sales/premium`), replacing any agent
    /// there. Panics on a malformed path: paths are written in the program.
    pub fn register(mut self, path: &str, agent: impl Agent) -> Self {
        let path = AgentPath::parse(path).unwrap_or_else(|e| panic!("agent path `{path}`: {}", e.message));
        self.agents.insert(path, Arc::new(agent));
        self
    }

    /// Registers a built-in agent, unless the application registered its own at `path`.
    pub(crate) fn register_builtin(mut self, path: &str, agent: impl Agent) -> Self {
        if let Ok(path) = AgentPath::parse(path) {
            self.agents.entry(path).or_insert_with(|| Arc::new(agent));
        }
        self
    }

    /// The registry; `chat` answers with the session's model unless an agent was registered there.
    pub fn build(mut self) -> Agents {
        self.agents.entry(AgentPath::default()).or_insert_with(|| Arc::new(ChatAgent));
        Agents { agents: Arc::new(self.agents) }
    }
}

impl Agents {
    /// An empty registry to register agents in.
    pub fn builder() -> AgentsBuilder {
        AgentsBuilder::default()
    }

    /// Every agent, by path.
    pub fn list(&self) -> AgentList {
        AgentList {
            agents: self.agents.iter().map(|(path, agent)| agent.info(path)).collect(),
            default_agent: AgentPath::default(),
        }
    }

    fn get(&self, path: &AgentPath) -> Result<&Arc<dyn AnyAgent>, AppError> {
        self.agents.get(path).ok_or_else(|| AppError::BadRequest(format!("there is no agent `{path}`")))
    }

    /// The context a new session of the agent at `path` starts with.
    pub fn create_context(
        &self,
        path: &AgentPath,
        visitor: &UserInfo,
        args: Value,
    ) -> Result<Value, AppError> {
        self.get(path)?.create_context(visitor, args).map_err(|e| AppError::BadRequest(e.to_string()))
    }

    /// Answers `message` with the agent at `path`, updating `context`.
    pub async fn respond(
        &self,
        path: &AgentPath,
        message: &UserMessage,
        context: &mut Value,
        turn: &mut Turn,
    ) -> Result<Answer, AgentError> {
        let agent = self.get(path).map_err(|e| AgentError::Failed(e.to_string()))?.clone();
        agent.respond(message, context, turn).await
    }
}
