use serde_json::Value;

use crate::helpers::{TestUser, spawn_app, spawn_app_with};

/// Asks the server, with `user`'s cookie, to create a token; `header` says where the request
/// comes from.
async fn create_token_from(user: &TestUser, header: (&str, &str)) -> reqwest::Response {
    let url = format!("{}/api/create_token", user.address);
    user.client.post(url).header(header.0, header.1).form(&[("name", "forged")]).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_security_headers_and_a_csp_naming_their_script_nonce() {
    let app = spawn_app().await;
    let response = app.get("/").await;
    let headers = response.headers().clone();
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-embedder-policy", "require-corp"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        ("x-frame-options", "DENY"),
    ] {
        assert_eq!(headers[name], value, "{name}");
    }
    let csp = headers["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("'wasm-unsafe-eval'") && csp.contains("worker-src 'self' blob:"), "{csp}");
    let nonce = csp.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("a nonce");
    let html = response.text().await.unwrap();
    assert!(html.contains(&format!(r#"nonce="{nonce}""#)), "the page's scripts do not carry the CSP nonce");

    let api = app.get("/healthz").await;
    assert!(api.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'self'"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_authenticated_changes_from_another_site_are_refused() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let forged = create_token_from(&alice, ("origin", "https://evil.example")).await;
    assert_eq!(forged.status(), 403);
    let body: Value = forged.json().await.unwrap();
    assert_eq!(body["code"], "forbidden");

    let no_origin = create_token_from(&alice, ("sec-fetch-site", "cross-site")).await;
    assert_eq!(no_origin.status(), 403);
    assert_eq!(alice.call_ok("tokens", &[]).await, Value::Array(vec![]), "no token was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_header_that_is_no_token_does_not_skip_the_cross_site_check() {
    let app = spawn_app().await;
    let alice = app.sign_up("alice").await;
    let url = format!("{}/api/create_token", alice.address);
    let forged = |authorization: &'static str| {
        alice
            .client
            .post(&url)
            .header("origin", "https://evil.example")
            .header("authorization", authorization)
            .form(&[("name", "forged")])
            .send()
    };
    let bearer = forged("Bearer whatever").await.unwrap();
    assert_eq!(bearer.status(), 403, "the cookie must not act for another site");
    let bad_token = forged("Token aic_not_a_real_token").await.unwrap();
    assert_eq!(bad_token.status(), 401, "a token request is judged by its token alone");
    assert_eq!(alice.call_ok("tokens", &[]).await, Value::Array(vec![]), "no token was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_origins_may_call_in() {
    let app = spawn_app_with(|config| config.allowed_origins = vec!["https://app.example".into()]).await;
    let alice = app.sign_up("alice").await;
    let allowed = create_token_from(&alice, ("origin", "https://app.example")).await;
    assert_eq!(allowed.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_bodies_are_refused() {
    let app = spawn_app_with(|config| config.max_body_bytes = 1024).await;
    let visitor = app.browser();
    let big = "x".repeat(4096);
    let response = visitor.call("log_in", &[("username", big.as_str()), ("password", "x")]).await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "too_large");
    assert!(body["message"].as_str().unwrap().contains("1024 bytes"), "{body}");

    // The same body sent in chunks, without a declared length.
    let chunks = futures::stream::iter(
        big.into_bytes().chunks(512).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>(),
    );
    let chunked = visitor
        .client
        .post(format!("{}/api/log_in", app.address))
        .header("origin", &app.address)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.status(), 413);
    assert_eq!(chunked.json::<Value>().await.unwrap()["code"], "too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_out_calls_get_401_whatever_their_arguments() {
    let app = spawn_app().await;
    let visitor = app.browser();
    for (name, fields) in
        [("rules/save", vec![("rule[min_score]", "not a number")]), ("create_token", vec![])]
    {
        let response = visitor.call(name, &fields).await;
        assert_eq!(response.status(), 401, "{name}");
        assert_eq!(response.json::<Value>().await.unwrap()["code"], "unauthorized");
    }
    let response = app.client.post(app.url("/ai-chat/api/sessions/")).body("{not json").send().await.unwrap();
    assert_eq!(response.status(), 401);
    // Public functions still answer signed-out visitors, with their own argument errors.
    assert_eq!(visitor.call("log_in", &[]).await.status(), 400);
}
