//! The wire format of OpenAI's Chat Completions API, typed: the streaming request, the SSE chunks
//! of the reply, the model list and error bodies; and the SSE event stream itself, decoded by
//! `eventsource-stream` with a bound on how large one event may grow.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use super::{Prompt, ToolCall, ToolCallDelta, Turn};
use crate::protocol::{ResponseFormat, Usage};

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
    /// The tools the model may call.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<FunctionTool<'a>>,
    /// `required` when the model must call one of the tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<&'static str>,
    /// `false` when the model is to make at most one call; left out otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// The shape the reply must have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<&'a ResponseFormat>,
}

/// One message of the conversation.
#[derive(Debug, PartialEq, Serialize)]
pub struct Message<'a> {
    /// Who speaks: `system`, `user`, `assistant` or `tool`.
    pub role: &'static str,
    /// What they say (none for an assistant message that only calls tools).
    pub content: Option<&'a str>,
    /// The tools an assistant message called.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<CallOut<'a>>,
    /// The call a tool message answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<&'a str>,
}

impl<'a> Message<'a> {
    fn text(role: &'static str, content: &'a str) -> Self {
        Self { role, content: Some(content), tool_calls: Vec::new(), tool_call_id: None }
    }

    fn of(turn: &'a Turn) -> Self {
        match turn {
            Turn::User(text) => Self::text("user", text),
            Turn::Assistant { text, tool_calls } => Self {
                content: (!text.is_empty() || tool_calls.is_empty()).then_some(text.as_str()),
                tool_calls: tool_calls.iter().map(CallOut::of).collect(),
                ..Self::text("assistant", text)
            },
            Turn::ToolResult { call_id, content, .. } => {
                Self { tool_call_id: Some(call_id), ..Self::text("tool", content) }
            }
        }
    }
}

/// A tool call of an earlier assistant message: `{"id", "type": "function", "function":
/// {"name", "arguments"}}`, the arguments as JSON text.
#[derive(Debug, PartialEq, Serialize)]
pub struct CallOut<'a> {
    /// The call's id.
    pub id: &'a str,
    /// Always `function`.
    pub r#type: &'static str,
    /// The function and its arguments.
    pub function: FunctionCall<'a>,
}

impl<'a> CallOut<'a> {
    fn of(call: &'a ToolCall) -> Self {
        Self {
            id: &call.id,
            r#type: "function",
            function: FunctionCall { name: &call.name, arguments: call.arguments.to_string() },
        }
    }
}

/// A called function.
#[derive(Debug, PartialEq, Serialize)]
pub struct FunctionCall<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its arguments, as JSON text.
    pub arguments: String,
}

/// A tool offered to the model: `{"type": "function", "function": {…}}`.
#[derive(Debug, Serialize)]
pub struct FunctionTool<'a> {
    /// Always `function`.
    pub r#type: &'static str,
    /// The function.
    pub function: Function<'a>,
}

/// A function the model may call.
#[derive(Debug, Serialize)]
pub struct Function<'a> {
    /// Its name.
    pub name: &'a str,
    /// What it does.
    pub description: &'a str,
    /// A JSON Schema of its arguments.
    pub parameters: &'a serde_json::Value,
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
        let system =
            (!prompt.system.trim().is_empty()).then(|| Message::text("system", prompt.system.as_str()));
        Self {
            model,
            messages: system.into_iter().chain(prompt.turns.iter().map(Message::of)).collect(),
            stream: true,
            stream_options: StreamOptions { include_usage: true },
            temperature: prompt.temperature,
            max_tokens: prompt.max_tokens,
            tools: prompt
                .tools
                .iter()
                .map(|tool| FunctionTool {
                    r#type: "function",
                    function: Function {
                        name: &tool.name,
                        description: &tool.description,
                        parameters: &tool.parameters,
                    },
                })
                .collect(),
            tool_choice: (prompt.require_tool && !prompt.tools.is_empty()).then_some("required"),
            parallel_tool_calls: (!prompt.parallel_tool_calls && !prompt.tools.is_empty()).then_some(false),
            response_format: prompt.response_format.as_ref(),
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
    /// Parts of tool calls, if any.
    #[serde(default)]
    pub tool_calls: Option<Vec<CallPart>>,
}

