//! The chat: sessions and messages in the database, model providers, replies streamed as they
//! are generated, presets.

mod files;
pub mod providers;
mod read_ahead;
mod replies;
mod service;
mod shared;
mod store;

pub use files::{Attachment, FileStore};
pub use read_ahead::TurnStart;
pub use replies::{Chunk, Followed, Follower, LiveReply};
pub use service::{ChatDefaults, ChatService, Exchange, NewMessage, SessionEvent, SessionStart};
pub use shared::{Heard, SIGNALS_CHANNEL, SharedReplies, Signal, Signalled, Signals};
pub use store::ChatStore;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use self::providers::{EmbeddedModels, ModelProvider, OpenAiCompatible, Providers, UpstreamConfig};
use super::ModelAssets;

/// The chat's configuration (`[chat]` in the configuration file, `AIC_CHAT__…`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// OpenAI-compatible servers, each with its own name.
    pub providers: Vec<UpstreamConfig>,
    /// The model new sessions get, e.g. `ollama/llama3.2`; by default the first model listed by
    /// the first provider, or the embedded model when no provider is configured.
    pub default_model: Option<String>,
    /// Sampling temperature of new sessions.
    pub temperature: f32,
    /// Most tokens per reply, for new sessions.
    pub max_tokens: u32,
    /// Instructions before every conversation of new sessions.
    pub system_prompt: String,
    /// Replies the embedded model writes at once (each takes a CPU core); others wait.
    pub embedded_concurrency: usize,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            providers: Vec::new(),
            default_model: None,
            temperature: 0.7,
            max_tokens: 512,
            system_prompt: String::new(),
            embedded_concurrency: 1,
        }
    }
}

impl ChatConfig {
    /// Builds the providers: the embedded model (named `local`) and every configured server.
    /// Fails with a message naming the bad setting.
    pub fn providers(&self, assets: &ModelAssets) -> Result<Providers, String> {
        let embedded = EmbeddedModels::new(assets, self.embedded_concurrency);
        let mut providers: Vec<Arc<dyn ModelProvider>> = vec![Arc::new(embedded)];
        for upstream in &self.providers {
            let name = upstream.name.as_str();
            if name.is_empty() || name.contains('/') || providers.iter().any(|p| p.name() == name) {
                return Err(format!(
                    "provider name `{name}`: each provider needs its own name, without `/` (`local` is the embedded model)"
                ));
            }
            providers.push(Arc::new(OpenAiCompatible::new(upstream.clone())?));
        }
        let default_model = match &self.default_model {
            Some(model) => model.clone(),
            None => self
                .providers
                .iter()
                .find_map(|p| p.models.first().map(|m| format!("{}/{m}", p.name)))
                .unwrap_or_else(EmbeddedModels::default_model_id),
        };
        let providers = Providers::new(providers, default_model);
        providers.resolve(providers.default_model()).map_err(|e| format!("default_model: {e}"))?;
        Ok(providers)
    }

    /// The settings new sessions get, besides the model.
    pub fn defaults(&self) -> ChatDefaults {
        ChatDefaults {
            temperature: self.temperature,
            max_tokens: self.max_tokens,
            system_prompt: self.system_prompt.clone(),
        }
    }
}
