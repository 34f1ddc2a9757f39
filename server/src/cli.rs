//! The command line: `ai-channels [serve | migrate | check-config]`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde_json::Value;

use crate::Config;

/// AI Channels: AI in the browser, intelligent action on the server.
///
/// Settings come from the built-in defaults, a TOML file (`ai-channels.toml` in the working
/// directory, or the file given with --config or AIC_CONFIG) and AIC_* environment variables.
#[derive(Debug, Parser)]
#[command(name = "ai-channels", version, about)]
pub struct Cli {
    /// The configuration file (instead of `ai-channels.toml`; same as AIC_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do; `serve` when none is given.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve the app until Ctrl-C or SIGTERM (the default).
    Serve,
    /// Create the database if needed, apply pending migrations, and exit.
    Migrate,
    /// Print the effective configuration, secrets redacted, and exit (2 if it is invalid).
    CheckConfig,
}

impl Cli {
    /// The command to run.
    pub fn command(&self) -> Command {
        self.command.unwrap_or(Command::Serve)
    }
}

/// Shown instead of a secret.
const REDACTED: &str = "[redacted]";

/// The configuration as TOML, with API keys, header values and database passwords replaced.
pub fn redacted_toml(config: &Config) -> String {
    let mut value = serde_json::to_value(config).unwrap_or(Value::Null);
    redact(&mut value);
    toml::to_string_pretty(&value).unwrap_or_else(|e| format!("# cannot show the configuration: {e}\n"))
}

fn redact(value: &mut Value) {
    for setting in ["database_url", "redis_url"] {
        if let Some(Value::String(url)) = value.get_mut(setting) {
            *url = redact_password(url);
        }
    }
    let providers = value.pointer_mut("/chat/providers").and_then(Value::as_array_mut);
    for provider in providers.into_iter().flatten() {
        if let Some(key) = provider.get_mut("api_key").filter(|key| !key.is_null()) {
            *key = REDACTED.into();
        }
        for header in provider
            .get_mut("headers")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|h| h.values_mut())
        {
            *header = REDACTED.into();
        }
    }
    drop_nulls(value);
}

/// `scheme://user:password@host` → `scheme://user:[redacted]@host`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    match rest.split_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:{REDACTED}@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// TOML has no null: unset optional settings are left out.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Figment;
    use figment::providers::{Format, Serialized, Toml};

    #[test]
    fn the_command_line_has_help_version_and_commands_and_refuses_unknown_arguments() {
        assert_eq!(Cli::try_parse_from(["ai-channels"]).unwrap().command(), Command::Serve);
        assert_eq!(Cli::try_parse_from(["ai-channels", "migrate"]).unwrap().command(), Command::Migrate);
        let check = Cli::try_parse_from(["ai-channels", "check-config", "--config", "x.toml"]).unwrap();
        assert_eq!((check.command(), check.config), (Command::CheckConfig, Some(PathBuf::from("x.toml"))));
        let help = Cli::try_parse_from(["ai-channels", "--help"]).unwrap_err();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        assert!(help.to_string().contains("check-config"));
        let version = Cli::try_parse_from(["ai-channels", "--version"]).unwrap_err();
        assert_eq!(version.kind(), clap::error::ErrorKind::DisplayVersion);
        for unknown in [&["ai-channels", "--port", "1"][..], &["ai-channels", "serve", "extra"]] {
            assert!(Cli::try_parse_from(unknown).is_err(), "{unknown:?}");
        }
    }

    #[test]
    fn the_printed_configuration_hides_secrets() {
        let figment = Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(
            r#"
            database_url = "postgres://aic:db-secret@db.internal:5432/aic"
            redis_url = "redis://:redis-secret@cache.internal:6379/"
            [[chat.providers]]
            name = "openai"
            base_url = "https://api.example.com/v1"
            api_key = "sk-very-secret"
            headers = { "x-org" = "org-secret" }
            "#,
        ));
        let config = Config::from_figment(&figment).unwrap();
        let shown = redacted_toml(&config);
        for secret in ["sk-very-secret", "org-secret", "db-secret", "redis-secret"] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        assert!(shown.contains("postgres://aic:[redacted]@db.internal:5432/aic"), "{shown}");
        assert!(
            shown.contains("api_key = \"[redacted]\"") && shown.contains("listen = \"127.0.0.1:3000\""),
            "{shown}"
        );
        assert_eq!(redact_password("postgres://app:hunter2@db/app"), "postgres://app:[redacted]@db/app");
    }
}
