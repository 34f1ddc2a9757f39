//! The AI Channels server: typed configuration, start-up and the HTTP router that serves the
//! Leptos app, its assets, health checks and (later) the websockets and REST API.
#![warn(missing_docs)]

mod auth;
pub mod cli;
mod config;
mod routes;
mod security;
mod startup;
pub mod telemetry;
mod ws;

pub use config::{Config, ConfigError, LogFormat, WebsocketConfig, WsEndpoint};
pub use startup::{Application, Extensions, StartupError};
