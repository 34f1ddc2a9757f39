use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The URL names a database this build does not support.
    #[error("unsupported database URL `{0}`: expected `sqlite://PATH` or `sqlite::memory:`")]
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

/// How often the write-ahead log is copied into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Copies the write-ahead log into the database every [`CHECKPOINT_EVERY`] (as far as readers
/// allow; writers go on meanwhile), until the pool closes.
fn keep_checkpointing(pool: SqlitePool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if pool.is_closed() {
                return;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await
                && !pool.is_closed()
            {
                tracing::warn!("cannot checkpoint the database's log: {e}");
            }
        }
    });
}

/// The application database: a connection pool with the schema migrated to the latest version.
///
/// SQLite is the embedded default; queries stay within SQL that PostgreSQL also runs.
#[derive(Clone, Debug)]
pub struct Database {
    pool: SqlitePool,
    writer: SqlitePool,
}

impl Database {
    /// Opens (creating if needed) the database at `url` and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, DatabaseError> {
        if !url.starts_with("sqlite:") {
            return Err(DatabaseError::UnsupportedUrl(url.to_owned()));
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL keeps every commit across an application crash and only skips
            // the fsync per commit (a power cut may lose the last moments).
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // The log is copied into the database beside the writes (see `keep_checkpointing`),
            // not by whichever commit fills it, which would take milliseconds longer.
            .pragma("wal_autocheckpoint", "0");
        if let Some(dir) = options.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| DatabaseError::Directory { path: dir.display().to_string(), source })?;
        }
        // A connection to a local file does not go stale: testing each one as it is taken from
        // the pool would double every query's round trips to its worker thread.
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("../migrations").run(&pool).await?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        keep_checkpointing(pool.clone());
        Ok(Self { pool, writer })
    }

    /// The connection pool, for queries.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// One connection for the busy write paths (chat messages, camera events). SQLite lets one
    /// connection write at a time, and connections waiting for each other inside SQLite retry
    /// after sleeps of milliseconds; queued for this connection, writes take turns without
    /// sleeping.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// Which database engine this is, for status pages.
    pub fn kind(&self) -> &'static str {
        "SQLite"
    }

    /// Runs a trivial query to prove the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(drop)
    }

    /// Closes every connection, waiting for running queries to finish.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}
