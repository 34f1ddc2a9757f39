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
    assert_eq!(not_an_image.status(), 422);
    let body: Value = not_an_image.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("not a JPEG or PNG"), "{body}");
    assert_eq!(classify(&alice, "?max_results=0", cat_photo()).await.status(), 400);
    assert_eq!(classify(&app.browser(), "", cat_photo()).await.status(), 401);
}

/// A small JPEG whose header claims `width` × `height` pixels.
fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut bytes = Vec::new();
    let pixels = image::RgbImage::from_pixel(16, 16, image::Rgb([200, 100, 50]));
    pixels.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg).unwrap();
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a baseline JPEG has SOF0");
    bytes[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_claiming_huge_dimensions_is_refused_before_decoding() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let bomb = jpeg_claiming(9000, 9000);
    assert!(bomb.len() < 2048, "a small file");
    let response = classify(&alice, "", bomb).await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "too_large");
    assert!(body["message"].as_str().unwrap().contains("4096"), "{body}");
    assert_eq!(classify(&alice, "", jpeg_claiming(16, 16)).await.status(), 200, "a normal image still works");
}
