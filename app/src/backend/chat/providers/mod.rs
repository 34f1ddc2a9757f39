//! Model providers: where replies come from. Each provider has a name that prefixes its model
//! ids (`local/qwen2.5-coder-0.5b`, `ollama/llama3.2`), so several can be configured at once.

mod embedded;
mod openai;
mod wire;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::sync::mpsc;

pub use embedded::EmbeddedModels;
pub use openai::{ApiKey, OpenAiCompatible, UpstreamConfig};

use crate::protocol::{FinishReason, ModelInfo, ProviderHealth, ProviderKind, ResponseFormat, Usage};

/// What a provider is asked to continue.
#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    /// Instructions before the conversation; empty for none.
    pub system: String,
    /// The conversation so far, oldest first, ending with the user's message (or with the
    /// results of the tools the model called).
    pub turns: Vec<Turn>,
    /// Sampling temperature; 0 is greedy.
    pub temperature: f32,
    /// Most tokens to generate.
    pub max_tokens: u32,
    /// Tools the model may call instead of (or before) answering.
    pub tools: Vec<ToolDefinition>,
    /// The model must call one of the tools (OpenAI's `tool_choice: "required"`).
    pub require_tool: bool,
    /// The model may call several tools in one step (OpenAI's `parallel_tool_calls`); when not,
    /// the step ends with its first call.
    pub parallel_tool_calls: bool,
    /// The shape the reply must have; any text when none.
    pub response_format: Option<ResponseFormat>,
}

impl Prompt {
    /// A prompt of `turns` with no system prompt, tools or format.
    pub fn new(turns: Vec<Turn>, temperature: f32, max_tokens: u32) -> Self {
        Self {
            system: String::new(),
            turns,
            temperature,
            max_tokens,
            tools: Vec::new(),
            require_tool: false,
            parallel_tool_calls: true,
            response_format: None,
        }
    }
}

/// One turn of a conversation, as a model reads it.
#[derive(Clone, Debug, PartialEq)]
pub enum Turn {
    /// What the user wrote.
    User(String),
    /// What the model answered: text, and the tools it called.
    Assistant {
        /// Its text (empty when it only called tools).
        text: String,
        /// The calls it made.
        tool_calls: Vec<ToolCall>,
    },
    /// What a called tool returned.
    ToolResult {
        /// The call's id.
        call_id: String,
        /// The tool's name.
        name: String,
        /// Its result, as text (usually JSON).
        content: String,
    },
}

impl Turn {
    /// The model's text answer, without tool calls.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::Assistant { text: text.into(), tool_calls: Vec::new() }
    }
}

/// A tool a model may call: a function with a name, a description and a JSON Schema of its
/// arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolDefinition {
    /// The function's name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// A JSON Schema (an object) of its arguments.
    pub parameters: serde_json::Value,
}

/// A complete call of a tool.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    /// The call's id, to answer it with a [`Turn::ToolResult`].
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// Its arguments, a JSON object.
    pub arguments: serde_json::Value,
}

/// Part of a tool call as it forms: a call's first part has its id and name; its arguments
/// (JSON text) arrive in one or more parts.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCallDelta {
    /// Which call of the reply (0, 1, …).
    pub index: usize,
    /// The call's id, in its first part.
    pub id: Option<String>,
    /// The tool's name, in its first part.
    pub name: Option<String>,
    /// More of the arguments' JSON text.
    pub arguments: String,
}

/// The tool calls of a reply, put together from their parts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ToolCalls {
    calls: Vec<(String, String, String)>,
}

impl ToolCalls {
    /// Adds a part.
    pub fn push(&mut self, delta: ToolCallDelta) {
        if self.calls.len() <= delta.index {
            self.calls.resize(delta.index + 1, Default::default());
        }
        let (id, name, arguments) = &mut self.calls[delta.index];
        if let Some(part) = delta.id {
            *id = part;
        }
        if let Some(part) = delta.name {
            name.push_str(&part);
        }
        arguments.push_str(&delta.arguments);
    }

