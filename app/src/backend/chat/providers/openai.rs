//! Any server that speaks OpenAI's Chat Completions with SSE streaming: OpenAI, Ollama's `/v1`,
//! vLLM, llama.cpp's server, LM Studio.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::wire::{self, Chunk, CompletionRequest, ErrorBody, ModelList};
use super::{ModelProvider, Prompt, ProviderError, ReplyEvent, ReplyStream};
use crate::protocol::{FinishReason, ModelInfo, ProviderKind};

/// An API key: shown as `[redacted]` in logs and debug output.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApiKey(pub String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One OpenAI-compatible server, as configured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// The prefix of its model ids, e.g. `ollama` for `ollama/llama3.2`.
    pub name: String,
    /// The API's base address, ending before `/chat/completions`, e.g. `http://localhost:11434/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …`.
    #[serde(default)]
    pub api_key: Option<ApiKey>,
    /// Extra headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Models offered even when the server does not list them.
    #[serde(default)]
    pub models: Vec<String>,
    /// Seconds to open a connection.
    #[serde(default = "defaults::connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Seconds from the request to the first token.
    #[serde(default = "defaults::first_token_timeout")]
    pub first_token_timeout_secs: u64,
    /// Seconds allowed between two chunks.
    #[serde(default = "defaults::idle_timeout")]
    pub idle_timeout_secs: u64,
    /// Retries of a request that failed before its first token (connection error, 429, 5xx).
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
    /// Milliseconds before the first retry; each next one waits twice as long.
    #[serde(default = "defaults::retry_base_ms")]
    pub retry_base_ms: u64,
}

mod defaults {
    pub fn connect_timeout() -> u64 {
        5
    }
    pub fn first_token_timeout() -> u64 {
        120
    }
    pub fn idle_timeout() -> u64 {
        60
    }
    pub fn max_retries() -> u32 {
        3
    }
    pub fn retry_base_ms() -> u64 {
        500
    }
}

impl UpstreamConfig {
    /// A server at `base_url` named `name`, with the default timeouts and retries.
    pub fn new(name: &str, base_url: &str) -> Self {
        Self {
            name: name.to_owned(),
            base_url: base_url.to_owned(),
            api_key: None,
            headers: BTreeMap::new(),
            models: Vec::new(),
            connect_timeout_secs: defaults::connect_timeout(),
            first_token_timeout_secs: defaults::first_token_timeout(),
            idle_timeout_secs: defaults::idle_timeout(),
            max_retries: defaults::max_retries(),
            retry_base_ms: defaults::retry_base_ms(),
        }
    }
}

/// A failed attempt, and whether another may succeed.
struct Failure {
    error: ProviderError,
    retryable: bool,
}

impl Failure {
    fn retry(error: ProviderError) -> Self {
        Self { error, retryable: true }
    }

    fn fatal(error: ProviderError) -> Self {
        Self { error, retryable: false }
    }
}

/// An OpenAI-compatible provider.
#[derive(Clone, Debug)]
pub struct OpenAiCompatible {
    inner: Arc<Upstream>,
}

#[derive(Debug)]
struct Upstream {
    config: UpstreamConfig,
    client: reqwest::Client,
}

impl OpenAiCompatible {
    /// The server's model `id`, as the app lists it.
    fn model(&self, id: String) -> ModelInfo {
        let name = self.name();
        ModelInfo { id: format!("{name}/{id}"), provider: name.to_owned(), name: id, note: None }
    }

    /// A provider for `config`; fails when a header or the base address is malformed.
    pub fn new(config: UpstreamConfig) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &config.api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", key.0)).map_err(|_| {
                format!("provider `{}`: the API key is not a valid header value", config.name)
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        for (name, value) in &config.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| format!("provider `{}`: `{name}` is not a header name", config.name))?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                format!("provider `{}`: the value of `{name}` is not a header value", config.name)
            })?;
            headers.insert(name, value);
        }
        let url = reqwest::Url::parse(&config.base_url)
            .map_err(|e| format!("provider `{}`: base_url `{}`: {e}", config.name, config.base_url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("provider `{}`: base_url is an http(s) address", config.name));
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(config.connect_timeout_secs.max(1)))
            .build()
            .map_err(|e| format!("provider `{}`: {e}", config.name))?;
        Ok(Self { inner: Arc::new(Upstream { config, client }) })
    }
}