/// Part of a tool call: the first part of each call has its id and the function's name.
#[derive(Debug, Default, Deserialize)]
pub struct CallPart {
    /// Which call of the reply.
    #[serde(default)]
    pub index: usize,
    /// The call's id.
    #[serde(default)]
    pub id: Option<String>,
    /// The function and a part of its arguments.
    #[serde(default)]
    pub function: Option<FunctionPart>,
}

/// A function's name and part of its arguments' JSON text.
#[derive(Debug, Default, Deserialize)]
pub struct FunctionPart {
    /// The function's name.
    #[serde(default)]
    pub name: Option<String>,
    /// More of its arguments.
    #[serde(default)]
    pub arguments: Option<String>,
}

impl From<CallPart> for ToolCallDelta {
    fn from(part: CallPart) -> Self {
        let function = part.function.unwrap_or_default();
        Self {
            index: part.index,
            id: part.id,
            name: function.name,
            arguments: function.arguments.unwrap_or_default(),
        }
    }
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
    use serde_json::json;

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
        let prompt =
            Prompt { system: "Be brief.".into(), ..Prompt::new(vec![Turn::User("Hi".into())], 0.5, 64) };
        let body = serde_json::to_value(CompletionRequest::new("m", &prompt)).unwrap();
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["messages"][1], serde_json::json!({"role": "user", "content": "Hi"}));
        assert!(body.get("tools").is_none() && body.get("response_format").is_none(), "{body}");
    }

    #[test]
    fn tools_calls_results_and_formats_take_the_chat_completions_shape() {
        let call = ToolCall {
            id: "c1".into(),
            name: "count".into(),
            arguments: serde_json::json!({"label": "cat"}),
        };
        let turns = vec![
            Turn::User("How many cats?".into()),
            Turn::Assistant { text: String::new(), tool_calls: vec![call] },
            Turn::ToolResult { call_id: "c1".into(), name: "count".into(), content: "3".into() },
        ];
        let prompt = Prompt {
            tools: vec![super::super::ToolDefinition {
                name: "count".into(),
                description: "Counts sightings".into(),
                parameters: serde_json::json!({"type": "object"}),
            }],
            response_format: Some(ResponseFormat::JsonObject),
            ..Prompt::new(turns, 0.0, 64)
        };
        let body = serde_json::to_value(CompletionRequest::new("m", &prompt)).unwrap();
        assert_eq!(
            body["messages"][1],
            serde_json::json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "count", "arguments": "{\"label\":\"cat\"}"}}
            ]})
        );
        assert_eq!(
            body["messages"][2],
            serde_json::json!({"role": "tool", "content": "3", "tool_call_id": "c1"})
        );
        assert_eq!(body["tools"][0]["function"]["name"], "count");
        assert_eq!(body["tools"][0]["type"], "function");
        assert_eq!(body["response_format"], serde_json::json!({"type": "json_object"}));
        assert!(body.get("tool_choice").is_none() && body.get("parallel_tool_calls").is_none(), "{body}");
        let one_call = Prompt { require_tool: true, parallel_tool_calls: false, ..prompt };
        let body = serde_json::to_value(CompletionRequest::new("m", &one_call)).unwrap();
        assert_eq!((&body["tool_choice"], &body["parallel_tool_calls"]), (&json!("required"), &json!(false)));
        let chunk: Chunk = serde_json::from_str(
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c2","type":"function",
                "function":{"name":"count","arguments":"{\"la"}}]}}]}"#,
        )
        .unwrap();
        let part = chunk.choices.into_iter().next().unwrap().delta.tool_calls.unwrap().remove(0);
        assert_eq!(
            ToolCallDelta::from(part),
            ToolCallDelta {
                index: 0,
                id: Some("c2".into()),
                name: Some("count".into()),
                arguments: "{\"la".into()
            }
        );
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
