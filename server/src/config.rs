use std::net::SocketAddr;
use std::path::PathBuf;

use app::backend::chat::ChatConfig;
use app::backend::events::{SightingPolicy, WebhookPolicy};
use app::backend::http::TrustedProxies;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Prefix of every environment variable the server reads, e.g. `AIC_LISTEN`.
pub const ENV_PREFIX: &str = "AIC_";

/// The configuration file read when `AIC_CONFIG` is not set (skipped if it does not exist).
const DEFAULT_FILE: &str = "ai-channels.toml";

/// All settings of the server, layered: built-in defaults, then the TOML file, then
/// cargo-leptos's `LEPTOS_SITE_ADDR` / `LEPTOS_SITE_ROOT`, then `AIC_*` environment variables.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (`AIC_LISTEN`).
    pub listen: SocketAddr,
    /// Database URL (`AIC_DATABASE_URL`): `sqlite://PATH`, `sqlite::memory:` or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (for replicas sharing one database).
    pub database_url: String,
    /// Directory where files attached to chat messages are kept (`AIC_FILES_DIR`).
    pub files_dir: PathBuf,
    /// Directory of the model assets the set-up produces (`AIC_MODELS_DIR`).
    pub models_dir: PathBuf,
    /// Directory of the built site: `pkg/` with the WebAssembly, CSS and public files (`AIC_SITE_ROOT`).
    pub site_root: PathBuf,
    /// Log filter in `tracing` syntax, e.g. `info,server=debug` (`AIC_LOG`).
    pub log: String,
    /// Log line format (`AIC_LOG_FORMAT`): `text` or `json`.
    pub log_format: LogFormat,
    /// Let visitors use the app as guests, without an account (`AIC_GUEST_MODE`).
    pub guest_mode: bool,
    /// Origins besides the server's own allowed to send cookie-authenticated requests and to
    /// open websockets, e.g. `["https://app.example.com"]` (`AIC_ALLOWED_ORIGINS`).
    pub allowed_origins: Vec<String>,
    /// Hosts and ranges off the public internet that rules' webhooks may reach, e.g.
    /// `["hooks.intranet", "10.1.0.0/16"]` (`AIC_WEBHOOK_ALLOW`); public addresses always may.
    pub webhook_allow: WebhookPolicy,
    /// The proxies in front of the app, whose `X-Forwarded-For` names the client, e.g.
    /// `["127.0.0.1"]` for nginx on the same machine (`AIC_TRUSTED_PROXIES`).
    pub trusted_proxies: TrustedProxies,
    /// Days a browser session lasts after sign-in (`AIC_SESSION_DAYS`).
    pub session_days: u32,
    /// Largest HTTP request body accepted, in bytes (`AIC_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Websocket limits (`AIC_WEBSOCKET__…`).
    pub websocket: WebsocketConfig,
    /// Days classification events are kept; 0 keeps them forever (`AIC_EVENT_RETENTION_DAYS`).
    pub event_retention_days: u32,
    /// When a label's sighting begins and ends (`[sightings]`, `AIC_SIGHTINGS__…`).
    pub sightings: SightingPolicy,
    /// The chat's model providers and the settings of new sessions (`[chat]`, `AIC_CHAT__…`).
    pub chat: ChatConfig,
    /// Registers the example agents of the README's guide, `echo`, `support` and `sales`
    /// (`AIC_AGENT_EXAMPLES`).
    pub agent_examples: bool,
    /// The Redis that replicas behind one load balancer share (`AIC_REDIS_URL`, e.g.
    /// `redis://127.0.0.1:6379/`): the live updates one publishes reach the pages on all. None
    /// (the default) for a single process.
    pub redis_url: Option<String>,
}

/// Limits every websocket connection is held to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebsocketConfig {
    /// Largest message accepted, in bytes; larger ones close the connection with code 1009.
    pub max_message_bytes: usize,
    /// Per-endpoint overrides of `max_message_bytes`, by endpoint name (e.g. `live`); an unknown
    /// name is a configuration error.
    pub endpoint_max_message_bytes: std::collections::BTreeMap<WsEndpoint, usize>,
    /// Messages a connection may send per second on average.
    pub messages_per_second: u32,
    /// Messages a connection may send in a burst above that rate.
    pub burst: u32,
    /// Open websocket connections per user.
    pub connections_per_user: usize,
    /// Seconds without any traffic (pongs included) after which a connection is closed.
    pub idle_timeout_secs: u64,
    /// Seconds between checks that a connection's session or token is still valid.
    pub credential_check_secs: u64,
}

