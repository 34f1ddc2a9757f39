//! Replicas, run with `cargo bench -p server --bench replicas -- [EVENTS [RESUMES]]`
//! (redis-server on PATH; through `scripts/with-postgres.sh` the replicas share PostgreSQL,
//! otherwise an SQLite file):
//!
//! - fan-out: a camera on replica A sends classification events one at a time (2,000 by
//!   default); a live page on A (the baseline) and one on replica B (through Redis) each time
//!   the event's arrival;
//! - resume: while A writes a reply (a local stand-in model server streams a chunk every 2 ms),
//!   a page reconnects and resumes it (200 times by default), on A (the baseline) and on B
//!   (replayed from Redis): the time from opening the websocket to the first replayed chunk.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use app::backend::chat::providers::UpstreamConfig;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use server::{Application, Config};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

mod common;
mod model;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A throw-away redis-server, stopped when dropped.
struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() {
    let counts: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let events = counts.first().copied().unwrap_or(2_000);
    let resumes = counts.get(1).copied().unwrap_or(200);
    let data = tempfile::tempdir().expect("a temporary directory");
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("an address").port();
    let mut redis = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-server runs");
    let output = std::io::BufReader::new(redis.stdout.take().expect("its output"));
    let ready = std::io::BufRead::lines(output).map_while(Result::ok).any(|l| l.contains("Ready to accept"));
    assert!(ready, "redis-server did not start");
    let _redis = Redis(redis);
    let database_url = match std::env::var("TEST_POSTGRES") {
        Ok(server) => format!("{server}/aic_bench_replicas"),
        Err(_) => format!("sqlite://{}/bench.db", data.path().display()),
    };
    let redis_url = format!("redis://127.0.0.1:{port}/");
    let model = model::start_model_server().await;
    let a = replica(&database_url, &redis_url, &model).await;
    let b = replica(&database_url, &redis_url, &model).await;
    let token = common::api_token(&format!("http://{a}")).await;

    let mut camera = open(&format!("ws://{a}/ws/events/cam0"), &token).await;
    let mut page_on_a = open(&format!("ws://{a}/ws/live"), &token).await;
    let mut page_on_b = open(&format!("ws://{b}/ws/live"), &token).await;
    let (mut same, mut across) = (Vec::with_capacity(events), Vec::with_capacity(events));
    for seq in 1..=events {
        let sent = Instant::now();
        camera.send(Message::Text(event(seq).to_string().into())).await.expect("sent");
        let (on_a, on_b) = tokio::join!(arrival(&mut page_on_a, sent), arrival(&mut page_on_b, sent));
        same.push(on_a);
        across.push(on_b);
        next_of_type(&mut camera, "ack").await;
    }
    println!(
        "replicas: {events} events from a camera on replica A, one at a time ({})",
        database_url.split(':').next().unwrap_or("")
    );
    report("live page on A (same replica)", &mut same);
    report("live page on B (through Redis)", &mut across);
    resume(resumes, (a, b), &token).await;
}

/// Resumes a reply being written on `a` from `a` and from `b`, `times` times each.
async fn resume(times: usize, (a, b): (std::net::SocketAddr, std::net::SocketAddr), token: &str) {
    let settings =
        json!({"model": "bench/stamped", "temperature": 0.02, "max_tokens": 512, "system_prompt": ""});
    let session = model::new_session(&reqwest::Client::new(), &format!("http://{a}"), token, settings).await;
    let path = format!("/ws/ai-chat/session/{session}/");
    let (mut same, mut across) = (Vec::with_capacity(times), Vec::with_capacity(times));
    for round in 0..times {
        let mut writer = open(&format!("ws://{a}{path}"), token).await;
        let ask = json!({"type": "send_message", "message": "1000000", "client_id": format!("r{round}")});
        writer.send(Message::Text(ask.to_string().into())).await.expect("sent");
        let chunk = loop {
            let chunk = next_of_type(&mut writer, "ai_message_chunk").await;
            if chunk["seq"].as_u64() >= Some(3) {
                break chunk;
            }
        };
        let resume = json!({"type": "resume", "message_id": chunk["message_id"], "after_seq": 1});
        for (replica, samples) in [(a, &mut same), (b, &mut across)] {
            let started = Instant::now();
            let mut page = open(&format!("ws://{replica}{path}"), token).await;
            page.send(Message::Text(resume.to_string().into())).await.expect("sent");
            let first = next_of_type(&mut page, "ai_message_chunk").await;
            samples.push(started.elapsed());
            assert_eq!(first["seq"], 2, "the replay starts after the chunk asked for");
        }
        writer.send(Message::Text(json!({"type": "stop"}).to_string().into())).await.expect("sent");
        next_of_type(&mut writer, "ai_message_complete").await;
    }
    println!("resume: {times} replies being written on replica A, resumed after their first chunk");
    report("reconnect to A, first replayed chunk (same replica)", &mut same);
    report("reconnect to B, first replayed chunk (from Redis)", &mut across);
}

/// Serves a replica on `database_url`, relayed through `redis_url`, answering chats with the
/// model server at `model`, once its relay is connected.
async fn replica(database_url: &str, redis_url: &str, model: &str) -> std::net::SocketAddr {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("an address"),
        database_url: database_url.to_owned(),
        redis_url: Some(redis_url.to_owned()),
        models_dir: root.join("models"),
        log: "warn".into(),
        ..Config::default()
    };
    let mut upstream = UpstreamConfig::new("bench", model);
    upstream.models = vec!["stamped".into()];
    config.chat.providers = vec![upstream];
    config.websocket.messages_per_second = 1_000_000;
    config.websocket.burst = 1_000_000;
    config.websocket.connections_per_user = 10_000;
    let app = Application::build(config).await.expect("the replica starts");
    let address = app.local_addr();
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::new();
    loop {
        let ready: Value = client
            .get(format!("http://{address}/readyz"))
            .send()
            .await
            .expect("ready")
            .json()
            .await
            .expect("JSON");
        if ready["degraded"] == false {
            return address;
        }
        tokio::task::yield_now().await;
    }
}

async fn open(url: &str, token: &str) -> Socket {
    let mut request = url.into_client_request().expect("a URL");
    request
        .headers_mut()
        .insert("authorization", HeaderValue::from_str(&format!("Token {token}")).expect("a header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("connects");
    next_of_type(&mut socket, "connection_established").await;
    socket
}

/// How long after `sent` the next event reached `page`.
async fn arrival(page: &mut Socket, sent: Instant) -> Duration {
    next_of_type(page, "event").await;
    sent.elapsed()
}

async fn next_of_type(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let text = match socket.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            other => panic!("the socket ended: {other:?}"),
        };
        let message: Value = serde_json::from_str(&text).expect("JSON");
        if message["type"] == kind {
            return message;
        }
    }
}

fn report(what: &str, latencies: &mut [Duration]) {
    latencies.sort();
    let at = |p: f64| {
        latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64() * 1000.0
    };
    println!("  {what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms", at(0.5), at(0.99), at(1.0));
}

fn event(seq: usize) -> Value {
    json!({
        "type": "classification",
        "producer": "bench",
        "seq": seq,
        "model": "efficientnet_lite0",
        "client_time": "2026-11-30T12:00:00Z",
        "classifications": [{
            "categories": [{"index": 281, "score": 0.61, "categoryName": "tabby", "displayName": ""}],
            "headIndex": 0,
            "headName": "probability"
        }]
    })
}
