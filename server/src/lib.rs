//! The AI Channels server: typed configuration, start-up and the HTTP router that serves the
//! Leptos app, its assets, health checks and (later) the websockets and REST API.

mod config;
mod routes;
mod startup;
pub mod telemetry;

pub use config::{Config, ConfigError, LogFormat};
pub use startup::{Application, StartupError};
