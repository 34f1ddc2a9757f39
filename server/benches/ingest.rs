//! Ingest benchmark: N concurrent websocket producers on loopback send classification events to
//! `/ws/events/{stream}` with a window of events in flight; reports events persisted per second
//! and acknowledgement latency. Run with `cargo bench -p server --bench ingest`
//! (`-- PRODUCERS EVENTS_PER_PRODUCER WINDOW` to change the load).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use server::{Application, Config};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

mod common;

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let producers = args.first().copied().unwrap_or(50);
    let per_producer = args.get(1).copied().unwrap_or(2_000);
    let window = args.get(2).copied().unwrap_or(32);
    println!("ingest: {producers} producers × {per_producer} events, {window} in flight each");

    let data = tempfile::tempdir().expect("a temporary directory");
    let mut databases = vec![("SQLite", format!("sqlite://{}/bench.db", data.path().display()))];
    match std::env::var("TEST_POSTGRES") {
        Ok(server) => databases.push(("PostgreSQL", format!("{server}/aic_bench"))),
        Err(_) => println!("  (PostgreSQL skipped: run through scripts/with-postgres.sh --durable)"),
    }
    for (engine, database_url) in databases {
        let mut latencies = Vec::with_capacity(producers * per_producer);
        let elapsed = run(&database_url, producers, (per_producer, window), &mut latencies).await;
        latencies.sort();
        let total = latencies.len();
        let percentile = |p: f64| latencies[((total as f64 * p) as usize).min(total - 1)];
        println!("  {engine}:");
        println!("    events acknowledged: {total} in {:.2} s", elapsed.as_secs_f64());
        println!("    throughput:          {:.0} events/s persisted", total as f64 / elapsed.as_secs_f64());
        println!(
            "    ack latency:         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(percentile(0.50)),
            ms(percentile(0.99)),
            ms(latencies[total - 1])
        );
    }
}

/// Serves the app on `database_url` and runs the producers against it; every acknowledgement's
/// latency goes into `latencies`. Returns how long the producers took.
async fn run(
    database_url: &str,
    producers: usize,
    (per_producer, window): (usize, usize),
    latencies: &mut Vec<Duration>,
) -> Duration {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("an address"),
        database_url: database_url.to_owned(),
        models_dir: root.join("models"),
        log: "warn".into(),
        ..Config::default()
    };
    config.websocket.messages_per_second = 1_000_000;
    config.websocket.burst = 1_000_000;
    config.websocket.connections_per_user = producers + 1;
    let app = Application::build(config).await.expect("the server starts");
    let address = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let token = common::api_token(&format!("http://{address}")).await;

    let started = Instant::now();
    let runs: Vec<_> = (0..producers)
        .map(|p| tokio::spawn(produce(address, token.clone(), p, per_producer, window)))
        .collect();
    for run in runs {
        latencies.extend(run.await.expect("a producer finished"));
    }
    let elapsed = started.elapsed();
    let _ = stop.send(());
    let _ = server.await;
    elapsed
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// One producer: keeps `window` events in flight and returns each event's acknowledgement time.
/// As a browser does, it sends each message at once (no Nagle delay).
async fn produce(
    address: std::net::SocketAddr,
    token: String,
    producer: usize,
    events: usize,
    window: usize,
) -> Vec<Duration> {
    let mut request =
        format!("ws://{address}/ws/events/cam{}", producer % 8).into_client_request().expect("a URL");
    let auth = HeaderValue::from_str(&format!("Token {token}")).expect("a header");
    request.headers_mut().insert("authorization", auth);
    let (socket, _) =
        tokio_tungstenite::connect_async_with_config(request, None, true).await.expect("connects");
    let (mut sink, mut stream) = socket.split();
    stream.next().await.expect("connection_established").expect("a frame");

    let mut sent_at = HashMap::with_capacity(window);
    let mut latencies = Vec::with_capacity(events);
    let mut next_seq = 1;
    while latencies.len() < events {
        while next_seq <= events && sent_at.len() < window {
            sent_at.insert(next_seq as u64, Instant::now());
            sink.send(Message::Text(event(producer, next_seq).into())).await.expect("sent");
            next_seq += 1;
        }
        let Some(Ok(Message::Text(reply))) = stream.next().await else { continue };
        let reply: Reply = serde_json::from_str(&reply).expect("JSON");
        assert_eq!(reply.kind, "ack", "{reply:?}");
        if let Some(sent) = sent_at.remove(&reply.seq) {
            latencies.push(sent.elapsed());
        }
    }
    latencies
}

/// What the benchmark reads of the server's answer.
#[derive(Debug, Deserialize)]
struct Reply<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    seq: u64,
}

/// The `seq`th event of `producer`, as a camera page writes it.
fn event(producer: usize, seq: usize) -> String {
    format!(
        r#"{{"type":"classification","producer":"bench-{producer}","seq":{seq},"model":"efficientnet_lite0","client_time":"2026-11-21T12:00:00Z","classifications":[{{"categories":[{{"index":281,"score":0.61,"categoryName":"tabby","displayName":""}},{{"index":282,"score":0.2,"categoryName":"tiger cat","displayName":""}},{{"index":285,"score":0.1,"categoryName":"Egyptian cat","displayName":""}}],"headIndex":0,"headName":"probability"}}]}}"#
    )
}
