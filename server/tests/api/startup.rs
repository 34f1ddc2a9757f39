use std::process::Command;

use sqlx::Connection;

use crate::helpers::spawn_app;

fn run_server(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ai-channels"));
    command.env_remove("AIC_CONFIG").env("AIC_LOG", "warn");
    for (key, value) in vars {
        command.env(key, value);
    }
    let output = command.output().expect("the server binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
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
    assert!(
        stderr.contains("AIC_CONFIG") && stderr.contains("/nonexistent/ai-channels.toml"),
        "{stderr}"
    );
}

#[test]
fn a_database_that_cannot_be_created_fails_start_up_clearly() {
    let (code, stderr) = run_server(&[("AIC_DATABASE_URL", "sqlite:///proc/ai-channels/test.db")]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("cannot create the database directory /proc/ai-channels"),
        "{stderr}"
    );
}

#[tokio::test]
async fn start_up_creates_and_migrates_the_database() {
    let app = spawn_app().await;
    let mut connection = sqlx::SqliteConnection::connect(&app.database_url())
        .await
        .unwrap();
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM instance")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}