impl Upstream {
    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.config.base_url.trim_end_matches('/'))
    }

    async fn list_models(&self) -> Result<Vec<String>, ProviderError> {
        let timeout = Duration::from_secs(self.config.first_token_timeout_secs.max(1));
        let response =
            self.client.get(self.url("models")).timeout(timeout).send().await.map_err(connect_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(status.as_u16(), response.text().await.unwrap_or_default()));
        }
        let list: ModelList = response.json().await.map_err(|e| {
            ProviderError::Protocol(format!("the model list is not `{{\"data\": [{{\"id\": …}}]}}`: {e}"))
        })?;
        Ok(list.data.into_iter().map(|model| model.id).collect())
    }

    async fn reply(
        &self,
        model: &str,
        prompt: &Prompt,
        replies: &mpsc::Sender<Result<ReplyEvent, ProviderError>>,
    ) {
        let body = CompletionRequest::new(model, prompt);
        let mut attempt = 0;
        loop {
            match self.attempt(&body, replies).await {
                Ok(()) => return,
                Err(failure) if failure.retryable && attempt < self.config.max_retries => {
                    let wait =
                        Duration::from_millis(self.config.retry_base_ms.saturating_mul(1 << attempt.min(16)));
                    tracing::info!(provider = %self.config.name, attempt, error = %failure.error, "retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(failure) => {
                    let _ = replies.send(Err(failure.error)).await;
                    return;
                }
            }
        }
    }

    /// One request: streams its deltas to `replies`. Failures before the first delta may be
    /// retried; after it, the reply would repeat itself, so they end the reply.
    async fn attempt(
        &self,
        body: &CompletionRequest<'_>,
        replies: &mpsc::Sender<Result<ReplyEvent, ProviderError>>,
    ) -> Result<(), Failure> {
        let first_token_by =
            Instant::now() + Duration::from_secs(self.config.first_token_timeout_secs.max(1));
        let idle = Duration::from_secs(self.config.idle_timeout_secs.max(1));
        let request = self.client.post(self.url("chat/completions")).json(body).send();
        let response = tokio::time::timeout_at(first_token_by.into(), request)
            .await
            .map_err(|_| Failure::fatal(ProviderError::Timeout("did not answer in time")))?
            .map_err(|e| Failure::retry(connect_error(e)))?;
        let status = response.status();
        if !status.is_success() {
            let error = status_error(status.as_u16(), response.text().await.unwrap_or_default());
            let retryable = status.as_u16() == 429 || status.is_server_error();
            return Err(Failure { error, retryable });
        }
        if replies.send(Ok(ReplyEvent::Answering)).await.is_err() {
            return Ok(());
        }
        let mut events = Box::pin(wire::events(response.bytes_stream()));
        let mut sent_any = false;
        let mut finish_reason = None;
        let mut usage = None;
        loop {
            let next = if sent_any {
                tokio::time::timeout(idle, events.next()).await
            } else {
                tokio::time::timeout_at(first_token_by.into(), events.next()).await
            };
            let retryable = !sent_any;
            let before_first = |error| Failure { error, retryable };
            let data = match next {
                Err(_) if sent_any => {
                    return Err(Failure::fatal(ProviderError::Timeout("went quiet mid-reply")));
                }
                Err(_) => return Err(Failure::fatal(ProviderError::Timeout("sent no first token in time"))),
                Ok(None) if finish_reason.is_some() => break,
                Ok(None) => {
                    return Err(before_first(ProviderError::Protocol(
                        "the stream ended before the reply did".into(),
                    )));
                }
                Ok(Some(Err(wire::EventError::Transport(e)))) => return Err(before_first(connect_error(e))),
                Ok(Some(Err(e))) => return Err(before_first(ProviderError::Protocol(e.to_string()))),
                Ok(Some(Ok(data))) => data,
            };
            if data.trim() == "[DONE]" {
                let _ = replies.send(Ok(ReplyEvent::Done { finish_reason, usage })).await;
                return Ok(());
            }
            let chunk: Chunk = serde_json::from_str(&data).map_err(|e| {
                before_first(ProviderError::Protocol(format!("a chunk is not a completion chunk: {e}")))
            })?;
            if let Some(error) = chunk.error {
                return Err(before_first(ProviderError::Status { status: 200, message: error.message() }));
            }
            if let Some(counts) = chunk.usage {
                usage = Some(counts.into());
            }
            let Some(choice) = chunk.choices.into_iter().next() else { continue };
            if choice.finish_reason.is_some() {
                finish_reason = choice.finish_reason.map(FinishReason::from);
            }
            let text = choice.delta.content.filter(|t| !t.is_empty()).map(ReplyEvent::Delta);
            let calls = choice
                .delta
                .tool_calls
                .into_iter()
                .flatten()
                .map(|part| ReplyEvent::ToolCall(Box::new(part.into())));
            for event in text.into_iter().chain(calls) {
                sent_any = true;
                if replies.send(Ok(event)).await.is_err() {
                    return Ok(());
                }
            }
        }
        let _ = replies.send(Ok(ReplyEvent::Done { finish_reason, usage })).await;
        Ok(())
    }
}