impl Default for WebsocketConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            endpoint_max_message_bytes: Default::default(),
            messages_per_second: 20,
            burst: 40,
            connections_per_user: 16,
            idle_timeout_secs: 60,
            credential_check_secs: 15,
        }
    }
}

/// The websocket endpoints, by the names the configuration uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WsEndpoint {
    /// `/ws/live`: live events, alerts and session-list changes.
    Live,
    /// `/ws/events/{stream}`: a camera's classification events.
    Events,
    /// `/ws/ai-chat/session/{id}/`: one chat session.
    Chat,
    /// `/ws/ai-chat/sessions/`: the chat session list.
    ChatSessions,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            database_url: "sqlite://data/ai-channels.db".into(),
            files_dir: "data/files".into(),
            models_dir: "models".into(),
            site_root: "target/site".into(),
            log: "info".into(),
            log_format: LogFormat::Text,
            guest_mode: false,
            allowed_origins: Vec::new(),
            webhook_allow: WebhookPolicy::default(),
            trusted_proxies: TrustedProxies::default(),
            session_days: 30,
            max_body_bytes: 1024 * 1024,
            websocket: WebsocketConfig::default(),
            event_retention_days: 30,
            sightings: SightingPolicy::default(),
            agent_examples: false,
            redis_url: None,
            chat: ChatConfig::default(),
        }
    }
}

/// A setting is missing, malformed or out of range; the message names it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl Config {
    /// Reads the configuration from the process environment and the optional TOML file
    /// (`file`, else `AIC_CONFIG`, else `ai-channels.toml` if it exists), and validates it.
    pub fn load(file: Option<PathBuf>) -> Result<Self, ConfigError> {
        let named = file
            .map(|path| ("--config", path))
            .or_else(|| std::env::var_os("AIC_CONFIG").map(|path| ("AIC_CONFIG", PathBuf::from(path))));
        let file = match named {
            Some((source, path)) if !path.is_file() => {
                return Err(ConfigError(format!("{source}: no configuration file at `{}`", path.display())));
            }
            Some((_, path)) => path,
            None => PathBuf::from(DEFAULT_FILE),
        };
        let leptos = Env::raw()
            .only(&["LEPTOS_SITE_ADDR", "LEPTOS_SITE_ROOT"])
            .map(|key| if key == "leptos_site_addr" { "listen".into() } else { "site_root".into() });
        let figment = Figment::from(Serialized::defaults(Self::default()))
            .merge(Toml::file(file))
            .merge(leptos)
            .merge(Env::prefixed(ENV_PREFIX).ignore(&["CONFIG"]).split("__"));
        Self::from_figment(&figment)
    }

    /// Extracts and validates a configuration from any set of layered sources.
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let config: Self = figment.extract().map_err(|e| {
            ConfigError(e.into_iter().map(|e| describe(figment, &e)).collect::<Vec<_>>().join("; "))
        })?;
        config.validate()
    }

    fn validate(self) -> Result<Self, ConfigError> {
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|scheme| self.database_url.starts_with(scheme))
        {
            return Err(ConfigError(format!(
                "AIC_DATABASE_URL: `{}` is not supported; use `sqlite://PATH` or `postgres://USER@HOST/DATABASE`",
                self.database_url
            )));
        }
        if let Some(url) = self.redis_url.as_ref().filter(|url| !url.starts_with("redis://")) {
            return Err(ConfigError(format!(
                "AIC_REDIS_URL: `{url}` is not a Redis URL like `redis://127.0.0.1:6379/`"
            )));
        }
        if let Some(bad) = self.allowed_origins.iter().find(|o| !is_origin(o)) {
            return Err(ConfigError(format!(
                "AIC_ALLOWED_ORIGINS: `{bad}` is not an origin like `https://app.example.com`"
            )));
        }
        let ws = &self.websocket;
        if ws.max_message_bytes == 0 || ws.messages_per_second == 0 || ws.connections_per_user == 0 {
            return Err(ConfigError(
                "AIC_WEBSOCKET: max_message_bytes, messages_per_second and connections_per_user must be above 0"
                    .into(),
            ));
        }
        if self.session_days == 0 {
            return Err(ConfigError("AIC_SESSION_DAYS: a session lasts at least 1 day".into()));
        }
        if let Err(e) = self.sightings.validate() {
            return Err(ConfigError(format!("AIC_SIGHTINGS: {e}")));
        }
        if let Err(e) = self.chat.providers(&app::backend::ModelAssets::new(&self.models_dir)) {
            return Err(ConfigError(format!("AIC_CHAT: {e}")));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log) {
            return Err(ConfigError(format!("AIC_LOG: `{}` is not a log filter: {e}", self.log)));
        }
        Ok(self)
    }
}

