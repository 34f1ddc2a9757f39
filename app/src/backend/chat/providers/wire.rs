//! The wire format of OpenAI's Chat Completions API, typed: the streaming request, the SSE chunks
//! of the reply, the model list and error bodies; and the SSE event stream itself, decoded by
//! `eventsource-stream` with a bound on how large one event may grow.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use super::Prompt;
use crate::protocol::{Role, Usage};

/// Largest SSE event accepted from a model server; a larger one ends the reply as a protocol
/// error instead of growing a buffer without end.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// `POST /chat/completions`, streamed, with the usage in the last chunk.
#[derive(Debug, Serialize)]
pub struct CompletionRequest<'a> {
    /// The model's id on the server (without the provider prefix).
    pub model: &'a str,
    /// The conversation, the system prompt first.
    pub messages: Vec<Message<'a>>,
    /// Always true: replies stream.
    pub stream: bool,
    /// Asks for the token counts in the last chunk.
    pub stream_options: StreamOptions,
    /// Sampling temperature.
    pub temperature: f32,
    /// Most tokens in the reply.
    pub max_tokens: u32,
}

/// One message of the conversation.
#[derive(Debug, PartialEq, Serialize)]
pub struct Message<'a> {
    /// Who speaks.
    pub role: Role,
    /// What they say.
    pub content: &'a str,
}

/// `stream_options`.
#[derive(Debug, Serialize)]
pub struct StreamOptions {
    /// Include the token counts.
    pub include_usage: bool,
}

impl<'a> CompletionRequest<'a> {
    /// The streaming request for `prompt` to `model`.
    pub fn new(model: &'a str, prompt: &'a Prompt) -> Self {
        let system = (!prompt.system.trim().is_empty())
            .then_some(Message { role: Role::System, content: prompt.system.as_str() });
        let turns =
            prompt.turns.iter().map(|(role, content)| Message { role: *role, content: content.as_str() });
        Self {
            model,
            messages: system.into_iter().chain(turns).collect(),
            stream: true,
            stream_options: StreamOptions { include_usage: true },
            temperature: prompt.temperature,
            max_tokens: prompt.max_tokens,
        }
    }
}

/// One `data:` chunk of a streamed reply. Servers differ in what they leave out, so every field
/// is optional.
#[derive(Debug, Default, Deserialize)]
pub struct Chunk {
    /// The choices; the app asks for one.
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// Token counts, in the last chunk when asked for.
    #[serde(default)]
    pub usage: Option<ChunkUsage>,
    /// An error reported mid-stream (some servers do, with status 200).
    #[serde(default)]
    pub error: Option<ErrorDetail>,
}

/// One choice of a chunk.
#[derive(Debug, Default, Deserialize)]
pub struct Choice {
    /// New text.
    #[serde(default)]
    pub delta: Delta,
    /// Why the reply ended, in its last chunk (`stop`, `length`, …).
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// The new part of the reply.
#[derive(Debug, Default, Deserialize)]
pub struct Delta {
    /// New text, if any.
    #[serde(default)]
    pub content: Option<String>,
}

/// Token counts as the server reports them.
#[derive(Debug, Default, Deserialize)]
pub struct ChunkUsage {
    /// Tokens of the prompt.
    #[serde(default)]
    pub prompt_tokens: u32,
    /// Tokens of the reply.
    #[serde(default)]
    pub completion_tokens: u32,
}

impl From<ChunkUsage> for Usage {
    fn from(usage: ChunkUsage) -> Self {
        Self { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens }
    }
}

/// An error, as `{"message": …}` or a bare string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ErrorDetail {
    /// `{"message": "…", …}`
    Object {
        /// What went wrong.
        message: String,
    },
    /// `"…"`
    Text(String),
}

impl ErrorDetail {
    /// The explanation.
    pub fn message(self) -> String {
        match self {
            Self::Object { message } | Self::Text(message) => message,
        }
    }
}

/// The body of a failed request: `{"error": …}`.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// `GET /models`.
#[derive(Debug, Deserialize)]
pub struct ModelList {
    /// The models.
    pub data: Vec<ModelEntry>,
}

