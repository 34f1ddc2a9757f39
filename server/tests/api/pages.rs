use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_page_is_rendered_on_the_server_with_its_hydration_script() {
    let app = spawn_app().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("<h1>AI in the browser"), "{html}");
    assert!(html.contains("/pkg/ai-channels.js"), "no hydration script in {html}");
    assert!(html.contains(r#"href="/pkg/ai-channels.css""#), "no stylesheet in {html}");
    for link in [r#"href="/chat""#, r#"href="/camera""#, r#"href="/events""#] {
        assert!(html.contains(link), "no {link} in the navigation");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_of_the_navigation_renders_for_a_signed_in_user() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    for (path, heading) in
        [("/chat", "Chat"), ("/camera", "Camera"), ("/events", "Events"), ("/account", "Account")]
    {
        let response = alice.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains(&format!("<h1>{heading}</h1>")), "{path}: {html}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitors_are_sent_to_sign_in_and_back() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for path in ["/chat", "/camera", "/events", "/account", "/admin/users"] {
        let response = client.get(app.url(path)).header("accept", "text/html").send().await.unwrap();
        assert_eq!(response.status(), 302, "{path}");
        assert_eq!(response.headers()["location"], format!("/login?next={path}"));
    }
    let login = app.get("/login").await.text().await.unwrap();
    assert!(login.contains("<h1>Sign in</h1>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_path_is_a_404_page() {
    let app = spawn_app().await;
    let response = app.get("/no-such-page").await;
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("Page not found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_site_and_the_browser_runtime_are_served_with_their_types() {
    let app = spawn_app().await;
    for (path, content_type) in [
        ("/pkg/ai-channels.js", "text/javascript"),
        ("/pkg/ai-channels_bg.wasm", "application/wasm"),
        ("/pkg/ai-channels.css", "text/css"),
        ("/favicon.svg", "image/svg+xml"),
        ("/ort/ort.wasm.min.mjs", "text/javascript"),
        ("/ort/ort-wasm-simd-threaded.wasm", "application/wasm"),
        ("/litert/litert.js", "text/javascript"),
        ("/litert/litert_wasm_threaded_internal.js", "text/javascript"),
        ("/litert/litert_wasm_threaded_internal.wasm", "application/wasm"),
        ("/models/efficientnet_lite0.f16.tflite", "application/octet-stream"),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let actual = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(actual.starts_with(content_type), "{path}: {actual}");
    }
    assert_eq!(app.get("/ort/no-such-file.mjs").await.status(), 404);
    assert_eq!(app.get("/litert/no-such-file.js").await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_files_are_sent_compressed_and_revalidated_without_their_bytes() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    for path in [
        "/pkg/ai-channels_bg.wasm",
        "/models/efficientnet_lite0.f16.onnx",
        "/ort/ort-wasm-simd-threaded.wasm",
        "/litert/litert_wasm_threaded_internal.wasm",
        "/models/efficientnet_lite0.f16.tflite",
    ] {
        let get = |encoding: &'static str| client.get(app.url(path)).header("accept-encoding", encoding);
        let plain = get("identity").send().await.unwrap();
        assert_eq!(plain.headers().get("content-encoding"), None, "{path}");
        let plain_length = plain.bytes().await.unwrap().len();
        let brotli = get("gzip, deflate, br").send().await.unwrap();
        assert_eq!(brotli.headers()["content-encoding"], "br", "{path}");
        assert_eq!(brotli.headers()["cache-control"], "no-cache", "{path}");
        let modified = brotli.headers()["last-modified"].clone();
        assert!(brotli.bytes().await.unwrap().len() < plain_length, "{path}: not smaller compressed");

        let again = get("br").header("if-modified-since", modified).send().await.unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
    }
}
