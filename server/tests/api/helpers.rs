use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use server::{Application, Config, Extensions};
use sqlx::Connection;
use tempfile::TempDir;

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

/// A running server with its own database.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    /// A client without cookies.
    pub client: reqwest::Client,
    /// The server's data directory; removed when the test ends.
    pub _data_dir: TempDir,
    /// Its database.
    pub database_url: String,
}

/// A signed-in user: a client whose cookie jar holds their session.
pub struct TestUser {
    pub name: String,
    pub client: reqwest::Client,
    pub jar: Arc<Jar>,
    pub address: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("the server answers")
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone()
    }

    /// A connection to the server's database, for checking what it stored.
    pub async fn database(&self) -> sqlx::AnyConnection {
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(&self.database_url).await.expect("the database answers")
    }

    /// The `ws://` URL of `path`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.address.replacen("http", "ws", 1))
    }

    /// A fresh client with its own cookie jar.
    pub fn browser(&self) -> TestUser {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder().cookie_provider(Arc::clone(&jar)).build().unwrap();
        TestUser { name: String::new(), client, jar, address: self.address.clone() }
    }

    /// Creates an account and returns its signed-in client.
    pub async fn sign_up(&self, name: &str) -> TestUser {
        let mut user = self.browser();
        let response =
            user.call("sign_up", &[("username", name), ("password", PASSWORD), ("confirm", PASSWORD)]).await;
        assert!(response.status().is_success(), "sign-up failed: {}", response.text().await.unwrap());
        user.name = name.to_owned();
        user
    }
}

impl TestUser {
    /// Calls the server function `name` with form fields, as a same-origin browser would.
    pub async fn call(&self, name: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}/api/{name}", self.address))
            .header("origin", &self.address)
            .form(fields)
            .send()
            .await
            .expect("the server answers")
    }

    /// Calls a server function and parses its JSON answer, asserting success.
    pub async fn call_ok(&self, name: &str, fields: &[(&str, &str)]) -> Value {
        let response = self.call(name, fields).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(status.is_success(), "{name}: {status} {body}");
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }

    /// The `Cookie` header this client sends (its session).
    pub fn cookies(&self) -> String {
        let url = self.address.parse().unwrap();
        self.jar.cookies(&url).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    }

    /// Creates an API token and returns (id, secret).
    pub async fn create_token(&self, name: &str) -> (i64, String) {
        let token = self.call_ok("create_token", &[("name", name)]).await;
        (token["info"]["id"].as_i64().unwrap(), token["secret"].as_str().unwrap().to_owned())
    }
}

/// Headers carrying an API token.
pub fn token_headers(secret: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", HeaderValue::from_str(&format!("Token {secret}")).unwrap());
    headers
}

/// The repository root, where `models/` and `target/site` are.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A configuration for tests: port 0, a database in `data_dir`, the real models and site.
pub fn test_config(data_dir: &Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("a valid address"),
        database_url: test_database_url(data_dir),
        files_dir: data_dir.join("files"),
        models_dir: repo_root().join("models"),
        site_root: repo_root().join("target/site"),
        log: "warn".into(),
        ..Config::default()
    }
}

/// A fresh database for a test: an SQLite file in `data_dir`, or, when `TEST_POSTGRES`
/// names a PostgreSQL server (`postgres://user@host:port`; `make test` starts one and runs the
/// suite again on it), a new database there, which the server creates.
pub fn test_database_url(data_dir: &Path) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    match std::env::var("TEST_POSTGRES") {
        Ok(server) => format!(
            "{}/aic_test_{}_{}",
            server.trim_end_matches('/'),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ),
        Err(_) => format!("sqlite://{}", data_dir.join("test.db").display()),
    }
}

/// Starts the server with the test configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the server after `adjust` has changed the test configuration.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_extended(adjust, Extensions::default()).await
}

/// Starts the server with the application's own event handlers and agents.
pub async fn spawn_app_extended(adjust: impl FnOnce(&mut Config), extensions: Extensions) -> TestApp {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
    let data_dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = test_config(data_dir.path());
    adjust(&mut config);
    let database_url = config.database_url.clone();
    let app = Application::build_with(config, extensions).await.expect("the server starts");
    let address = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp { address, client: reqwest::Client::new(), _data_dir: data_dir, database_url }
}
