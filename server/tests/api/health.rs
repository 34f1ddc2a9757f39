use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_lists_the_database_and_every_model_asset() {
    let app = spawn_app().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["ready"], true);
    let names: Vec<&str> =
        body["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    for expected in [
        "database",
        "efficientnet_lite0.onnx",
        "efficientnet_lite0.f16.onnx",
        "imagenet_labels.json",
        "gemma-3-270m-q4_k_m.gguf",
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "onnxruntime/libonnxruntime.so",
        "onnxruntime-web",
    ] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_unavailable_and_names_what_is_missing() {
    let empty = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|config| config.models_dir = empty.path().to_owned()).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["code"], "unavailable");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("efficientnet_lite0.onnx: missing"), "{message}");
    assert!(!message.contains("database"), "{message}");
}
