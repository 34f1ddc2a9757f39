use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use crate::backend::AppError;
use crate::protocol::{EventPage, StoredEvent};

/// Most events on one page.
pub const PAGE_SIZE: i64 = 50;

/// Which of a user's events to list; every field narrows the list.
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    /// Only this stream.
    pub stream: Option<String>,
    /// Only events whose best class has this name.
    pub label: Option<String>,
    /// Only events whose best score is at least this.
    pub min_score: Option<f64>,
    /// Only events stored at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events stored at or before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only events older than this id (the next page).
    pub before_id: Option<i64>,
}

/// Reads stored events, always within one owner's records.
#[derive(Clone, Debug)]
pub struct EventStore {
    pool: SqlitePool,
}

impl EventStore {
    /// Events in `pool`.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// One page of `owner_id`'s events matching `query`, newest first.
    pub async fn list(&self, owner_id: i64, query: &EventQuery) -> Result<EventPage, AppError> {
        let mut events: Vec<StoredEvent> = sqlx::query_as(
            "SELECT id, stream, model, top_index, top_label, top_score, thumbnail IS NOT NULL AS has_thumbnail,
                    client_time, received_at
             FROM classification_events
             WHERE owner_id = $1
               AND ($2 IS NULL OR stream = $2)
               AND ($3 IS NULL OR top_label = $3)
               AND ($4 IS NULL OR top_score >= $4)
               AND ($5 IS NULL OR received_at >= $5)
               AND ($6 IS NULL OR received_at <= $6)
               AND ($7 IS NULL OR id < $7)
             ORDER BY id DESC
             LIMIT $8",
        )
        .bind(owner_id)
        .bind(&query.stream)
        .bind(&query.label)
        .bind(query.min_score)
        .bind(query.since)
        .bind(query.until)
        .bind(query.before_id)
        .bind(PAGE_SIZE + 1)
        .fetch_all(&self.pool)
        .await?;
        let more = events.len() > PAGE_SIZE as usize;
        events.truncate(PAGE_SIZE as usize);
        let next_before_id = more.then(|| events.last().map(|e| e.id)).flatten();
        Ok(EventPage { events, next_before_id })
    }

    /// The JPEG thumbnail of one of `owner_id`'s events.
    pub async fn thumbnail(&self, owner_id: i64, id: i64) -> Result<Vec<u8>, AppError> {
        let row: Option<(Option<Vec<u8>>,)> =
            sqlx::query_as("SELECT thumbnail FROM classification_events WHERE id = $1 AND owner_id = $2")
                .bind(id)
                .bind(owner_id)
                .fetch_optional(&self.pool)
                .await?;
        row.and_then(|(thumbnail,)| thumbnail).ok_or(AppError::NotFound)
    }
}
