//! Chat benchmark, `cargo bench -p server --bench chat` (`-- proxy`, `-- sessions [N]` or
//! `-- embedded` for one part):
//!
//! - proxy: time to first token and per-chunk delivery latency straight from a model server vs
//!   through the app's websocket, same run, same server (a local OpenAI-compatible stand-in that
//!   stamps each chunk with the time it was sent);
//! - sessions: N websocket sessions (1,000 by default) streaming at once, 20 chunks a second
//!   each; checks that no delta is lost or reordered and reports each chunk's delay from the
//!   model server to the client, the server's CPU time per reply and per chunk (from a round of
//!   one-chunk replies beside one of 50-chunk replies) and its memory per socket and stream.
//!   The benchmark raises its open-file limit for them (the server inherits it).
//!
//! - embedded: time to the first token of a reply of each embedded instruct model through the
//!   app's websocket beside the engine alone (in this process, same prompt), and the server's
//!   memory with the model loaded.
//!
//! The embedded model's generation speed is the `llm` crate's benchmark (`cargo bench -p llm`).
//!
//! The server runs as its own process (the release binary), so its CPU and memory are its own.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

mod common;
mod model;

use model::{now_micros, start_model_server, take_requests};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let part = args.first().map(String::as_str).unwrap_or("all");
    let sessions: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1_000);
    if let ("relay-floor", [upstream, port, chunks, delay_ms]) = (part, &args[1..]) {
        let knobs = json!({"max_tokens": chunks.parse::<u32>().expect("chunks"),
                           "temperature": delay_ms.parse::<f32>().expect("a delay") / 100.0});
        relay_floor(upstream.clone(), port.parse().expect("a port"), knobs).await;
        return;
    }
    if matches!(part, "all" | "proxy" | "sessions") {
        allow_open_files(4 * sessions as u64 + 4096);
        let upstream = start_model_server().await;
        let providers = format!(r#"[{{name="bench", base_url="{upstream}", models=["stamped"]}}]"#);
        let server = Server::start(&[("AIC_CHAT__PROVIDERS", providers)], sessions + 10).await;
        if matches!(part, "all" | "proxy") {
            proxy(&upstream, &server).await;
        }
        if matches!(part, "all" | "sessions") {
            concurrent_sessions("the app", &server, sessions).await;
            let floor = Server::floor(&upstream, STREAM_CHUNKS, STREAM_DELAY_MS).await;
            concurrent_sessions("a bare relay on the same libraries", &floor, sessions).await;
        }
    }
    if matches!(part, "all" | "embedded") {
        embedded().await;
    }
}

/// The text deltas of a streamed chat completion, read from its server-sent events.
struct Deltas {
    body: futures::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    buffer: String,
    ready: std::collections::VecDeque<String>,
}

impl Deltas {
    fn new(response: reqwest::Response) -> Self {
        Self { body: response.bytes_stream().boxed(), buffer: String::new(), ready: Default::default() }
    }

    async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(delta) = self.ready.pop_front() {
                return Some(delta);
            }
            let bytes = self.body.next().await?.ok()?;
            self.buffer.push_str(&String::from_utf8_lossy(&bytes));
            while let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let Some(data) = event.trim().strip_prefix("data: ") else { continue };
                let Ok(chunk) = serde_json::from_str::<Value>(data) else { continue };
                if let Some(delta) = chunk["choices"][0]["delta"]["content"].as_str() {
                    self.ready.push_back(delta.to_owned());
                }
            }
        }
    }
}

// ---- the floor: a bare relay on the same libraries ----------------------------------------------

