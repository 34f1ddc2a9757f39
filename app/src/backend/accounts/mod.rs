//! Accounts: users and their passwords, browser sessions and API tokens, and turning the
//! credentials a request carries into a user.

mod secrets;

use crate::protocol::{BrowserSessionId, TokenId, UserId};
use std::time::Duration;

use chrono::{DateTime, Utc};

pub(crate) use self::secrets::sha256_hex;
use self::secrets::{hash_password, new_secret, verify_password};
use super::AppError;
use super::db::{Pool, on_engine};
use crate::protocol::{
    ApiTokenInfo, NewApiToken, Password, SessionInfo, TokenName, UserInfo, UserSummary, Username,
};

/// Prefix of every API token, so leaked tokens are easy to recognise and scan for.
const TOKEN_PREFIX: &str = "aic_";
/// How much of a token its owner's list shows.
const SHOWN_TOKEN_CHARS: usize = 10;
/// How often a session's `last_seen_at` is refreshed, at most.
const SEEN_RESOLUTION: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// The credentials a request carries, read at the boundary (cookie, header or query).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The session cookie's value.
    pub session: Option<String>,
    /// An API token from `Authorization: Token …` (or `?token=` on websockets).
    pub token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("session", &self.session.as_ref().map(|_| "<redacted>"))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The signed-in user of a page request, found by the server before rendering (in the request's
/// extensions), so pages know the visitor without a round trip.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageVisitor(pub Option<UserInfo>);

/// Who made a request, and how they proved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The user.
    pub user: UserInfo,
    /// True when an API token (not a browser session) authenticated the request; such requests
    /// are not exposed to cross-site request forgery.
    pub by_token: bool,
    /// The browser session's database id, when a session cookie authenticated the request.
    pub session_id: Option<BrowserSessionId>,
}

/// The account store.
#[derive(Clone, Debug)]
pub struct Accounts {
    pool: Pool,
    session_lifetime: chrono::TimeDelta,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: UserId,
    username: String,
    password_hash: Option<String>,
    is_admin: bool,
    is_guest: bool,
    disabled: bool,
}

impl From<UserRow> for UserInfo {
    fn from(row: UserRow) -> Self {
        Self { id: row.id, username: row.username, is_admin: row.is_admin, is_guest: row.is_guest }
    }
}

impl Accounts {
    /// Accounts stored in `pool`; browser sessions last `session_lifetime` after sign-in.
    pub fn new(pool: Pool, session_lifetime: Duration) -> Self {
        let session_lifetime =
            chrono::TimeDelta::from_std(session_lifetime).unwrap_or(chrono::TimeDelta::days(30));
        Self { pool, session_lifetime }
    }

