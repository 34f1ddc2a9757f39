use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ApiError, BrowserSessionId, TokenId, UserId};

/// A valid username: 3–32 characters of `a-z`, `0-9`, `.`, `_`, `-`, starting with a letter or
/// digit. Stored lower-case, so `Alice` and `alice` are the same account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Username(String);

impl Username {
    /// Checks and normalises user input.
    pub fn parse(input: &str) -> Result<Self, ApiError> {
        let name = input.trim().to_lowercase();
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
        if !(3..=32).contains(&name.chars().count()) {
            return Err(ApiError::bad_request("a username has 3 to 32 characters"));
        }
        if !name.chars().all(allowed) || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(ApiError::bad_request(
                "a username uses only letters, digits, '.', '_' and '-', and starts with a letter or digit",
            ));
        }
        Ok(Self(name))
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 8 to 256 characters. Never printed: its `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Checks a password chosen by a user.
    pub fn parse(input: &str) -> Result<Self, ApiError> {
        match input.chars().count() {
            0..8 => Err(ApiError::bad_request("a password has at least 8 characters")),
            8..=256 => Ok(Self(input.to_owned())),
            _ => Err(ApiError::bad_request("a password has at most 256 characters")),
        }
    }

    /// The password itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The label a user gives an API token: 1–64 characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenName(String);

impl TokenName {
    /// Checks a token label.
    pub fn parse(input: &str) -> Result<Self, ApiError> {
        let name = input.trim();
        if !(1..=64).contains(&name.chars().count()) {
            return Err(ApiError::bad_request("a token name has 1 to 64 characters"));
        }
        Ok(Self(name.to_owned()))
    }

    /// The label.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The signed-in user, as pages see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserInfo {
    /// Database id.
    pub id: UserId,
    /// Lower-case username (`guest-…` for guests).
    pub username: String,
    /// Administrators can list and disable users.
    pub is_admin: bool,
    /// A guest account, created by guest mode, without a password.
    pub is_guest: bool,
}

/// A user as the administrator's list shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct UserSummary {
    /// Database id.
    pub id: UserId,
    /// Lower-case username.
    pub username: String,
    /// Whether they administer this instance.
    pub is_admin: bool,
    /// Whether this is a guest account.
    pub is_guest: bool,
    /// Disabled users cannot sign in, and their sessions and tokens stop working.
    pub disabled: bool,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

/// An API token as its owner's list shows it (the secret itself is shown only once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct ApiTokenInfo {
    /// Database id.
    pub id: TokenId,
    /// The owner's label for it.
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last authenticated a request.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A token just created: the only time its secret is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewApiToken {
    /// The stored part.
    pub info: ApiTokenInfo,
    /// The secret, to send as `Authorization: Token <secret>`.
    pub secret: String,
}

/// A browser session of the signed-in user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct SessionInfo {
    /// Database id.
    pub id: BrowserSessionId,
    /// The browser that signed in.
    pub user_agent: String,
    /// When it signed in.
    pub created_at: DateTime<Utc>,
    /// When it was last used.
    pub last_seen_at: DateTime<Utc>,
    /// Whether this is the session making the request.
    #[cfg_attr(feature = "ssr", sqlx(default))]
    pub current: bool,
}

/// Where to go after signing in: `next` if it is a path on this site, else the start page —
/// never an open redirect to another site.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path,
        _ => "/",
    }
}

/// What the pages need to know about the visitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// The signed-in user, if any.
    pub user: Option<UserInfo>,
    /// Whether visitors may continue as a guest.
    pub guest_mode: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(Username::parse("  Alice.B ").unwrap().as_str(), "alice.b");
        assert!(Username::parse("al").is_err());
        assert!(Username::parse("_alice").is_err());
        assert!(Username::parse("al ice").is_err());
        assert!(Username::parse("ålice").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
    }

    #[test]
    fn passwords_have_bounds_and_stay_out_of_debug_output() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(257)).is_err());
        let password = Password::parse("correct horse").unwrap();
        assert_eq!(password.expose(), "correct horse");
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/chat")), "/chat");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn token_names_are_trimmed_and_bounded() {
        assert_eq!(TokenName::parse(" ci ").unwrap().as_str(), "ci");
        assert!(TokenName::parse("   ").is_err());
        assert!(TokenName::parse(&"n".repeat(65)).is_err());
    }
}