/// One listed model.
#[derive(Debug, Deserialize)]
pub struct ModelEntry {
    /// Its id on the server.
    pub id: String,
}

/// Why the event stream failed.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The connection failed.
    #[error("{0}")]
    Transport(reqwest::Error),
    /// The bytes are not an event stream (invalid UTF-8 or syntax).
    #[error("the event stream is malformed: {0}")]
    Malformed(String),
    /// An event grew past [`MAX_EVENT_BYTES`].
    #[error("an event is larger than {MAX_EVENT_BYTES} bytes")]
    TooLarge,
}

/// The `data` of each server-sent event in `bytes`; an error ends the stream when an event grows
/// past [`MAX_EVENT_BYTES`].
pub fn events(
    bytes: impl Stream<Item = Result<Bytes, reqwest::Error>> + Send + 'static,
) -> impl Stream<Item = Result<String, EventError>> + Send {
    // Bytes read since the last complete event: what the decoder holds at most.
    let pending = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&pending);
    let bounded = bytes.map(move |chunk| {
        let chunk = chunk.map_err(EventError::Transport)?;
        if counted.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len() > MAX_EVENT_BYTES {
            return Err(EventError::TooLarge);
        }
        Ok(chunk)
    });
    bounded.eventsource().map(move |event| {
        pending.store(0, Ordering::Relaxed);
        event.map(|event| event.data).map_err(|e| match e {
            eventsource_stream::EventStreamError::Transport(e) => e,
            other => EventError::Malformed(other.to_string()),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(
        parts: &[&'static [u8]],
    ) -> impl Stream<Item = Result<Bytes, reqwest::Error>> + Send + 'static {
        futures::stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>())
    }

    async fn collect(parts: &[&'static [u8]]) -> Vec<Result<String, String>> {
        events(chunked(parts)).map(|e| e.map_err(|e| e.to_string())).collect().await
    }

    #[tokio::test]
    async fn events_split_across_chunks_and_every_separator_are_decoded() {
        let decoded = collect(&[
            b"data: {\"a\"",
            b":1}\n\ndata: [DONE]\n\n",
            b": keep-alive\r\n\r\ndata:x\n\r\ndata: y\r\rdata: z\n\n",
        ])
        .await;
        let expected = ["{\"a\":1}", "[DONE]", "x", "y", "z"].map(|data| Ok(data.to_owned()));
        assert_eq!(decoded, expected);
    }

    #[tokio::test]
    async fn an_event_that_never_ends_is_cut_off() {
        let big: &'static [u8] = Box::leak(vec![b'x'; MAX_EVENT_BYTES / 4].into_boxed_slice());
        let decoded = collect(&[b"data: ", big, big, big, big, big]).await;
        assert_eq!(decoded.last(), Some(&Err(EventError::TooLarge.to_string())));
    }

    #[test]
    fn the_request_asks_for_a_stream_with_usage() {
        let prompt = Prompt {
            system: "Be brief.".into(),
            turns: vec![(Role::User, "Hi".into())],
            temperature: 0.5,
            max_tokens: 64,
        };
        let body = serde_json::to_value(CompletionRequest::new("m", &prompt)).unwrap();
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["messages"][1], serde_json::json!({"role": "user", "content": "Hi"}));
    }

    #[test]
    fn chunks_and_errors_of_every_shape_parse() {
        let chunk: Chunk =
            serde_json::from_str(r#"{"choices":[{"delta":{"content":"Hi"},"finish_reason":null}]}"#).unwrap();
        assert_eq!(chunk.choices[0].delta.content.as_deref(), Some("Hi"));
        let last: Chunk =
            serde_json::from_str(r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5}}"#)
                .unwrap();
        assert_eq!(Usage::from(last.usage.unwrap()).completion_tokens, 5);
        let error: ErrorBody =
            serde_json::from_str(r#"{"error":{"message":"no such model","type":"x"}}"#).unwrap();
        assert_eq!(error.error.message(), "no such model");
        let bare: ErrorBody = serde_json::from_str(r#"{"error":"overloaded"}"#).unwrap();
        assert_eq!(bare.error.message(), "overloaded");
    }
}
