//! Inference benchmark, in one run on the same machine and the same cat photo: native ONNX Runtime
//! (the server's classifier) against the browser's (onnxruntime-web in Debian's Chromium, driven
//! by `end2end/bench/browser-inference.mjs` on the Camera page), and what the Camera page costs on
//! a first and a second visit. Reports median and p95 ms per
//! frame. Run with `cargo bench -p server --bench inference` (`-- FRAMES` to change the count).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use app::vision::{Labels, NativeClassifier, RgbaFrame};
use server::{Application, Config};

/// (median, p95) of `samples`, in ms.
fn summary(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    (at(0.5), at(0.95))
}

fn native(models: &Path, frames: usize) -> Vec<f64> {
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
    let frame = RgbaFrame::new(photo.width(), photo.height(), photo.as_raw()).expect("a frame");
    (0..frames + 10)
        .map(|_| {
            let started = Instant::now();
            classifier.classify(&frame, 3).expect("inference");
            started.elapsed().as_secs_f64() * 1000.0
        })
        .skip(10)
        .collect()
}

#[tokio::main]
async fn main() {
    let frames: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let models = root.join("models");
    let native = summary(native(&models, frames));

    let data = tempfile::tempdir().expect("a temporary directory");
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("an address"),
        database_url: format!("sqlite://{}/bench.db", data.path().display()),
        models_dir: models,
        site_root: root.join("target/site"),
        log: "warn".into(),
        ..Config::default()
    };
    let app = Application::build(config).await.expect("the server starts");
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    let script = root.join("end2end/bench/browser-inference.mjs");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node").arg(script).arg(&base).arg(frames.to_string()).output()
    })
    .await
    .expect("the browser run finished")
    .expect("node runs (make test installs it)");
    assert!(output.status.success(), "the browser run failed: {}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    let samples: Vec<f64> =
        report["samples"].as_array().expect("samples").iter().filter_map(|v| v.as_f64()).collect();
    let browser = summary(samples);

    println!("inference: EfficientNet-Lite0 on the cat photo, {frames} frames each, same machine");
    println!("  native ONNX Runtime:            median {:6.1} ms, p95 {:6.1} ms", native.0, native.1);
    println!(
        "  browser (onnxruntime-web, {} threads{}): median {:6.1} ms, p95 {:6.1} ms",
        report["threads"],
        if report["isolated"] == true { ", cross-origin isolated" } else { "" },
        browser.0,
        browser.1
    );
    println!("  browser / native (median):      {:.2}×", browser.0 / native.0);
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
