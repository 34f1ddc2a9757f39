//! The AI Channels server: reads the command line and the configuration, then serves the app
//! until Ctrl-C or SIGTERM, applies the database migrations, or prints the configuration.

use std::process::ExitCode;

use app::backend::Database;
use clap::Parser;
use server::cli::{Cli, Command, redacted_toml};
use server::{Application, Config, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.clone()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("ai-channels: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command() {
        Command::CheckConfig => {
            print!("{}", redacted_toml(&config));
            ExitCode::SUCCESS
        }
        Command::Migrate => migrate(&config).await,
        Command::Serve => serve(config).await,
    }
}

/// Opens the database, which applies pending migrations, and closes it again.
async fn migrate(config: &Config) -> ExitCode {
    match Database::connect(&config.database_url).await {
        Ok(db) => {
            db.close().await;
            println!("ai-channels: the database at {} is up to date", config.database_url);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ai-channels: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> ExitCode {
    telemetry::init(&config);
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = match shutdown_signal() {
        Ok(shutdown) => shutdown,
        Err(e) => {
            tracing::error!("cannot listen for shutdown signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    app.warm_up();
    tracing::info!("serving on http://{}", app.local_addr());
    match app.run_until(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, so in-flight requests can finish. The handlers are
/// installed before this returns: a signal that arrives once the server says it is serving is
/// never missed.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};

    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down");
    })
}
