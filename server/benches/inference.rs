//! Inference benchmark, in one run on the same machine: native ONNX Runtime (the server's
//! classifier) against every browser engine and option in Debian's Chromium (LiteRT.js and
//! onnxruntime-web, float32 and int8, 1 and 2 threads), measured interleaved in rounds
//! (`end2end/bench/browser-inference.mjs` runs a round of every browser engine, then this runs a
//! round of native), and the Camera page itself: its inference time per frame as the page reports
//! it, and what it costs on a first and a second visit. Reports median and p95 ms per frame and
//! the ratio to native. Run with `cargo bench -p server --bench inference` (`-- FRAMES` to change
//! the count per engine).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use app::vision::{Labels, NativeClassifier, RgbaFrame};
use server::{Application, Config};

/// (median, p95) of `samples`, in ms.
fn summary(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    (at(0.5), at(0.95))
}

/// Native ONNX Runtime on the cat photo: `run(n)` classifies it n times and returns the times.
struct Native {
    classifier: NativeClassifier,
    photo: image::RgbaImage,
}

impl Native {
    fn load(models: &std::path::Path) -> Self {
        let labels =
            Labels::from_json(&std::fs::read_to_string(models.join("imagenet_labels.json")).expect("labels"))
                .expect("a label list");
        let classifier = NativeClassifier::load(
            &models.join("onnxruntime/libonnxruntime.so"),
            &models.join("efficientnet_lite0.onnx"),
            labels,
        )
        .expect("the model loads");
        let photo = image::open(models.join("samples/chelsea.png")).expect("the cat photo").to_rgba8();
        let native = Self { classifier, photo };
        native.run(10);
        native
    }

    fn run(&self, n: usize) -> Vec<f64> {
        let frame =
            RgbaFrame::new(self.photo.width(), self.photo.height(), self.photo.as_raw()).expect("a frame");
        (0..n)
            .map(|_| {
                let started = Instant::now();
                self.classifier.classify(&frame, 3).expect("inference");
                started.elapsed().as_secs_f64() * 1000.0
            })
            .collect()
    }
}

/// Rounds each engine's frames are spread over, every engine in turn in each.
const ROUNDS: usize = 5;

/// Runs the browser script against `base`, running a round of native between its rounds; returns
/// its report and native's samples.
fn browser(script: PathBuf, base: &str, frames: usize, native: &Native) -> (serde_json::Value, Vec<f64>) {
    let mut child = Command::new("node")
        .arg(script)
        .arg(base)
        .arg(frames.to_string())
        .arg(ROUNDS.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs (make test installs it)");
    let mut input = child.stdin.take().expect("the script's input");
    let output = BufReader::new(child.stdout.take().expect("the script's output"));
    let (mut native_samples, mut report) = (Vec::new(), None);
    for line in output.lines() {
        let line = line.expect("the script's output is text");
        let value: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
        if value.get("round").is_some() {
            native_samples.extend(native.run(frames.div_ceil(ROUNDS)));
            writeln!(input, "next").expect("the script reads its input");
        } else {
            report = Some(value);
        }
    }
    let status = child.wait().expect("the script ends");
    assert!(status.success(), "the browser run failed");
    (report.expect("a JSON report"), native_samples)
}

#[tokio::main]
async fn main() {
    let frames: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let models = root.join("models");

    let data = tempfile::tempdir().expect("a temporary directory");
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("an address"),
        database_url: format!("sqlite://{}/bench.db", data.path().display()),
        models_dir: models.clone(),
        site_root: root.join("target/site"),
        log: "warn".into(),
        ..Config::default()
    };
    let app = Application::build(config).await.expect("the server starts");
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    let script = root.join("end2end/bench/browser-inference.mjs");
    let (report, native) = tokio::task::spawn_blocking(move || {
        let native = Native::load(&models);
        browser(script, &base, frames, &native)
    })
    .await
    .expect("the browser run finished");
    let native = summary(native);
    let samples = |value: &serde_json::Value| -> Vec<f64> {
        value.as_array().expect("samples").iter().filter_map(|v| v.as_f64()).collect()
    };

    println!(
        "inference: EfficientNet-Lite0, {frames} frames per engine, interleaved in {ROUNDS} rounds, same machine ({} cores{})",
        report["threads"],
        if report["isolated"] == true { ", page cross-origin isolated" } else { "" },
    );
    println!(
        "  {:<52} median {:6.1} ms, p95 {:6.1} ms",
        "native ONNX Runtime, 2 threads", native.0, native.1
    );
    for engine in report["engines"].as_array().expect("engines") {
        let (median, p95) = summary(samples(&engine["samples"]));
        let name = engine["name"].as_str().unwrap_or("?");
        println!("  {name:<52} median {median:6.1} ms, p95 {p95:6.1} ms, {:5.2}× native", median / native.0);
    }
    let (median, p95) = summary(samples(&report["samples"]));
    let page = format!("the Camera page ({}, in its worker)", report["engine"].as_str().unwrap_or("?"));
    println!("  {page:<52} median {median:6.1} ms, p95 {p95:6.1} ms, {:5.2}× native", median / native.0);
    let megabytes = |value: &serde_json::Value| value.as_f64().unwrap_or(f64::NAN) / 1e6;
    for (name, visit) in
        [("first visit (empty cache)", &report["firstVisit"]), ("second visit", &report["secondVisit"])]
    {
        println!(
            "  {name}: {:.2} MB over the network, {:.2} MB of it WebAssembly and model; first classification after {} ms",
            megabytes(&visit["bytes"]),
            megabytes(&visit["wasmAndModelBytes"]),
            visit["ms"]
        );
    }
}
