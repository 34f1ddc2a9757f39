//! The application database: SQLite embedded by default, PostgreSQL when replicas share one.
//! Every query is written once, in SQL both engines run, and compiled for each engine's own
//! driver by [`on_engine!`].

mod postgres;
mod sqlite;

use std::time::Duration;

use sqlx::{PgPool, SqlitePool};

/// How long [`Database::ping`] waits.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The URL names a database this build does not support.
    #[error("unsupported database URL `{0}`: expected `sqlite://PATH`, `sqlite::memory:` or `postgres://…`")]
    UnsupportedUrl(String),
    /// The directory for the database file could not be created.
    #[error("cannot create the database directory {path}: {source}")]
    Directory {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Connecting failed.
    #[error("cannot open the database: {0}")]
    Connect(#[from] sqlx::Error),
    /// A migration failed.
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Connections to the database, on its engine's own driver.
#[derive(Clone, Debug)]
pub enum Pool {
    /// An SQLite file: one process, no server.
    Sqlite(SqlitePool),
    /// A PostgreSQL server, which several replicas may share.
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the engine's own pool in `$on` (a `&Pool`): the same
/// query, compiled for each engine's driver.
macro_rules! on_engine {
    ($on:expr, |$pool:ident| $body:expr) => {
        match $on {
            $crate::backend::db::Pool::Sqlite($pool) => $body,
            $crate::backend::db::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_engine;

/// The application database: a connection pool with the schema migrated to the latest version.
#[derive(Clone, Debug)]
pub struct Database {
    pool: Pool,
    writer: Pool,
}

impl Database {
    /// Opens the database at `url` (`sqlite://…`, created if missing, or `postgres://…`) and
    /// applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, DatabaseError> {
        let (pool, writer) = if url.starts_with("sqlite:") {
            let (pool, writer) = sqlite::connect(url).await?;
            (Pool::Sqlite(pool), Pool::Sqlite(writer))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = postgres::connect(url).await?;
            (Pool::Postgres(pool.clone()), Pool::Postgres(pool))
        } else {
            return Err(DatabaseError::UnsupportedUrl(url.to_owned()));
        };
        Ok(Self { pool, writer })
    }

    /// The connection pool, for queries.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The connections for the busy write paths (chat messages, camera events). SQLite lets one
    /// connection write at a time, and connections waiting for each other inside SQLite retry
    /// after sleeps of milliseconds; queued for its one writer connection, writes take turns
    /// without sleeping. PostgreSQL writes on the same pool as it reads.
    pub fn writer(&self) -> &Pool {
        &self.writer
    }

    /// Which database engine this is, for status pages.
    pub fn kind(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "SQLite",
            Pool::Postgres(_) => "PostgreSQL",
        }
    }

    /// Runs a trivial query to prove the database answers, within [`PING_TIMEOUT`] (a pool
    /// would keep trying to reach a server that is down for longer than a health check waits).
    pub async fn ping(&self) -> Result<(), String> {
        let ping =
            async { on_engine!(&self.pool, |pool| sqlx::query("SELECT 1").execute(pool).await.map(drop)) };
        match tokio::time::timeout(PING_TIMEOUT, ping).await {
            Ok(answered) => answered.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no answer within {} s", PING_TIMEOUT.as_secs())),
        }
    }

    /// Closes every connection, waiting for running queries to finish.
    pub async fn close(&self) {
        for pool in [&self.writer, &self.pool] {
            on_engine!(pool, |pool| pool.close().await);
        }
    }
}
