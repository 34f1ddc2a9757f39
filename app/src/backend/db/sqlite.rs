//! SQLite: a file beside the app, in write-ahead-log mode, with one connection for writes.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::DatabaseError;

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

/// Opens (creating if needed) the database at `url`, migrated: the pool for reads and the one
/// connection for writes.
pub(super) async fn connect(url: &str) -> Result<(SqlitePool, SqlitePool), DatabaseError> {
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
    sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
    let writer =
        SqlitePoolOptions::new().max_connections(1).test_before_acquire(false).connect_with(options).await?;
    keep_checkpointing(pool.clone());
    Ok((pool, writer))
}