    /// The complete calls; an error when one lacks a name or its arguments are not a JSON
    /// object.
    pub fn finish(self) -> Result<Vec<ToolCall>, ProviderError> {
        self.calls
            .into_iter()
            .enumerate()
            .map(|(index, (id, name, arguments))| {
                if name.is_empty() {
                    return Err(ProviderError::Protocol(format!("tool call {index} has no name")));
                }
                let arguments = match arguments.trim() {
                    "" => serde_json::Value::Object(serde_json::Map::new()),
                    text => serde_json::from_str(text).map_err(|e| {
                        ProviderError::Protocol(format!(
                            "the arguments of a call of `{name}` are not JSON: {e}"
                        ))
                    })?,
                };
                if !arguments.is_object() {
                    return Err(ProviderError::Protocol(format!(
                        "the arguments of a call of `{name}` are not an object"
                    )));
                }
                let id = if id.is_empty() { format!("call_{index}") } else { id };
                Ok(ToolCall { id, name, arguments })
            })
            .collect()
    }
}

/// One step of a streamed reply.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplyEvent {
    /// The model server has the request and answers (its first token may take a while).
    Answering,
    /// More text.
    Delta(String),
    /// Part of a tool call (gather them with [`ToolCalls`]); boxed: the events of a reply wait
    /// in blocks of their largest kind's size, and most are text.
    ToolCall(Box<ToolCallDelta>),
    /// The reply is complete.
    Done {
        /// Why the model stopped (`stop`, `length`, `tool_calls`, …).
        finish_reason: Option<FinishReason>,
        /// Tokens used, when reported.
        usage: Option<Usage>,
    },
}

/// Why a provider could not answer.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// The model id names no configured provider or model.
    #[error("unknown model `{0}`")]
    UnknownModel(String),
    /// The provider could not be reached.
    #[error("cannot reach the model server: {0}")]
    Connect(String),
    /// The provider answered with an error status.
    #[error("the model server answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// What it said, shortened.
        message: String,
    },
    /// The provider took too long.
    #[error("the model server {0}")]
    Timeout(&'static str),
    /// The provider's answer could not be understood.
    #[error("the model server sent something unexpected: {0}")]
    Protocol(String),
    /// The embedded model failed.
    #[error("the local model failed: {0}")]
    Model(String),
}

/// What a streamed reply sends: events, or the error that ended it.
pub type ReplySender = mpsc::Sender<Result<ReplyEvent, ProviderError>>;

/// The receiving end of a streamed reply. Dropping it cancels the generation (and the upstream
/// request).
pub struct ReplyStream {
    events: mpsc::Receiver<Result<ReplyEvent, ProviderError>>,
    /// The work that sends the events, run by whoever reads them (no task of its own to wake
    /// for every event), until it is done.
    work: Option<BoxFuture<'static, ()>>,
}

impl fmt::Debug for ReplyStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplyStream").field("driven", &self.work.is_some()).finish_non_exhaustive()
    }
}

impl From<mpsc::Receiver<Result<ReplyEvent, ProviderError>>> for ReplyStream {
    /// The events of work running elsewhere (a task or a thread of its own).
    fn from(events: mpsc::Receiver<Result<ReplyEvent, ProviderError>>) -> Self {
        Self { events, work: None }
    }
}

impl ReplyStream {
    /// A reply made by `work`, which gets the sender and runs as the reply is read.
    pub fn driven<F>(work: impl FnOnce(ReplySender) -> F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (sender, events) = mpsc::channel(64);
        Self { events, work: Some(Box::pin(work(sender))) }
    }

    /// A reply that is only `error`.
    pub fn failed(error: ProviderError) -> Self {
        let (sender, events) = mpsc::channel(1);
        let _ = sender.try_send(Err(error));
        Self { events, work: None }
    }

    /// The next event; `None` once the reply has ended.
    pub async fn recv(&mut self) -> Option<Result<ReplyEvent, ProviderError>> {
        std::future::poll_fn(|cx| {
            if let Some(work) = &mut self.work
                && work.as_mut().poll(cx).is_ready()
            {
                self.work = None;
            }
            self.events.poll_recv(cx)
        })
        .await
    }
}

/// A source of streamed replies.
pub trait ModelProvider: Send + Sync + fmt::Debug {
    /// The name that prefixes this provider's model ids.
    fn name(&self) -> &str;

    /// What kind of provider it is.
    fn kind(&self) -> ProviderKind;

