//! A scripted OpenAI-compatible server (a test double of a model server). The last user message
//! picks the script: plain text gets a short reply in word chunks; `[slow]` streams 100 chunks
//! 50 ms apart; `[fail]` answers 500; `[429]` answers 429 on its first request, then succeeds;
//! `[drop]` sends two chunks and cuts the connection; `[silent]` never sends a token; `[json]`
//! streams the JSON document [`JSON_REPLY`]; `[tools]` calls the first tool offered with
//! [`TOOL_ARGUMENTS`], in parts, and ends with `tool_calls`; `[call NAME {…}]` calls the tool
//! `NAME` with those arguments; `[loop]` calls the first tool offered whenever tools are offered.
//! A conversation that ends with a tool's result is answered "The tool said: " and the result.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// The reply to a plain message.
pub const REPLY: &str = "Hello from the fake upstream, streaming word by word.";

/// The reply to `[json]`, streamed in parts.
pub const JSON_REPLY: &str = r#"{"city": "Paris", "country": "France"}"#;

/// The arguments of the call that `[tools]` makes, streamed in parts.
pub const TOOL_ARGUMENTS: &str = r#"{"label": "cat", "hours": 24}"#;

/// What the fake server saw.
#[derive(Default)]
pub struct Seen {
    /// Chat completion requests, by the last user message.
    pub requests: Mutex<HashMap<String, usize>>,
    /// Streams the client closed before they ended.
    pub cancelled: AtomicUsize,
    changed: Notify,
    /// The last request body.
    pub last_body: Mutex<Value>,
}

impl Seen {
    /// Waits until `count` streams were cancelled by the client.
    pub async fn cancellations(&self, count: usize) {
        let wait = async {
            loop {
                let notified = self.changed.notified();
                if self.cancelled.load(Ordering::SeqCst) >= count {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait).await.expect("the upstream request is cancelled");
    }

    /// How many requests a message made.
    pub fn requests_for(&self, message: &str) -> usize {
        self.requests.lock().unwrap().get(message).copied().unwrap_or(0)
    }
}

/// A running fake server.
pub struct FakeUpstream {
    /// Its `/v1` base address.
    pub base_url: String,
    /// What it saw.
    pub seen: Arc<Seen>,
}

/// Milliseconds between the chunks of a plain reply.
const CHUNK_DELAY_MS: u64 = 5;

#[derive(Clone)]
struct FakeState {
    seen: Arc<Seen>,
}

/// Starts a fake server on a free port.
pub async fn start() -> FakeUpstream {
    let seen = Arc::new(Seen::default());
    let state = FakeState { seen: seen.clone() };
    let router = Router::new()
        .route(
            "/v1/models",
            get(|| async { Json(json!({"object": "list", "data": [{"id": "fake-model"}]})) }),
        )
        .route("/v1/chat/completions", post(completions))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    FakeUpstream { base_url, seen }
}

/// Counts a stream as cancelled if it is dropped before its end.
struct CancelWatch {
    seen: Arc<Seen>,
    finished: bool,
}

impl Drop for CancelWatch {
    fn drop(&mut self) {
        if !self.finished {
            self.seen.cancelled.fetch_add(1, Ordering::SeqCst);
            self.seen.changed.notify_waiters();
        }
    }
}

fn sse(data: &Value) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

fn delta(text: &str) -> Value {
    json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
}

async fn completions(State(state): State<FakeState>, Json(body): Json<Value>) -> Response {
    let message = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    let attempt = {
        let mut requests = state.seen.requests.lock().unwrap();
        let count = requests.entry(message.clone()).or_default();
        *count += 1;
        *count
    };
    *state.seen.last_body.lock().unwrap() = body;
    if message.contains("[fail]") {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"message": "the fake upstream failed"}})),
        )
            .into_response();
    }
    if message.contains("[429]") && attempt == 1 {
        return (StatusCode::TOO_MANY_REQUESTS, Json(json!({"error": {"message": "slow down"}})))
            .into_response();
    }
    let offered = body_tool(&state);
    if message.contains("[loop]") && offered != "no_tool_offered" {
        return sse_response(futures::stream::iter(tool_call(&offered, TOOL_ARGUMENTS)).boxed());
    }
    let last = state.seen.last_body.lock().unwrap()["messages"].as_array().and_then(|m| m.last().cloned());
    let tool_said = last
        .filter(|m| m["role"] == "tool")
        .map(|m| format!("The tool said: {}", m["content"].as_str().unwrap_or_default()));
    if tool_said.is_none() {
        if message.contains("[tools]") {
            return sse_response(futures::stream::iter(tool_call(&offered, TOOL_ARGUMENTS)).boxed());
        }
        if let Some((name, arguments)) = scripted_call(&message) {
            return sse_response(futures::stream::iter(tool_call(&name, &arguments)).boxed());
        }
    }
    let (words, delay): (Vec<String>, u64) = if let Some(said) = tool_said {
        (said.split_inclusive(' ').map(str::to_owned).collect(), CHUNK_DELAY_MS)
    } else if message.contains("[slow]") {
        ((1..=100).map(|i| format!("w{i} ")).collect(), 50)
    } else if message.contains("[json]") {
        (JSON_REPLY.split_inclusive(' ').map(str::to_owned).collect(), CHUNK_DELAY_MS)
    } else {
        let words = REPLY.split_inclusive(' ').map(str::to_owned).collect();
        (words, CHUNK_DELAY_MS)
    };
    let drop_after = message.contains("[drop]").then_some(2);
    let silent = message.contains("[silent]");
    let watch = CancelWatch { seen: state.seen.clone(), finished: false };
    let chunks = futures::stream::unfold(
        (0usize, words, watch),
        move |(index, words, mut watch)| async move {
            if silent {
                std::future::pending::<()>().await;
            }
            if drop_after == Some(index) {
                // Cut the connection once the chunks before have gone out.
                tokio::time::sleep(Duration::from_millis(50)).await;
                watch.finished = true;
                return Some((Err(std::io::Error::other("connection cut")), (index + 1, words, watch)));
            }
            let chunk = match index.cmp(&words.len()) {
                std::cmp::Ordering::Less => {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    sse(&delta(&words[index]))
                }
                std::cmp::Ordering::Equal => {
                    let usage = json!({"prompt_tokens": 12, "completion_tokens": words.len()});
                    let end = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage});
                    Bytes::from(format!("data: {end}\n\ndata: [DONE]\n\n"))
                }
                std::cmp::Ordering::Greater => {
                    watch.finished = true;
                    drop(watch);
                    return None;
                }
            };
            Some((Ok::<_, std::io::Error>(chunk), (index + 1, words, watch)))
        },
    );
    sse_response(chunks.boxed())
}

