use std::path::{Path, PathBuf};

use server::{Application, Config, LogFormat};
use tempfile::TempDir;

/// A running server with its own database, and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub client: reqwest::Client,
    /// The database file's directory; removed when the test ends.
    pub data_dir: TempDir,
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).send().await.expect("the server answers")
    }

    pub fn database_url(&self) -> String {
        format!("sqlite://{}", self.data_dir.path().join("test.db").display())
    }
}

/// The repository root, where `models/` and `target/site` are.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A configuration for tests: port 0, a database in `data_dir`, the real models and site.
pub fn test_config(data_dir: &Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("a valid address"),
        database_url: format!("sqlite://{}", data_dir.join("test.db").display()),
        models_dir: repo_root().join("models"),
        site_root: repo_root().join("target/site"),
        log: "warn".into(),
        log_format: LogFormat::Text,
    }
}

/// Starts the server with the test configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the server after `adjust` has changed the test configuration.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = test_config(data_dir.path());
    adjust(&mut config);
    let app = Application::build(config).await.expect("the server starts");
    let address = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp { address, client: reqwest::Client::new(), data_dir }
}
