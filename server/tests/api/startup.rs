use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use sqlx::Connection;

use crate::helpers::{repo_root, spawn_app};

/// The real server binary on a free port with a fresh database, configured further by `vars`.
fn server_command(data_dir: &Path, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ai-channels"));
    command
        .env_remove("AIC_CONFIG")
        .env("AIC_LOG", "info")
        .env("AIC_LISTEN", "127.0.0.1:0")
        .env("AIC_DATABASE_URL", format!("sqlite://{}/test.db", data_dir.display()))
        .env("AIC_MODELS_DIR", repo_root().join("models"))
        .envs(vars.iter().copied());
    command
}

fn run_server(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let data_dir = tempfile::tempdir().unwrap();
    let output = server_command(data_dir.path(), vars).output().expect("the server binary runs");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_malformed_setting_stops_start_up_and_is_named() {
    let (code, stderr) = run_server(&[("AIC_LISTEN", "not-an-address")]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("AIC_LISTEN"), "{stderr}");
    assert!(stderr.contains("not-an-address"), "{stderr}");
}

#[test]
fn an_unsupported_database_stops_start_up_and_is_named() {
    let (code, stderr) = run_server(&[("AIC_DATABASE_URL", "mysql://localhost/db")]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("AIC_DATABASE_URL"), "{stderr}");
}

#[test]
fn a_missing_configuration_file_is_named() {
    let (code, stderr) = run_server(&[("AIC_CONFIG", "/nonexistent/ai-channels.toml")]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("AIC_CONFIG") && stderr.contains("/nonexistent/ai-channels.toml"), "{stderr}");
}

#[test]
fn a_database_that_cannot_be_created_fails_start_up_clearly() {
    let (code, stderr) = run_server(&[("AIC_DATABASE_URL", "sqlite:///proc/ai-channels/test.db")]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("cannot create the database directory /proc/ai-channels"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_creates_and_migrates_the_database() {
    let app = spawn_app().await;
    let mut connection = sqlx::SqliteConnection::connect(&app.database_url()).await.unwrap();
    let (rows,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM instance").fetch_one(&mut connection).await.unwrap();
    assert_eq!(rows, 1);
}

#[test]
fn sigterm_shuts_the_server_down_cleanly() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut server =
        server_command(data_dir.path(), &[]).stderr(Stdio::piped()).spawn().expect("the server starts");
    let stderr = server.stderr.take().unwrap();
    let mut log = BufReader::new(stderr).lines().map_while(Result::ok);
    assert!(log.by_ref().any(|line| line.contains("serving on http://127.0.0.1:")), "never served");

    let kill = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(kill.success());
    assert!(server.wait().unwrap().success());
    assert!(log.any(|line| line.contains("shutting down")));
}