fn connect_error(error: reqwest::Error) -> ProviderError {
    if error.is_timeout() {
        ProviderError::Timeout("did not answer in time")
    } else {
        // Without the URL: it may carry credentials.
        ProviderError::Connect(error.without_url().to_string())
    }
}

fn status_error(status: u16, body: String) -> ProviderError {
    let message = serde_json::from_str::<ErrorBody>(&body).map_or(body, |body| body.error.message());
    ProviderError::Status { status, message: message.chars().take(300).collect() }
}

impl ModelProvider for OpenAiCompatible {
    fn name(&self) -> &str {
        &self.inner.config.name
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::OpenaiCompatible
    }

    fn discover_models(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>, ProviderError>> {
        async move {
            let mut models: Vec<ModelInfo> =
                self.inner.list_models().await?.into_iter().map(|id| self.model(id)).collect();
            for model in self.configured_models() {
                if !models.contains(&model) {
                    models.push(model);
                }
            }
            Ok(models)
        }
        .boxed()
    }

    fn configured_models(&self) -> Vec<ModelInfo> {
        self.inner.config.models.iter().map(|id| self.model(id.clone())).collect()
    }

    fn check(&self) -> BoxFuture<'_, Result<String, ProviderError>> {
        async move {
            let count = self.inner.list_models().await?.len();
            Ok(format!("{} lists {count} models", self.inner.config.base_url))
        }
        .boxed()
    }

    fn stream(&self, model: &str, prompt: Prompt) -> ReplyStream {
        let upstream = self.inner.clone();
        let model = model.to_owned();
        // Run by the reader: dropping the stream drops the request, closing the connection.
        ReplyStream::driven(|replies| async move { upstream.reply(&model, &prompt, &replies).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_never_show_in_debug_output() {
        let mut config = UpstreamConfig::new("openai", "https://api.openai.com/v1");
        config.api_key = Some(ApiKey("sk-secret".into()));
        assert!(!format!("{config:?}").contains("sk-secret"));
        let provider = OpenAiCompatible::new(config).unwrap();
        assert!(!format!("{provider:?}").contains("sk-secret"));
    }

    #[test]
    fn malformed_settings_are_refused() {
        assert!(OpenAiCompatible::new(UpstreamConfig::new("x", "not a url")).is_err());
        let mut config = UpstreamConfig::new("x", "http://localhost:1/v1");
        config.headers.insert("bad header".into(), "v".into());
        assert!(OpenAiCompatible::new(config).is_err());
    }
}