fn sse_response(chunks: futures::stream::BoxStream<'static, Result<Bytes, std::io::Error>>) -> Response {
    Response::builder().header("content-type", "text/event-stream").body(Body::from_stream(chunks)).unwrap()
}

/// The name of the first tool the last request offered.
fn body_tool(state: &FakeState) -> String {
    let body = state.seen.last_body.lock().unwrap();
    body["tools"][0]["function"]["name"].as_str().unwrap_or("no_tool_offered").to_owned()
}

/// Numbers the calls made, so each has its own id.
static CALLS: AtomicUsize = AtomicUsize::new(1);

/// The tool and arguments of a `[call NAME {…}]` script.
fn scripted_call(message: &str) -> Option<(String, String)> {
    let rest = &message[message.find("[call ")? + 6..];
    let (name, arguments) = rest.split_once(' ')?;
    Some((name.to_owned(), arguments.trim_end().strip_suffix(']')?.to_owned()))
}

/// A call of `tool` with `arguments`, as a server streams it: the id and name first, then the
/// arguments in parts.
fn tool_call(tool: &str, arguments: &str) -> Vec<Result<Bytes, std::io::Error>> {
    let part = |call: Value| json!({"choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}]});
    let (head, tail) = arguments.split_at(arguments.len().min(10));
    let end = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]});
    [
        part(json!({"index": 0, "id": format!("call_fake_{}", CALLS.fetch_add(1, Ordering::Relaxed)), "type": "function", "function": {"name": tool, "arguments": ""}})),
        part(json!({"index": 0, "function": {"arguments": head}})),
        part(json!({"index": 0, "function": {"arguments": tail}})),
        end,
    ]
    .iter()
    .map(|chunk| Ok(sse(chunk)))
    .chain([Ok(Bytes::from_static(b"data: [DONE]\n\n"))])
    .collect()
}