/// The least a websocket relay in front of a model server costs on the same libraries (axum's
/// websockets with the app's buffer sizes, reqwest, serde_json) without the app: each
/// `send_message` is posted upstream and every delta sent back as a chunk; nothing is stored.
/// Runs as its own process (`relay-floor UPSTREAM PORT`), so its CPU and memory are its own.
async fn relay_floor(upstream: String, port: u16, knobs: Value) {
    use axum::extract::WebSocketUpgrade;
    let client = reqwest::Client::new();
    let relay = move |upgrade: WebSocketUpgrade| {
        let (client, upstream, knobs) = (client.clone(), upstream.clone(), knobs.clone());
        async move {
            upgrade
                .read_buffer_size(4096)
                .write_buffer_size(0)
                .on_upgrade(move |socket| relay_socket(socket, client, upstream, knobs))
        }
    };
    let router = Router::new().route("/healthz", get(|| async { "ok" })).fallback(get(relay));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("the port");
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| drop(stream.set_nodelay(true)));
    axum::serve(listener, router).await.expect("serves");
}

async fn relay_socket(
    mut socket: axum::extract::ws::WebSocket,
    client: reqwest::Client,
    upstream: String,
    knobs: Value,
) {
    use axum::extract::ws::Message as Frame;
    let text = |value: Value| Frame::Text(value.to_string().into());
    if socket.send(text(json!({"type": "connection_established"}))).await.is_err() {
        return;
    }
    while let Some(Ok(Frame::Text(frame))) = socket.recv().await {
        let Ok(frame) = serde_json::from_str::<Value>(&frame) else { continue };
        let body = json!({"model": "stamped", "stream": true, "max_tokens": knobs["max_tokens"],
                          "temperature": knobs["temperature"], "messages": [{"role": "user", "content": frame["message"]}]});
        let response = match client.post(format!("{upstream}/chat/completions")).json(&body).send().await {
            Ok(response) => response,
            Err(e) => {
                let _ = socket.send(text(json!({"type": "error", "message": format!("{e:?}")}))).await;
                continue;
            }
        };
        let (mut deltas, mut reply, mut seq) = (Deltas::new(response), String::new(), 0);
        while let Some(delta) = deltas.next().await {
            seq += 1;
            let chunk = json!({"type": "ai_message_chunk", "seq": seq, "content": delta});
            reply.push_str(&delta);
            if socket.send(text(chunk)).await.is_err() {
                return;
            }
        }
        if socket
            .send(text(json!({"type": "ai_message_complete", "message": {"content": reply}})))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// A port free right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port").port()
}

// ---- the app, as its own process ---------------------------------------------------------------

struct Server {
    child: Child,
    base: String,
    ws: String,
    /// The API token, or `None` for the bare relay (which has no sessions).
    token: Option<String>,
    client: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

impl Server {
    /// The server with the settings in `env`, allowing `connections` websockets per user.
    async fn start(env: &[(&str, String)], connections: usize) -> Self {
        let port = free_port();
        let data = std::env::temp_dir().join(format!("ai-channels-chat-bench-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&data);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut command = Command::new(env!("CARGO_BIN_EXE_ai-channels"));
        command
            .env("AIC_LISTEN", format!("127.0.0.1:{port}"))
            .env("AIC_DATABASE_URL", format!("sqlite://{}", data.display()))
            .env("AIC_MODELS_DIR", root.join("models"))
            .env("AIC_SITE_ROOT", root.join("target/site"))
            .env("AIC_LOG", "warn")
            .envs(env.iter().map(|(key, value)| (key, value)))
            .env("AIC_WEBSOCKET__CONNECTIONS_PER_USER", connections.to_string())
            .stdout(Stdio::null());
        let mut server = Self::spawn(command, port).await;
        server.token = Some(common::api_token(&server.base).await);
        server
    }

    /// The bare relay (this benchmark, run as `relay-floor UPSTREAM PORT CHUNKS DELAY_MS`) in
    /// front of `upstream`, asking for replies of `chunks` chunks `delay_ms` apart.
    async fn floor(upstream: &str, chunks: u32, delay_ms: f32) -> Self {
        let port = free_port();
        let mut command = Command::new(std::env::current_exe().expect("this benchmark"));
        command.args([
            "relay-floor",
            upstream,
            &port.to_string(),
            &chunks.to_string(),
            &delay_ms.to_string(),
        ]);
        Self::spawn(command, port).await
    }

    /// Starts `command` and waits for it to answer on `port`.
    async fn spawn(mut command: Command, port: u16) -> Self {
        let child = command.spawn().expect("the server starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if client.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, ws: base.replacen("http", "ws", 1), base, token: None, client }
    }

    /// A new session whose replies have `chunks` chunks, `delay_ms` apart.
    async fn session(&self, chunks: u32, delay_ms: f32) -> i64 {
        self.session_with(json!({"model": "bench/stamped", "temperature": delay_ms / 100.0, "max_tokens": chunks, "system_prompt": ""}))
            .await
    }

    /// A new session with `settings` (none on the bare relay).
    async fn session_with(&self, settings: Value) -> i64 {
        let Some(token) = &self.token else { return 0 };
        model::new_session(&self.client, &self.base, token, settings).await
    }

    async fn connect(&self, session: i64) -> Socket {
        let token = self.token.as_deref().unwrap_or_default();
        let url = format!("{}/ws/ai-chat/session/{session}/?token={token}", self.ws);
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("the websocket opens");
        next_json(&mut socket).await;
        socket
    }

    /// The server's CPU time so far and its resident memory, from /proc.
    fn usage(&self) -> (Duration, u64) {
        let pid = self.child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        let ticks: u64 =
            fields.get(11..13).map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
        (Duration::from_millis(ticks * 10), memory_kb(pid, "VmRSS:"))
    }
}

/// A memory figure of process `pid` in KiB (`VmRSS:` resident now, `VmHWM:` its peak), from
/// /proc.
fn memory_kb(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        match socket.next().await.expect("the socket is open").expect("a frame") {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
            _ => continue,
        }
    }
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

// ---- proxy overhead ----------------------------------------------------------------------------

/// Replies per path, and their chunks.
const REPLIES: usize = 20;
const CHUNKS: u32 = 100;
const CHUNK_DELAY_MS: f32 = 10.0;

async fn proxy(upstream: &str, server: &Server) {
    let client = reqwest::Client::new();
    let mut direct = Timed::default();
    take_requests();
    for _ in 0..REPLIES {
        let body = json!({"model": "stamped", "stream": true, "max_tokens": CHUNKS, "temperature": CHUNK_DELAY_MS / 100.0,
                          "messages": [{"role": "user", "content": "go"}]});
        let sent = now_micros();
        let response =
            client.post(format!("{upstream}/chat/completions")).json(&body).send().await.expect("a reply");
        let mut deltas = Deltas::new(response);
        let mut first = true;
        while let Some(delta) = deltas.next().await {
            if let Ok(stamp) = delta.trim().parse::<u64>() {
                direct.chunk(sent, stamp, &mut first);
            }
        }
    }
    let (direct, direct_bytes) = direct.figures();
    let (app, app_bytes) = through_websocket(server).await.figures();
    let floor = Server::floor(upstream, CHUNKS, CHUNK_DELAY_MS).await;
    let (floor, floor_bytes) = through_websocket(&floor).await.figures();
    println!("chat proxy overhead: {REPLIES} replies × {CHUNKS} chunks, {CHUNK_DELAY_MS} ms apart, per path");
    println!(
        "  {:<44} {:>12} {:>16} {:>10} {:>18} {:>10}",
        "", "model server", "via app websocket", "added", "via a bare relay", "added"
    );
    let names = [
        "request reaches the model server",
        "first token, the model's own wait left out",
        "time to first token",
        "chunk delivery latency",
    ];
    for (i, name) in names.iter().enumerate() {
        for (label, p) in [("median", 0.5), ("p99", 0.99)] {
            let (d, a, f) = (percentile(&direct[i], p), percentile(&app[i], p), percentile(&floor[i], p));
            println!(
                "  {:<44} {:>9.3} ms {:>13.3} ms {:>7.3} ms {:>15.3} ms {:>7.3} ms",
                format!("{name}, {label}"),
                ms(d),
                ms(a),
                ms(a.saturating_sub(d)),
                ms(f),
                ms(f.saturating_sub(d))
            );
        }
    }
    println!(
        "  model request body, mean: {direct_bytes} bytes straight, {app_bytes} via the app, {floor_bytes} via the bare relay"
    );
}

/// One path's replies, in µs since the epoch.
#[derive(Default)]
struct Timed {
    /// Per reply: when it was sent, and when its first chunk was sent by the model server and
    /// when it was received.
    first: Vec<(u64, u64, u64)>,
    /// Every chunk's delay from the model server's send to the client's receipt.
    chunks: Vec<u64>,
}

impl Timed {
    /// Records a chunk the model server stamped `stamp`, received now, of the reply sent at
    /// `sent`; `first` is true until the reply's first chunk is recorded.
    fn chunk(&mut self, sent: u64, stamp: u64, first: &mut bool) {
        let now = now_micros();
        if std::mem::take(first) {
            self.first.push((sent, stamp, now));
        }
        self.chunks.push(now.saturating_sub(stamp));
    }

    /// With the model server's log of the requests these replies made (one each, in order), each
    /// sorted: the request's way to the model server, the first token's way out and back (the
    /// time to it, less the model's wait between the request's arrival and the first chunk,
    /// which the model server's timer rounds to whole milliseconds), the time to the first
    /// token, and every chunk's delivery; and the requests' mean body size.
    fn figures(self) -> ([Vec<u64>; 4], usize) {
        let requests = take_requests();
        assert_eq!(requests.len(), self.first.len(), "one model request per reply");
        let (mut out, mut out_and_back, mut first) = (Vec::new(), Vec::new(), Vec::new());
        for (&(sent, stamp, received), &(arrived, _)) in self.first.iter().zip(&requests) {
            out.push(arrived.saturating_sub(sent));
            out_and_back.push(arrived.saturating_sub(sent) + received.saturating_sub(stamp));
            first.push(received.saturating_sub(sent));
        }
        let mut figures = [out, out_and_back, first, self.chunks];
        for list in &mut figures {
            list.sort_unstable();
        }
        let bytes = requests.iter().map(|(_, bytes)| bytes).sum::<usize>() / requests.len().max(1);
        (figures, bytes)
    }
}

/// Replies to `go`, one after another on one socket.
async fn through_websocket(server: &Server) -> Timed {
    let session = server.session(CHUNKS, CHUNK_DELAY_MS).await;
    let mut socket = server.connect(session).await;
    let mut timed = Timed::default();
    for i in 0..REPLIES {
        let sent = now_micros();
        let frame = json!({"type": "send_message", "message": "go", "client_id": format!("p{i}")});
        socket.send(Message::Text(frame.to_string().into())).await.expect("sent");
        let mut first = true;
        loop {
            let frame = next_json(&mut socket).await;
            match frame["type"].as_str() {
                Some("ai_message_chunk") => {
                    let stamp: u64 =
                        frame["content"].as_str().and_then(|s| s.trim().parse().ok()).expect("a stamp");
                    timed.chunk(sent, stamp, &mut first);
                }
                Some("ai_message_complete") => break,
                _ => {}
            }
        }
    }
    timed
}

// ---- many sessions at once ---------------------------------------------------------------------

/// Chunks of each reply, and the time between them (20 chunks/s).
const STREAM_CHUNKS: u32 = 50;
const STREAM_DELAY_MS: f32 = 50.0;

/// What one session's client saw of a reply.
struct Received {
    /// Upstream send to client receipt, per chunk, in µs.
    delays: Vec<u64>,
    /// Why the reply was not as sent, if it was not.
    fault: Option<String>,
}

/// Sends `message` on every socket at once (their starts spread over one chunk interval, as
/// independent users' would be) and reads every reply to its end, checking sequence numbers and
/// the stored text.
async fn round(sockets: Vec<Socket>, message: &str, chunks: u32) -> Vec<(Socket, Received)> {
    let count = sockets.len();
    let runs: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, mut socket)| {
            let message = message.to_owned();
            tokio::spawn(async move {
                let offset = STREAM_DELAY_MS as f64 * 1000.0 * i as f64 / count as f64;
                tokio::time::sleep(Duration::from_micros(offset as u64)).await;
                let frame = json!({"type": "send_message", "message": message, "client_id": format!("{message}-{i}")});
                socket.send(Message::Text(frame.to_string().into())).await.expect("sent");
                let (mut next_seq, mut text, mut delays) = (1u64, String::new(), Vec::new());
                let fault = loop {
                    let frame = next_json(&mut socket).await;
                    match frame["type"].as_str() {
                        Some("ai_message_chunk") => {
                            let content = frame["content"].as_str().unwrap_or_default();
                            if let Ok(stamp) = content.trim().parse::<u64>() {
                                delays.push(now_micros().saturating_sub(stamp));
                            }
                            if frame["seq"].as_u64() != Some(next_seq) {
                                break Some(format!("session {i}: expected seq {next_seq}, got {}", frame["seq"]));
                            }
                            next_seq += 1;
                            text.push_str(content);
                        }
                        Some("error") => break Some(format!("session {i}: {frame}")),
                        Some("ai_message_complete") => {
                            let stored = frame["message"]["content"].as_str().unwrap_or_default();
                            break (stored != text || next_seq != u64::from(chunks) + 1).then(|| {
                                format!("session {i}: {} chunks, stored text differs: {}", next_seq - 1, stored != text)
                            });
                        }
                        _ => {}
                    }
                };
                (socket, Received { delays, fault })
            })
        })
        .collect();
    futures::future::join_all(runs).await.into_iter().map(|run| run.expect("a session task")).collect()
}

/// Raises this process's open-file limit (inherited by the server it starts) to `files`, or as
/// far as it may (its hard limit, without the privilege to raise that): each session holds a
/// socket at both ends of the websocket and of the model server's connection.
fn allow_open_files(files: u64) {
    let mut limit = libc::rlimit { rlim_cur: files, rlim_max: files };
    // SAFETY: setrlimit and getrlimit read or fill the struct they are given and nothing else.
    unsafe {
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            let refused = std::io::Error::last_os_error();
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            eprintln!(
                "cannot raise the open-file limit to {files} ({refused}); it is {}: about {} sessions fit",
                limit.rlim_cur,
                limit.rlim_cur.saturating_sub(200) / 2
            );
        }
    }
}

async fn concurrent_sessions(label: &str, server: &Server, count: usize) {
    let mut sessions = Vec::with_capacity(count);
    for _ in 0..count {
        sessions.push(server.session(STREAM_CHUNKS, STREAM_DELAY_MS).await);
    }
    let (_, rss_closed) = server.usage();
    let mut sockets = Vec::with_capacity(count);
    for session in sessions {
        sockets.push(server.connect(session).await);
    }
    let (cpu_idle, rss_idle) = server.usage();
    // A one-chunk reply per session: what a reply costs besides its chunks.
    let sockets: Vec<Socket> = round(sockets, "1", 1).await.into_iter().map(|(socket, _)| socket).collect();
    let (cpu_short, _) = server.usage();
    let started = Instant::now();
    let mut peak_rss = rss_idle;
    let mut runs = std::pin::pin!(round(sockets, "go", STREAM_CHUNKS));
    let results = loop {
        tokio::select! {
            results = &mut runs => break results,
            () = tokio::time::sleep(Duration::from_millis(100)) => peak_rss = peak_rss.max(server.usage().1),
        }
    };
    let elapsed = started.elapsed();
    let (cpu_long, _) = server.usage();
    let failures: Vec<String> = results.iter().filter_map(|(_, r)| r.fault.clone()).collect();
    let mut delays: Vec<u64> = results.iter().flat_map(|(_, r)| r.delays.iter().copied()).collect();
    delays.sort_unstable();
    let per_reply = cpu_short.saturating_sub(cpu_idle).as_secs_f64() * 1e6 / count as f64;
    let streaming = cpu_long.saturating_sub(cpu_short).as_secs_f64() * 1e6;
    let per_chunk = (streaming / count as f64 - per_reply) / f64::from(STREAM_CHUNKS - 1);
    println!(
        "chat sessions through {label}: {count} websocket sessions streaming at once, {STREAM_CHUNKS} chunks {STREAM_DELAY_MS} ms apart each"
    );
    println!(
        "  all replies complete in {:.2} s; lost or reordered deltas: {}",
        elapsed.as_secs_f64(),
        failures.len()
    );
    for failure in failures.iter().take(5) {
        println!("    {failure}");
    }
    println!(
        "  chunk delay (model server sends → client receives): median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(percentile(&delays, 0.5)),
        ms(percentile(&delays, 0.99)),
        ms(delays.last().copied().unwrap_or(0))
    );
    println!(
        "  server CPU: {:.0} µs per reply besides its chunks, {per_chunk:.1} µs per chunk ({:.1} µs per chunk all in)",
        per_reply,
        streaming / (count as f64 * f64::from(STREAM_CHUNKS))
    );
    println!(
        "  server memory: {:.1} MiB before the sockets open, {:.1} MiB idle with them open ({:.1} KiB per idle socket), \
         {:.1} MiB peak; {:.1} KiB per streaming session",
        rss_closed as f64 / 1024.0,
        rss_idle as f64 / 1024.0,
        rss_idle.saturating_sub(rss_closed) as f64 / count as f64,
        peak_rss as f64 / 1024.0,
        peak_rss.saturating_sub(rss_idle) as f64 / count as f64
    );
}

// ---- the embedded models through the app --------------------------------------------------------

/// Replies timed per model and path.
const EMBEDDED_REPLIES: usize = 10;
/// The questions replies answer, one per fresh chat.
const COUNTRIES: [&str; 11] =
    ["France", "Italy", "Spain", "Japan", "Peru", "Kenya", "Norway", "Chile", "Egypt", "Canada", "India"];

fn question(n: usize) -> String {
    format!("What is the capital of {}? Answer in one word.", COUNTRIES[n % COUNTRIES.len()])
}

async fn embedded() {
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    println!(
        "embedded models: time to first token, {EMBEDDED_REPLIES} replies each, greedy, a fresh chat for each question"
    );
    println!(
        "  {:<22} {:>14} {:>18} {:>10} {:>14} {:>14}",
        "model", "engine alone", "via app websocket", "added", "server RSS", "server peak"
    );
    for (id, file) in [
        ("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
        ("qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
    ] {
        let engine = engine_first_tokens(&models.join(file));
        let server = Server::start(&[("AIC_CHAT__DEFAULT_MODEL", format!("local/{id}"))], 10).await;
        let settings =
            json!({"model": format!("local/{id}"), "temperature": 0.0, "max_tokens": 4, "system_prompt": ""});
        // The first reply loads the model (when its warm-up at start has not yet).
        let mut app = Vec::new();
        for i in 0..=EMBEDDED_REPLIES {
            let session = server.session_with(settings.clone()).await;
            let mut socket = server.connect(session).await;
            let first = first_token(&mut socket, &question(i), &format!("e{i}")).await;
            if i > 0 {
                app.push(first);
            }
        }
        app.sort_unstable();
        let (follow_up_fresh, follow_up_app) = follow_ups(&server, &models.join(file), &settings).await;
        let pid = server.child.id();
        let (rss, peak) = (memory_kb(pid, "VmRSS:"), memory_kb(pid, "VmHWM:"));
        let (engine, app) = (percentile(&engine, 0.5), percentile(&app, 0.5));
        println!(
            "  {:<22} {:>11.1} ms {:>15.1} ms {:>7.1} ms {:>10} MiB {:>10} MiB",
            id,
            ms(engine),
            ms(app),
            ms(app.saturating_sub(engine)),
            rss / 1024,
            peak / 1024
        );
        println!(
            "  {:<22} {:>11.1} ms {:>15.1} ms   (a follow-up after a {LONG_LINES}-line message: read whole / the new turn only)",
            "",
            ms(follow_up_fresh),
            ms(follow_up_app)
        );
    }
}

/// Sends `message` on a session's socket and reads the reply to its end; returns the time to
/// its first chunk, in µs.
async fn first_token(socket: &mut Socket, message: &str, client_id: &str) -> u64 {
    let frame = json!({"type": "send_message", "message": message, "client_id": client_id});
    let sent = Instant::now();
    socket.send(Message::Text(frame.to_string().into())).await.expect("sent");
    let mut first = None;
    loop {
        let frame = next_json(socket).await;
        match frame["type"].as_str() {
            Some("ai_message_chunk") => {
                first.get_or_insert_with(|| sent.elapsed());
            }
            Some("ai_message_complete") => break,
            _ => {}
        }
    }
    first.expect("a chunk").as_micros() as u64
}

/// Lines of the long first message of a chat.
const LONG_LINES: usize = 80;

/// The time to the first token of a follow-up question in a chat whose first message is long:
/// the engine alone reading the whole conversation, and the app (which reads only the new turn);
/// medians of 5, in µs.
async fn follow_ups(server: &Server, model: &std::path::Path, settings: &Value) -> (u64, u64) {
    use llm::chat::{Message as ChatMessage, Role};
    const FOLLOW_UP: &str = "Which camera saw the most cats?";
    let long: String = (0..LONG_LINES)
        .map(|i| {
            format!("{:02}:{:02} camera {} saw a cat\n", i / 60, i % 60, ["door", "yard", "garage"][i % 3])
        })
        .collect::<String>()
        + "Summarise this log in one sentence.";
    let engine = llm::Model::load(model).expect("the model");
    let sampling = llm::Sampling { temperature: 0.0, top_p: 0.95, repeat_penalty: 1.1, seed: 1 };
    let conversation = [
        ChatMessage::new(Role::User, long.as_str()),
        ChatMessage::new(Role::Assistant, "The cameras saw cats."),
        ChatMessage::new(Role::User, FOLLOW_UP),
    ];
    let mut fresh: Vec<u64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let prompt = engine.chat_prompt(&conversation, &[]).expect("a prompt");
            engine.generate(&prompt, sampling).expect("a generation").next();
            started.elapsed().as_micros() as u64
        })
        .collect();
    drop(engine);
    let mut app = Vec::new();
    for i in 0..5 {
        let session = server.session_with(settings.clone()).await;
        let mut socket = server.connect(session).await;
        first_token(&mut socket, &long, &format!("f{i}-0")).await;
        app.push(first_token(&mut socket, FOLLOW_UP, &format!("f{i}-1")).await);
    }
    fresh.sort_unstable();
    app.sort_unstable();
    (percentile(&fresh, 0.5), percentile(&app, 0.5))
}

/// The engine's time to the first token of the same replies, in this process: each prompt
/// rendered by the template, read after what the previous one computed (as the app does), and
/// one token sampled; sorted, in µs.
fn engine_first_tokens(path: &std::path::Path) -> Vec<u64> {
    use llm::chat::{Message as ChatMessage, Role};
    let model = llm::Model::load(path).expect("the set-up places the model in models/");
    let sampling = llm::Sampling { temperature: 0.0, top_p: 0.95, repeat_penalty: 1.1, seed: 1 };
    let mut prefix = None;
    let mut times: Vec<u64> = (0..=EMBEDDED_REPLIES)
        .map(|i| {
            let started = Instant::now();
            let prompt =
                model.chat_prompt(&[ChatMessage::new(Role::User, question(i))], &[]).expect("a prompt");
            let mut generation =
                model.generate_after(prefix.take(), &prompt, sampling).expect("a generation");
            generation.next().expect("a token").expect("no error");
            let elapsed = started.elapsed().as_micros() as u64;
            prefix = Some(generation.into_prefix());
            elapsed
        })
        .skip(1)
        .collect();
    times.sort_unstable();
    times
}
