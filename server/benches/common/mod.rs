//! What the benchmarks share.

use serde_json::Value;

const PASSWORD: &str = "benchmark password";

/// Signs up the user `bench` on the server at `base` (`http://…`) and returns a new API token.
pub async fn api_token(base: &str) -> String {
    let client = reqwest::Client::builder().cookie_store(true).build().expect("a client");
    let form = [("username", "bench"), ("password", PASSWORD), ("confirm", PASSWORD)];
    client.post(format!("{base}/api/sign_up")).form(&form).send().await.expect("sign-up");
    let token: Value = client
        .post(format!("{base}/api/create_token"))
        .form(&[("name", "bench")])
        .send()
        .await
        .expect("a token")
        .json()
        .await
        .expect("JSON");
    token["secret"].as_str().expect("a secret").to_owned()
}
