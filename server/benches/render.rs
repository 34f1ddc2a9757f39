//! Streaming render benchmark, `cargo bench -p server --bench render`: what a long reply costs the
//! Chat page while it streams in. The scripted model server (`end2end/fake-upstream.mjs`) sends a
//! 20 KB Markdown reply in 40-character chunks, 50 a second; Debian's Chromium shows it on the
//! Chat page (driven by `end2end/bench/chat-render.mjs`), and Chromium's tracing records every
//! task of the page's main thread meanwhile, against the 16 ms of a frame. Side by side, in the
//! same run and on the same text and chunks: the rendering work per chunk natively, re-rendering
//! the whole reply at every chunk (what the page did before) against rendering only its last
//! block (what it does now).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use app::backend::chat::ChatConfig;
use app::backend::chat::providers::UpstreamConfig;
use app::ui::chat::highlight::grammars;
use app::ui::chat::markdown::{StreamingMarkdown, render};
use server::{Application, Config};

/// The chunk size of the scripted `[long]` reply, in characters.
const CHUNK_CHARS: usize = 40;
/// A frame at 60 Hz, in ms.
const FRAME_MS: f64 = 16.7;

/// (median, p99, max) of `samples`.
fn summary(mut samples: Vec<f64>) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    (at(0.5), at(0.99), samples.last().copied().unwrap_or_default())
}

/// The model server as a child process, stopped when dropped.
struct ModelServer(Child);

impl Drop for ModelServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn model_server(root: &std::path::Path) -> (ModelServer, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap().port();
    let child = Command::new("node")
        .arg(root.join("end2end/fake-upstream.mjs"))
        .env("E2E_UPSTREAM_PORT", port.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("node runs (make test installs it)");
    let base = format!("http://127.0.0.1:{port}/v1");
    let started = Instant::now();
    while reqwest::get(format!("{base}/models")).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "the model server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (ModelServer(child), base)
}

/// Per-chunk rendering time natively, in ms: the whole reply each time, and the last block only.
fn native(reply: &str) -> (Vec<f64>, Vec<f64>) {
    let chars: Vec<(usize, char)> = reply.char_indices().collect();
    let ends: Vec<usize> =
        chars.chunks(CHUNK_CHARS).map(|chunk| chunk.last().map_or(0, |(at, c)| at + c.len_utf8())).collect();
    let whole = ends
        .iter()
        .map(|&end| {
            let started = Instant::now();
            std::hint::black_box(render(&reply[..end], grammars()));
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let mut streaming = StreamingMarkdown::default();
    streaming.highlight_with(grammars());
    let incremental = ends
        .iter()
        .map(|&end| {
            let started = Instant::now();
            std::hint::black_box(streaming.update(&reply[..end]));
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    (whole, incremental)
}

#[tokio::main]
async fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let (_model_server, upstream) = model_server(&root).await;
    let data = tempfile::tempdir().expect("a temporary directory");
    let mut provider = UpstreamConfig::new("fake", &upstream);
    provider.models = vec!["fake-model".into()];
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("an address"),
        database_url: format!("sqlite://{}/bench.db", data.path().display()),
        models_dir: root.join("models"),
        site_root: root.join("target/site"),
        log: "warn".into(),
        chat: ChatConfig {
            providers: vec![provider],
            default_model: Some("fake/fake-model".into()),
            ..ChatConfig::default()
        },
        ..Config::default()
    };
    let app = Application::build(config).await.expect("the server starts");
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));

    let script = root.join("end2end/bench/chat-render.mjs");
    let output = tokio::task::spawn_blocking(move || Command::new("node").arg(script).arg(&base).output())
        .await
        .expect("the browser run finished")
        .expect("node runs");
    assert!(output.status.success(), "the browser run failed: {}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    let reply = report["reply"].as_str().expect("the stored reply").to_owned();
    assert_eq!(report["status"], "complete");
    let tasks: Vec<f64> =
        report["tasks"].as_array().expect("tasks").iter().filter_map(|v| v.as_f64()).collect();
    let over = tasks.iter().filter(|&&ms| ms > FRAME_MS).count();
    let busy: f64 = tasks.iter().sum();
    let seconds = report["seconds"].as_f64().unwrap_or(1.0);
    let chunks = reply.chars().count().div_ceil(CHUNK_CHARS);
    let (whole, incremental) = native(&reply);
    let (whole_total, incremental_total) = (whole.iter().sum::<f64>(), incremental.iter().sum::<f64>());
    let (whole, incremental) = (summary(whole), summary(incremental));
    let (median, p99, max) = summary(tasks.clone());

    println!(
        "render: a {} KB reply in {chunks} chunks of {CHUNK_CHARS} characters, 50 a second",
        reply.len() / 1024
    );
    println!(
        "  Chat page in Chromium, main-thread tasks while it streamed ({} tasks, {seconds:.1} s):",
        tasks.len()
    );
    println!(
        "    median {median:.2} ms, p99 {p99:.2} ms, max {max:.2} ms; {over} over a frame ({FRAME_MS} ms)"
    );
    println!(
        "    busy {:.0} ms in all ({:.1} % of the time), {} blocks on the page",
        busy,
        busy / (seconds * 10.0),
        report["blocks"]
    );
    println!("  rendering per chunk, natively, same text and chunks:");
    println!(
        "    whole reply each chunk (before): median {:.3} ms, p99 {:.3} ms, max {:.3} ms, {whole_total:.0} ms in all",
        whole.0, whole.1, whole.2
    );
    println!(
        "    last block only (now):           median {:.3} ms, p99 {:.3} ms, max {:.3} ms, {incremental_total:.0} ms in all",
        incremental.0, incremental.1, incremental.2
    );
}
