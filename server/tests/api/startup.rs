use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

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
    let mut connection = app.database().await;
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

#[test]
fn help_and_version_print_and_exit_without_touching_the_working_directory() {
    let work = tempfile::tempdir().unwrap();
    for (argument, expected) in [("--help", "check-config"), ("--version", env!("CARGO_PKG_VERSION"))] {
        let output = Command::new(env!("CARGO_BIN_EXE_ai-channels"))
            .arg(argument)
            .current_dir(work.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "{argument}");
        assert!(String::from_utf8_lossy(&output.stdout).contains(expected), "{argument}");
    }
    let unknown = Command::new(env!("CARGO_BIN_EXE_ai-channels"))
        .arg("--port=1")
        .current_dir(work.path())
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("--port"));
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0, "nothing was created");
}

#[test]
fn migrate_creates_the_database_and_exits() {
    let data_dir = tempfile::tempdir().unwrap();
    let output = server_command(data_dir.path(), &[]).arg("migrate").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(data_dir.path().join("test.db").is_file());
}

#[test]
fn check_config_prints_the_effective_settings_with_secrets_hidden() {
    let data_dir = tempfile::tempdir().unwrap();
    let vars = [
        (
            "AIC_CHAT__PROVIDERS",
            r#"[{name="up", base_url="http://127.0.0.1:9/v1", api_key="sk-hidden", models=["m"]}]"#,
        ),
        ("AIC_SESSION_DAYS", "7"),
    ];
    let output = server_command(data_dir.path(), &vars).arg("check-config").output().unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(printed.contains("session_days = 7") && printed.contains("[redacted]"), "{printed}");
    assert!(!printed.contains("sk-hidden"), "{printed}");
    assert!(!data_dir.path().join("test.db").exists(), "checking does not create the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_logged_with_refusals_and_their_reasons_but_no_query_string() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut server =
        server_command(data_dir.path(), &[]).stderr(Stdio::piped()).spawn().expect("the server starts");
    let (lines, mut log) = tokio::sync::mpsc::unbounded_channel();
    let stderr = server.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let address = loop {
        let line = log.recv().await.expect("the server logs");
        if let Some(rest) = line.split("serving on ").nth(1) {
            break rest.trim().to_owned();
        }
    };
    let client = reqwest::Client::new();
    client.get(format!("{address}/healthz")).send().await.unwrap();
    let refused =
        client.post(format!("{address}/api/create_token?token=s3cret-in-query")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("/api/create_token")) {
        seen.push(log.recv().await.expect("more log lines"));
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let health = seen
        .iter()
        .find(|l| l.contains("path=\"/healthz\"") || l.contains("path=/healthz"))
        .expect("a line for /healthz");
    assert!(health.contains("status=200") && health.contains("latency_ms"), "{health}");
    let refusal = seen.last().unwrap();
    assert!(refusal.contains("request refused") && refusal.contains("status=401"), "{refusal}");
    assert!(refusal.contains("unauthorized") && refusal.contains("sign in"), "{refusal}");
    assert!(!seen.iter().any(|l| l.contains("s3cret-in-query")), "query strings are never logged");
}