    /// Discovers the models the provider offers, with namespaced ids.
    fn discover_models(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>, ProviderError>>;

    /// The models its configuration names, offered whether or not its server answers; none by
    /// default.
    fn configured_models(&self) -> Vec<ModelInfo> {
        Vec::new()
    }

    /// Checks that the provider answers; says what was checked.
    fn check(&self) -> BoxFuture<'_, Result<String, ProviderError>>;

    /// Starts a reply from `model` (the id without the provider prefix) to `prompt`.
    fn stream(&self, model: &str, prompt: Prompt) -> ReplyStream;

    /// Gets `model` ready to answer quickly (an embedded model loads its weights); nothing by
    /// default.
    fn warm_up(&self, _model: &str) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Every configured provider.
#[derive(Clone, Debug)]
pub struct Providers {
    providers: Vec<Arc<dyn ModelProvider>>,
    default_model: String,
}

impl Providers {
    /// The `providers`, with `default_model` (a namespaced id) for new sessions.
    pub fn new(providers: Vec<Arc<dyn ModelProvider>>, default_model: String) -> Self {
        Self { providers, default_model }
    }

    /// The model new sessions get.
    pub fn default_model(&self) -> &str {
        &self.default_model
    }

    /// The provider behind a namespaced model id, and the id without its prefix.
    pub fn resolve<'m>(&self, model: &'m str) -> Result<(&Arc<dyn ModelProvider>, &'m str), ProviderError> {
        model
            .split_once('/')
            .and_then(|(name, id)| self.providers.iter().find(|p| p.name() == name).map(|p| (p, id)))
            .filter(|(_, id)| !id.is_empty())
            .ok_or_else(|| ProviderError::UnknownModel(model.to_owned()))
    }

    /// Starts a reply from the namespaced `model`.
    pub fn stream(&self, model: &str, prompt: Prompt) -> ReplyStream {
        match self.resolve(model) {
            Ok((provider, id)) => provider.stream(id, prompt),
            Err(e) => ReplyStream::failed(e),
        }
    }

    /// Every provider.
    pub fn all(&self) -> &[Arc<dyn ModelProvider>] {
        &self.providers
    }

    /// Checks every provider, all at once.
    pub async fn health(&self) -> Vec<ProviderHealth> {
        let checks = self.providers.iter().map(|provider| async move {
            let started = Instant::now();
            let outcome = tokio::time::timeout(HEALTH_TIMEOUT, provider.check()).await;
            let (ok, detail) = match outcome {
                Ok(Ok(detail)) => (true, detail),
                Ok(Err(e)) => (false, e.to_string()),
                Err(_) => (false, format!("no answer within {} s", HEALTH_TIMEOUT.as_secs())),
            };
            ProviderHealth {
                provider: provider.name().to_owned(),
                kind: provider.kind(),
                ok,
                detail,
                latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            }
        });
        futures::future::join_all(checks).await
    }
}

/// How long a health check may take.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    fn part(index: usize, id: Option<&str>, name: Option<&str>, arguments: &str) -> ToolCallDelta {
        ToolCallDelta {
            index,
            id: id.map(Into::into),
            name: name.map(Into::into),
            arguments: arguments.into(),
        }
    }

    #[test]
    fn tool_calls_are_put_together_from_their_parts() {
        let mut calls = ToolCalls::default();
        calls.push(part(0, Some("a"), Some("count_events"), "{\"lab"));
        calls.push(part(1, None, Some("now"), ""));
        calls.push(part(0, None, None, "el\": \"cat\"}"));
        let calls = calls.finish().unwrap();
        assert_eq!(
            calls[0],
            ToolCall {
                id: "a".into(),
                name: "count_events".into(),
                arguments: serde_json::json!({"label": "cat"})
            }
        );
        assert_eq!((calls[1].id.as_str(), calls[1].arguments.clone()), ("call_1", serde_json::json!({})));
        let mut broken = ToolCalls::default();
        broken.push(part(0, Some("a"), Some("f"), "{\"x\": "));
        assert!(matches!(broken.finish(), Err(ProviderError::Protocol(_))));
        let mut nameless = ToolCalls::default();
        nameless.push(part(0, Some("a"), None, "{}"));
        assert!(nameless.finish().is_err());
    }
}
