use serde_json::Value;

use crate::helpers::{TestUser, repo_root, spawn_app};

async fn classify(user: &TestUser, query: &str, body: Vec<u8>) -> reqwest::Response {
    let url = format!("{}/api/classify{query}", user.address);
    user.client.post(url).header("content-type", "image/png").body(body).send().await.unwrap()
}

fn cat_photo() -> Vec<u8> {
    std::fs::read(repo_root().join("models/samples/chelsea.png")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_photo_is_classified_on_the_server() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let response = classify(&alice, "", cat_photo()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["headName"], "probability");
    let categories = body["categories"].as_array().unwrap();
    assert_eq!(categories.len(), 3);
    let top = categories[0]["index"].as_u64().unwrap();
    assert!((281..=285).contains(&top), "{body}");

    let five: Value = classify(&alice, "?max_results=5", cat_photo()).await.json().await.unwrap();
    assert_eq!(five["categories"].as_array().unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_get_clear_errors() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let not_an_image = classify(&alice, "", b"hello".to_vec()).await;
    assert_eq!(not_an_image.status(), 400);
    let body: Value = not_an_image.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("not a JPEG or PNG"), "{body}");
    assert_eq!(classify(&alice, "?max_results=0", cat_photo()).await.status(), 400);
    assert_eq!(classify(&app.browser(), "", cat_photo()).await.status(), 401);
}
