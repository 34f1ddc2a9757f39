//! A local OpenAI-compatible stand-in for a model server whose chunks carry the time they were
//! sent, and chat sessions that use it, for the benchmarks.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// The instant chunk stamps count from (the model server and the clients share this process).
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Microseconds since the first call (the model server and the clients share a process).
pub fn now_micros() -> u64 {
    epoch().elapsed().as_micros() as u64
}

/// When each chat completion request arrived (µs, as [`now_micros`]) and its body's size, in
/// order of arrival.
static REQUESTS: Mutex<Vec<(u64, usize)>> = Mutex::new(Vec::new());

/// The requests that arrived since the last call: when (µs, as [`now_micros`]) and their bodies'
/// sizes, in order.
#[allow(dead_code, reason = "the replicas benchmark does not time requests")]
pub fn take_requests() -> Vec<(u64, usize)> {
    std::mem::take(&mut REQUESTS.lock().expect("the request log"))
}

/// `chunks` chunks `delay_ms` apart, set by the request's `max_tokens` and `temperature`
/// (reused as knobs: chunks = max_tokens, delay = temperature × 100 ms), or fewer chunks when
/// the last message is a number.
async fn completions(State(()): State<()>, body: Bytes) -> axum::response::Response {
    REQUESTS.lock().expect("the request log").push((now_micros(), body.len()));
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let asked = body["messages"].as_array().and_then(|m| m.last()).and_then(|m| m["content"].as_str());
    let chunks =
        asked.and_then(|text| text.parse().ok()).or_else(|| body["max_tokens"].as_u64()).unwrap_or(100);
    let delay = Duration::from_micros((body["temperature"].as_f64().unwrap_or(0.1) * 100_000.0) as u64);
    let stream = futures::stream::unfold(0u64, move |i| async move {
        if i > chunks {
            return None;
        }
        if i == chunks {
            let end = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
            return Some((
                Ok::<_, std::io::Error>(Bytes::from(format!("data: {end}\n\ndata: [DONE]\n\n"))),
                i + 1,
            ));
        }
        tokio::time::sleep(delay).await;
        let chunk = json!({"choices": [{"index": 0, "delta": {"content": format!("{} ", now_micros())}}]});
        Some((Ok(Bytes::from(format!("data: {chunk}\n\n"))), i + 1))
    });
    axum::response::Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .expect("a response")
}

/// Serves the model `stamped` on a free port; returns its `/v1` address.
pub async fn start_model_server() -> String {
    let router = Router::new()
        .route("/v1/models", get(|| async { Json(json!({"data": [{"id": "stamped"}]})) }))
        .route("/v1/chat/completions", post(completions))
        .with_state(());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let url = format!("http://{}/v1", listener.local_addr().expect("an address"));
    // As model servers do (uvicorn, llama.cpp): each chunk is sent at once.
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| drop(stream.set_nodelay(true)));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// A new chat session with `settings` on the app at `base` (`http://…`), made with the API token
/// `token`; its id.
pub async fn new_session(client: &reqwest::Client, base: &str, token: &str, settings: Value) -> i64 {
    let session: Value = client
        .post(format!("{base}/ai-chat/api/sessions/"))
        .header("authorization", format!("Token {token}"))
        .json(&json!({"settings": settings}))
        .send()
        .await
        .expect("a session")
        .json()
        .await
        .expect("session JSON");
    session["id"].as_i64().expect("a session id")
}