    /// Creates an account. The very first account administers the instance.
    pub async fn sign_up(&self, username: &Username, password: &Password) -> Result<UserInfo, AppError> {
        let hash = hash_password(password.expose().to_owned()).await?;
        let inserted = on_engine!(&self.pool, |pool| sqlx::query_as::<_, (UserId, bool)>(
            "INSERT INTO users (username, password_hash, is_admin, created_at)
             SELECT $1, $2, NOT EXISTS (SELECT 1 FROM users WHERE NOT is_guest), $3
             RETURNING id, is_admin",
        )
        .bind(username.as_str())
        .bind(&hash)
        .bind(Utc::now())
        .fetch_one(pool)
        .await);
        let (id, is_admin) = match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(AppError::Conflict(format!("the username `{}` is taken", username.as_str())));
            }
            other => other?,
        };
        Ok(UserInfo { id, username: username.as_str().to_owned(), is_admin, is_guest: false })
    }

    /// Creates a guest account (guest mode): no password, owns only its own records.
    pub async fn create_guest(&self) -> Result<UserInfo, AppError> {
        let username = format!("guest-{}", &sha256_hex(&new_secret())[..10]);
        let (id,): (UserId,) = on_engine!(&self.pool, |pool| sqlx::query_as(
            "INSERT INTO users (username, is_guest, created_at) VALUES ($1, TRUE, $2) RETURNING id",
        )
        .bind(&username)
        .bind(Utc::now())
        .fetch_one(pool)
        .await)?;
        Ok(UserInfo { id, username, is_admin: false, is_guest: true })
    }

    /// Checks a username and password. The answer does not tell which of the two was wrong,
    /// and takes as long either way.
    pub async fn log_in(&self, username: &str, password: &str) -> Result<UserInfo, AppError> {
        let row = self.find_user(&username.trim().to_lowercase()).await?;
        let hash = row.as_ref().and_then(|r| r.password_hash.clone());
        let matches = verify_password(password.to_owned(), hash).await?;
        match row {
            Some(row) if matches && row.disabled => {
                Err(AppError::Forbidden("this account is disabled".into()))
            }
            Some(row) if matches => Ok(row.into()),
            _ => Err(AppError::Unauthorized("wrong username or password".into())),
        }
    }

    /// Changes a user's password after checking the current one, and signs out their other
    /// browser sessions.
    pub async fn change_password(
        &self,
        identity: &Identity,
        current: &str,
        new: &Password,
    ) -> Result<(), AppError> {
        let row = self.find_user(&identity.user.username).await?.ok_or(AppError::NotFound)?;
        if !verify_password(current.to_owned(), row.password_hash).await? {
            return Err(AppError::Unauthorized("the current password is wrong".into()));
        }
        let hash = hash_password(new.expose().to_owned()).await?;
        on_engine!(&self.pool, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(&hash)
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM auth_sessions WHERE user_id = $1 AND id IS DISTINCT FROM $2")
                .bind(row.id)
                .bind(identity.session_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Every account, oldest first (administrators only).
    pub async fn list_users(&self, admin: &UserInfo) -> Result<Vec<UserSummary>, AppError> {
        require_admin(admin)?;
        Ok(on_engine!(&self.pool, |pool| sqlx::query_as(
            "SELECT id, username, is_admin, is_guest, disabled, created_at FROM users ORDER BY id",
        )
        .fetch_all(pool)
        .await)?)
    }

    /// Disables or re-enables an account (administrators only). Disabling ends its sessions;
    /// its tokens stop working while it is disabled.
    pub async fn set_disabled(
        &self,
        admin: &UserInfo,
        user_id: UserId,
        disabled: bool,
    ) -> Result<(), AppError> {
        require_admin(admin)?;
        if user_id == admin.id {
            return Err(AppError::BadRequest("you cannot disable your own account".into()));
        }
        on_engine!(&self.pool, |pool| {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
                .bind(disabled)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            if updated.rows_affected() == 0 {
                return Err(AppError::NotFound);
            }
            if disabled {
                sqlx::query("DELETE FROM auth_sessions WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Starts a browser session and returns the secret for its cookie.
    pub async fn start_session(&self, user: &UserInfo, user_agent: &str) -> Result<String, AppError> {
        let secret = new_secret();
        let now = Utc::now();
        let user_agent: String = user_agent.chars().take(200).collect();
        on_engine!(&self.pool, |pool| {
            sqlx::query(
            "INSERT INTO auth_sessions (token_hash, user_id, user_agent, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(sha256_hex(&secret))
        .bind(user.id)
        .bind(user_agent)
        .bind(now)
        .bind(now + self.session_lifetime)
        .execute(pool).await?;
        });
        Ok(secret)
    }

    /// Ends the browser session whose cookie holds `secret` (signing out).
    pub async fn end_session(&self, secret: &str) -> Result<(), AppError> {
        on_engine!(&self.pool, |pool| sqlx::query("DELETE FROM auth_sessions WHERE token_hash = $1")
            .bind(sha256_hex(secret))
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// The user's browser sessions, most recently used first.
    pub async fn list_sessions(&self, identity: &Identity) -> Result<Vec<SessionInfo>, AppError> {
        let mut sessions: Vec<SessionInfo> = on_engine!(&self.pool, |pool| sqlx::query_as(
            "SELECT id, user_agent, created_at, last_seen_at FROM auth_sessions
             WHERE user_id = $1 AND expires_at > $2 ORDER BY last_seen_at DESC",
        )
        .bind(identity.user.id)
        .bind(Utc::now())
        .fetch_all(pool)
        .await)?;
        for session in &mut sessions {
            session.current = Some(session.id) == identity.session_id;
        }
        Ok(sessions)
    }

    /// Signs out one of the user's own browser sessions.
    pub async fn revoke_session(
        &self,
        user: &UserInfo,
        session_id: BrowserSessionId,
    ) -> Result<(), AppError> {
        let deleted = on_engine!(&self.pool, |pool| sqlx::query(
            "DELETE FROM auth_sessions WHERE id = $1 AND user_id = $2"
        )
        .bind(session_id)
        .bind(user.id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        found(deleted)
    }

    /// Creates an API token; its secret is in the result and nowhere else.
    pub async fn create_token(&self, user: &UserInfo, name: &TokenName) -> Result<NewApiToken, AppError> {
        let secret = format!("{TOKEN_PREFIX}{}", new_secret());
        let prefix: String = secret.chars().take(SHOWN_TOKEN_CHARS).collect();
        let info: ApiTokenInfo = on_engine!(&self.pool, |pool| {
            sqlx::query_as(
            "INSERT INTO api_tokens (token_hash, user_id, name, prefix, created_at) VALUES ($1, $2, $3, $4, $5)
             RETURNING id, name, prefix, created_at, last_used_at",
        )
        .bind(sha256_hex(&secret))
        .bind(user.id)
        .bind(name.as_str())
        .bind(&prefix)
        .bind(Utc::now())
        .fetch_one(pool).await
        })?;
        Ok(NewApiToken { info, secret })
    }

    /// The user's API tokens, newest first.
    pub async fn list_tokens(&self, user: &UserInfo) -> Result<Vec<ApiTokenInfo>, AppError> {
        Ok(on_engine!(&self.pool, |pool| sqlx::query_as(
            "SELECT id, name, prefix, created_at, last_used_at FROM api_tokens WHERE user_id = $1
             ORDER BY id DESC",
        )
        .bind(user.id)
        .fetch_all(pool)
        .await)?)
    }

    /// Revokes one of the user's own API tokens.
    pub async fn revoke_token(&self, user: &UserInfo, token_id: TokenId) -> Result<(), AppError> {
        let deleted = on_engine!(&self.pool, |pool| sqlx::query(
            "DELETE FROM api_tokens WHERE id = $1 AND user_id = $2"
        )
        .bind(token_id)
        .bind(user.id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        found(deleted)
    }

    /// The enabled user the credentials belong to, if any. A token wins over a cookie.
    pub async fn authenticate(&self, credentials: &Credentials) -> Result<Option<Identity>, AppError> {
        if let Some(token) = &credentials.token {
            return self.user_for_token(token).await;
        }
        match &credentials.session {
            Some(secret) => self.user_for_session(secret).await,
            None => Ok(None),
        }
    }

    async fn user_for_token(&self, secret: &str) -> Result<Option<Identity>, AppError> {
        let found: Option<(TokenId, UserId)> = on_engine!(&self.pool, |pool| sqlx::query_as(
            "UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2 RETURNING id, user_id",
        )
        .bind(Utc::now())
        .bind(sha256_hex(secret))
        .fetch_optional(pool)
        .await)?;
        let Some((_, user_id)) = found else { return Ok(None) };
        let user = self.enabled_user(user_id).await?;
        Ok(user.map(|user| Identity { user, by_token: true, session_id: None }))
    }

    async fn user_for_session(&self, secret: &str) -> Result<Option<Identity>, AppError> {
        let now = Utc::now();
        let found: Option<(BrowserSessionId, UserId, DateTime<Utc>)> = on_engine!(&self.pool, |pool| {
            sqlx::query_as(
            "SELECT id, user_id, last_seen_at FROM auth_sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(sha256_hex(secret))
        .bind(now)
        .fetch_optional(pool).await
        })?;
        let Some((session_id, user_id, last_seen)) = found else { return Ok(None) };
        if now - last_seen > SEEN_RESOLUTION {
            on_engine!(&self.pool, |pool| sqlx::query(
                "UPDATE auth_sessions SET last_seen_at = $1 WHERE id = $2"
            )
            .bind(now)
            .bind(session_id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        }
        let user = self.enabled_user(user_id).await?;
        Ok(user.map(|user| Identity { user, by_token: false, session_id: Some(session_id) }))
    }

    async fn enabled_user(&self, id: UserId) -> Result<Option<UserInfo>, AppError> {
        let row: Option<UserRow> = on_engine!(&self.pool, |pool| sqlx::query_as(
            "SELECT id, username, password_hash, is_admin, is_guest, disabled FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        Ok(row.filter(|r| !r.disabled).map(UserInfo::from))
    }

    async fn find_user(&self, username: &str) -> Result<Option<UserRow>, AppError> {
        Ok(on_engine!(&self.pool, |pool| sqlx::query_as(
            "SELECT id, username, password_hash, is_admin, is_guest, disabled FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(pool)
        .await)?)
    }
}

/// Administrator-only actions answer 404 to everyone else, as if they did not exist.
fn require_admin(user: &UserInfo) -> Result<(), AppError> {
    if user.is_admin { Ok(()) } else { Err(AppError::NotFound) }
}

fn found(rows: u64) -> Result<(), AppError> {
    if rows == 0 { Err(AppError::NotFound) } else { Ok(()) }
}
