//! Model providers: where replies come from. Each provider has a name that prefixes its model
//! ids (`local/qwen2.5-coder-0.5b`, `ollama/llama3.2`), so several can be configured at once.

mod embedded;
mod openai;
mod wire;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::sync::mpsc;

pub use embedded::EmbeddedModels;
pub use openai::{ApiKey, OpenAiCompatible, UpstreamConfig};

use crate::protocol::{FinishReason, ModelInfo, ProviderHealth, ProviderKind, Role, Usage};

/// What a provider is asked to continue.
#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    /// Instructions before the conversation; empty for none.
    pub system: String,
    /// The conversation so far, oldest first, ending with the user's message.
    pub turns: Vec<(Role, String)>,
    /// Sampling temperature; 0 is greedy.
    pub temperature: f32,
    /// Most tokens to generate.
    pub max_tokens: u32,
}

/// One step of a streamed reply.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplyEvent {
    /// More text.
    Delta(String),
    /// The reply is complete.
    Done {
        /// Why the model stopped (`stop`, `length`, …).
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

/// The receiving end of a streamed reply. Dropping it cancels the generation (and the upstream
/// request).
pub type ReplyStream = mpsc::Receiver<Result<ReplyEvent, ProviderError>>;

/// A source of streamed replies.
pub trait ModelProvider: Send + Sync + fmt::Debug {
    /// The name that prefixes this provider's model ids.
    fn name(&self) -> &str;

    /// What kind of provider it is.
    fn kind(&self) -> ProviderKind;

    /// Discovers the models the provider offers, with namespaced ids.
    fn discover_models(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>, ProviderError>>;

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
            Err(e) => {
                let (sender, receiver) = mpsc::channel(1);
                let _ = sender.try_send(Err(e));
                receiver
            }
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
