//! Throttling of repeated failures (sign-in attempts per address and username), kept in the
//! database so that replicas sharing one count them together.

use std::time::Duration;

use chrono::Utc;

use super::AppError;
use super::accounts::sha256_hex;
use super::db::{Pool, on_engine};

/// Counts failures per key and blocks a key that failed `max_failures` times within `window`,
/// until the oldest of those failures ages out. Keys are stored as SHA-256 digests.
#[derive(Clone, Debug)]
pub struct FailureThrottle {
    pool: Pool,
    max_failures: i64,
    window: chrono::TimeDelta,
}

impl FailureThrottle {
    /// A throttle in `pool` allowing `max_failures` per `window`.
    pub fn new(pool: Pool, max_failures: usize, window: Duration) -> Self {
        let window = chrono::TimeDelta::from_std(window).unwrap_or(chrono::TimeDelta::MAX);
        Self { pool, max_failures: i64::try_from(max_failures.max(1)).unwrap_or(i64::MAX), window }
    }

    /// `Err(RateLimited)` while `key` is blocked.
    pub async fn check(&self, key: &str) -> Result<(), AppError> {
        let now = Utc::now();
        let (failures, oldest): (i64, Option<chrono::DateTime<Utc>>) = on_engine!(&self.pool, |pool| {
            sqlx::query_as(
                "SELECT COUNT(*), MIN(failed_at) FROM throttle_failures WHERE key = $1 AND failed_at > $2",
            )
            .bind(sha256_hex(key))
            .bind(now - self.window)
            .fetch_one(pool)
            .await
        })?;
        match oldest {
            Some(oldest) if failures >= self.max_failures => {
                let retry_after = (self.window - (now - oldest)).to_std().unwrap_or_default();
                Err(AppError::RateLimited { retry_after })
            }
            _ => Ok(()),
        }
    }

    /// Records a failure for `key` (and forgets every failure that has aged out).
    pub async fn fail(&self, key: &str) -> Result<(), AppError> {
        let now = Utc::now();
        on_engine!(&self.pool, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM throttle_failures WHERE failed_at <= $1")
                .bind(now - self.window)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO throttle_failures (key, failed_at) VALUES ($1, $2)")
                .bind(sha256_hex(key))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Forgets `key`'s failures (after a success).
    pub async fn clear(&self, key: &str) -> Result<(), AppError> {
        on_engine!(&self.pool, |pool| {
            sqlx::query("DELETE FROM throttle_failures WHERE key = $1")
                .bind(sha256_hex(key))
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Database;

    async fn throttle(max_failures: usize, window: Duration) -> (FailureThrottle, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        (FailureThrottle::new(db.pool().clone(), max_failures, window), dir)
    }

    #[tokio::test]
    async fn blocks_after_the_allowed_failures_and_forgets_on_success() {
        let (throttle, _dir) = throttle(2, Duration::from_secs(60)).await;
        throttle.fail("a").await.unwrap();
        assert!(throttle.check("a").await.is_ok());
        throttle.fail("a").await.unwrap();
        let Err(AppError::RateLimited { retry_after }) = throttle.check("a").await else {
            panic!("two failures block the key")
        };
        assert!(retry_after > Duration::from_secs(58));
        assert!(throttle.check("b").await.is_ok());
        throttle.clear("a").await.unwrap();
        assert!(throttle.check("a").await.is_ok());
    }

    #[tokio::test]
    async fn failures_age_out() {
        let (throttle, _dir) = throttle(1, Duration::ZERO).await;
        throttle.fail("a").await.unwrap();
        assert!(throttle.check("a").await.is_ok());
    }
}
