use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// Database URL (`AIC_DATABASE_URL`), `sqlite://PATH` or `sqlite::memory:`.
    pub database_url: String,
    /// Directory of the model assets the set-up produces (`AIC_MODELS_DIR`).
    pub models_dir: PathBuf,
    /// Directory of the built site: `pkg/` with the WebAssembly, CSS and public files (`AIC_SITE_ROOT`).
    pub site_root: PathBuf,
    /// Log filter in `tracing` syntax, e.g. `info,server=debug` (`AIC_LOG`).
    pub log: String,
    /// Log line format (`AIC_LOG_FORMAT`): `text` or `json`.
    pub log_format: LogFormat,
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
            models_dir: "models".into(),
            site_root: "target/site".into(),
            log: "info".into(),
            log_format: LogFormat::Text,
        }
    }
}

/// A setting is missing, malformed or out of range; the message names it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl Config {
    /// Reads the configuration from the process environment and the optional TOML file
    /// (`AIC_CONFIG`, default `ai-channels.toml`), and validates it.
    pub fn load() -> Result<Self, ConfigError> {
        let file = match std::env::var("AIC_CONFIG") {
            Ok(path) if !std::path::Path::new(&path).is_file() => {
                return Err(ConfigError(format!("AIC_CONFIG: no configuration file at `{path}`")));
            }
            Ok(path) => PathBuf::from(path),
            Err(_) => PathBuf::from(DEFAULT_FILE),
        };
        let leptos = Env::raw()
            .only(&["LEPTOS_SITE_ADDR", "LEPTOS_SITE_ROOT"])
            .map(|key| if key == "leptos_site_addr" { "listen".into() } else { "site_root".into() });
        let figment = Figment::from(Serialized::defaults(Self::default()))
            .merge(Toml::file(file))
            .merge(leptos)
            .merge(Env::prefixed(ENV_PREFIX).ignore(&["CONFIG"]));
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
        if !self.database_url.starts_with("sqlite:") {
            return Err(ConfigError(format!(
                "AIC_DATABASE_URL: `{}` is not supported; use `sqlite://PATH`",
                self.database_url
            )));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log) {
            return Err(ConfigError(format!("AIC_LOG: `{}` is not a log filter: {e}", self.log)));
        }
        Ok(self)
    }
}

/// One figment error as `AIC_KEY = `VALUE` (from SOURCE): what is wrong`.
fn describe(figment: &Figment, error: &figment::Error) -> String {
    let Some(key) = error.path.last() else {
        return error.kind.to_string();
    };
    let value = figment
        .find_value(key)
        .ok()
        .and_then(|v| v.as_str().map(|s| format!(" = `{s}`")))
        .unwrap_or_default();
    let source = error.metadata.as_ref().map_or_else(String::new, |m| match &m.source {
        Some(source) => format!(" (from {} {source})", m.name),
        None => format!(" (from {})", m.name),
    });
    format!("{ENV_PREFIX}{}{value}{source}: {}", key.to_uppercase(), error.kind)
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
        let error = with("log_format", "\"xml\"").unwrap_err().to_string();
        assert!(error.contains("AIC_LOG_FORMAT"), "{error}");
    }

    #[test]
    fn an_unknown_setting_is_an_error() {
        let error = with("lisen", "\"127.0.0.1:1\"").unwrap_err().to_string();
        assert!(error.contains("lisen"), "{error}");
    }
}