/// `scheme://host[:port]`, nothing more.
fn is_origin(origin: &str) -> bool {
    origin.split_once("://").is_some_and(|(scheme, host)| {
        matches!(scheme, "http" | "https") && !host.is_empty() && !host.contains('/')
    })
}

/// One figment error as `AIC_KEY = `VALUE` (from SOURCE): what is wrong`.
fn describe(figment: &Figment, error: &figment::Error) -> String {
    if error.path.is_empty() {
        return error.kind.to_string();
    }
    let value = figment
        .find_value(&error.path.join("."))
        .ok()
        .and_then(|v| v.as_str().map(|s| format!(" = `{s}`")))
        .unwrap_or_default();
    let source = error.metadata.as_ref().map_or_else(String::new, |m| match &m.source {
        Some(source) => format!(" (from {} {source})", m.name),
        None => format!(" (from {})", m.name),
    });
    let name = error.path.iter().map(|k| k.to_uppercase()).collect::<Vec<_>>().join("__");
    format!("{ENV_PREFIX}{name}{value}{source}: {}", error.kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    fn with(key: &str, value: &str) -> Result<Config, ConfigError> {
        let figment = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(&format!("{key} = {value}")));
        Config::from_figment(&figment)
    }

    #[test]
    fn defaults_listen_locally_with_sqlite_and_models() {
        let config = Config::from_figment(&Figment::from(Serialized::defaults(Config::default()))).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:3000");
        assert!(config.database_url.starts_with("sqlite://data/"));
        assert_eq!(config.models_dir, PathBuf::from("models"));
    }

    #[test]
    fn a_bad_value_names_its_setting() {
        let error = with("listen", "\"not an address\"").unwrap_err().to_string();
        assert!(error.contains("AIC_LISTEN"), "{error}");
        let error = with("database_url", "\"mysql://x\"").unwrap_err().to_string();
        assert!(error.contains("AIC_DATABASE_URL"), "{error}");
        assert!(with("database_url", "\"postgres://aic@127.0.0.1:5432/aic\"").is_ok());
        let error = with("log_format", "\"xml\"").unwrap_err().to_string();
        assert!(error.contains("AIC_LOG_FORMAT"), "{error}");
        let error = with("redis_url", "\"127.0.0.1:6379\"").unwrap_err().to_string();
        assert!(error.contains("AIC_REDIS_URL"), "{error}");
        assert!(with("redis_url", "\"redis://127.0.0.1:6379/\"").is_ok());
    }

    #[test]
    fn nested_and_listed_settings_are_checked() {
        let error =
            with("allowed_origins", r#"["https://ok.example", "ftp://bad"]"#).unwrap_err().to_string();
        assert!(error.contains("AIC_ALLOWED_ORIGINS") && error.contains("ftp://bad"), "{error}");
        let error = with("websocket", "{ max_message_bytes = \"big\" }").unwrap_err().to_string();
        assert!(error.contains("AIC_WEBSOCKET__MAX_MESSAGE_BYTES"), "{error}");
        let config = with("websocket", "{ endpoint_max_message_bytes = { live = 1024 } }").unwrap();
        assert_eq!(config.websocket.endpoint_max_message_bytes[&WsEndpoint::Live], 1024);
        let error =
            with("websocket", "{ endpoint_max_message_bytes = { lvie = 1024 } }").unwrap_err().to_string();
        assert!(error.contains("lvie") && error.contains("live"), "{error}");
        assert_eq!(config.websocket.max_message_bytes, 64 * 1024);
    }

    #[test]
    fn chat_providers_are_checked_and_their_keys_never_shown() {
        let config = with(
            "chat",
            r#"{ providers = [{ name = "ollama", base_url = "http://localhost:11434/v1", api_key = "sk-hidden", models = ["llama3.2"] }] }"#,
        )
        .unwrap();
        assert_eq!(config.chat.providers[0].name, "ollama");
        assert!(!format!("{config:?}").contains("sk-hidden"));
        let error = with("chat", r#"{ providers = [{ name = "local", base_url = "http://x/v1" }] }"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("AIC_CHAT") && error.contains("local"), "{error}");
        let error = with("chat", r#"{ default_model = "nowhere/model" }"#).unwrap_err().to_string();
        assert!(error.contains("default_model"), "{error}");
    }

    #[test]
    fn an_unknown_setting_is_an_error() {
        let error = with("lisen", "\"127.0.0.1:1\"").unwrap_err().to_string();
        assert!(error.contains("lisen"), "{error}");
    }
}
