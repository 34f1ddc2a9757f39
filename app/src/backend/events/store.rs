use crate::protocol::{EventId, UserId};
use chrono::{DateTime, Utc};

use crate::backend::AppError;
use crate::backend::db::{Pool, on_engine};
use crate::protocol::{EventPage, LabelActivity, LabelSeries, StoredEvent};

/// Most events (or sightings) on one page.
pub const PAGE_SIZE: i64 = 50;

/// Splits `rows`, fetched newest first with one more than `size` to tell whether more follow,
/// into one page and the id to pass as `before_id` for the next (none when this is the last).
pub(super) fn one_page<T, Id>(mut rows: Vec<T>, size: i64, id: impl Fn(&T) -> Id) -> (Vec<T>, Option<Id>) {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let more = rows.len() > size;
    rows.truncate(size);
    let next = if more { rows.last().map(id) } else { None };
    (rows, next)
}

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
    pub before_id: Option<EventId>,
}

/// How often one class was a stream's best class over some time.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelCount {
    /// The stream.
    pub stream: String,
    /// The class's index in its model's labels.
    pub index: i64,
    /// The class's name.
    pub label: String,
    /// How many events.
    pub count: i64,
    /// When the last of them was stored.
    pub last: DateTime<Utc>,
}

/// Reads stored events, always within one owner's records.
#[derive(Clone, Debug)]
pub struct EventStore {
    pool: Pool,
}

impl EventStore {
    /// Events in `pool`.
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// One page of `owner_id`'s events matching `query`, newest first.
    pub async fn list(&self, owner_id: UserId, query: &EventQuery) -> Result<EventPage, AppError> {
        let events: Vec<StoredEvent> = on_engine!(&self.pool, |pool| {
            sqlx::query_as(
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
        .fetch_all(pool).await
        })?;
        let (events, next_before_id) = one_page(events, PAGE_SIZE, |e| e.id);
        Ok(EventPage { events, next_before_id })
    }

    /// The JPEG thumbnail of one of `owner_id`'s events.
    pub async fn thumbnail(&self, owner_id: UserId, id: EventId) -> Result<Vec<u8>, AppError> {
        let row: Option<(Option<Vec<u8>>,)> = on_engine!(&self.pool, |pool| sqlx::query_as(
            "SELECT thumbnail FROM classification_events WHERE id = $1 AND owner_id = $2"
        )
        .bind(id)
        .bind(owner_id)
        .fetch_optional(pool)
        .await)?;
        row.and_then(|(thumbnail,)| thumbnail).ok_or(AppError::NotFound)
    }
}

/// Counts what `sql` lists for `owner_id` — a label and when it was seen, given the owner (`$1`)
/// and the start of the first bucket (`$2`) — per label in `buckets` buckets of `bucket` length
/// ending now, keeping the `top` most frequent labels.
pub(super) async fn label_activity(
    pool: &Pool,
    sql: &str,
    owner_id: UserId,
    (buckets, bucket): (usize, chrono::TimeDelta),
    top: usize,
) -> Result<LabelActivity, AppError> {
    let start = Utc::now() - bucket * i32::try_from(buckets).unwrap_or(i32::MAX);
    let rows: Vec<(String, DateTime<Utc>)> =
        on_engine!(pool, |pool| sqlx::query_as(sql).bind(owner_id).bind(start).fetch_all(pool).await)?;
    let mut series: Vec<LabelSeries> = Vec::new();
    for (label, seen_at) in rows {
        let index = ((seen_at - start).num_seconds() / bucket.num_seconds().max(1)).max(0) as usize;
        let position = match series.iter().position(|s| s.label == label) {
            Some(position) => position,
            None => {
                series.push(LabelSeries { label, counts: vec![0; buckets] });
                series.len() - 1
            }
        };
        series[position].counts[index.min(buckets - 1)] += 1;
    }
    series.sort_by_key(|s| std::cmp::Reverse(s.counts.iter().sum::<u32>()));
    series.truncate(top);
    let bucket_minutes = u32::try_from(bucket.num_minutes()).unwrap_or(u32::MAX);
    Ok(LabelActivity { start, bucket_minutes, series })
}

impl EventStore {
    /// How often `owner_id`'s `top` most frequent labels were recognised in each of `buckets`
    /// buckets of `bucket` length, ending now.
    pub async fn activity(
        &self,
        owner_id: UserId,
        buckets: usize,
        bucket: chrono::TimeDelta,
        top: usize,
    ) -> Result<LabelActivity, AppError> {
        let sql = "SELECT top_label, received_at FROM classification_events
                   WHERE owner_id = $1 AND received_at >= $2 ORDER BY id DESC LIMIT 100000";
        label_activity(&self.pool, sql, owner_id, (buckets, bucket), top).await
    }

    /// `owner_id`'s streams: each with its number of events and when it last sent one, most
    /// recent first.
    pub async fn streams(&self, owner_id: UserId) -> Result<Vec<(String, i64, DateTime<Utc>)>, AppError> {
        Ok(on_engine!(&self.pool, |pool| sqlx::query_as(
            "SELECT stream, COUNT(*), MAX(received_at) FROM classification_events
             WHERE owner_id = $1 GROUP BY stream ORDER BY MAX(received_at) DESC LIMIT 100",
        )
        .bind(owner_id)
        .fetch_all(pool)
        .await)?)
    }

    /// How many of `owner_id`'s events stored from `since` (inclusive) to `until` (exclusive) had
    /// each best class on each stream, most frequent first.
    pub async fn label_counts(
        &self,
        owner_id: UserId,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<LabelCount>, AppError> {
        let rows: Vec<(String, i64, String, i64, DateTime<Utc>)> =
            on_engine!(&self.pool, |pool| sqlx::query_as(
                "SELECT stream, top_index, top_label, COUNT(*), MAX(received_at) FROM classification_events
             WHERE owner_id = $1 AND ($2 IS NULL OR received_at >= $2) AND ($3 IS NULL OR received_at < $3)
             GROUP BY stream, top_index, top_label ORDER BY COUNT(*) DESC, MAX(received_at) DESC LIMIT 10000",
            )
            .bind(owner_id)
            .bind(since)
            .bind(until)
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|(stream, index, label, count, last)| LabelCount { stream, index, label, count, last })
            .collect())
    }

    /// `owner_id`'s latest `limit` events whose best label is one of `labels` (on `stream`, or
    /// any), newest first.
    pub async fn latest_with_labels(
        &self,
        owner_id: UserId,
        labels: &[String],
        stream: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, AppError> {
        if labels.is_empty() {
            return Ok(Vec::new());
        }
        Ok(on_engine!(&self.pool, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT id, stream, model, top_index, top_label, top_score, thumbnail IS NOT NULL AS has_thumbnail,
                        client_time, received_at
                 FROM classification_events WHERE owner_id = ",
            );
            query.push_bind(owner_id).push(" AND top_label IN (");
            let mut listed = query.separated(", ");
            for label in labels {
                listed.push_bind(label);
            }
            query.push(") AND (").push_bind(stream).push(" IS NULL OR stream = ").push_bind(stream);
            query.push(") ORDER BY id DESC LIMIT ").push_bind(limit);
            query.build_query_as().fetch_all(pool).await
        })?)
    }

    /// Deletes every event stored before `cutoff`, and the sightings that ended before it;
    /// returns how many events.
    pub async fn delete_older_than(&self, cutoff: DateTime<Utc>) -> Result<u64, AppError> {
        on_engine!(&self.pool, |pool| sqlx::query("DELETE FROM sightings WHERE ended_at < $1")
            .bind(cutoff)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        let deleted = on_engine!(&self.pool, |pool| sqlx::query(
            "DELETE FROM classification_events WHERE received_at < $1"
        )
        .bind(cutoff)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(deleted)
    }

    /// Runs [`Self::delete_older_than`] now and then every `period`, keeping `retention` of history.
    pub fn spawn_retention(&self, retention: chrono::TimeDelta, period: std::time::Duration) {
        let store = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            loop {
                every.tick().await;
                match store.delete_older_than(Utc::now() - retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!("deleted {n} events older than {} days", retention.num_days()),
                    Err(e) => tracing::warn!("cannot delete old events: {e}"),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::backend::Database;

    #[tokio::test]
    async fn retention_deletes_only_events_older_than_the_cutoff() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        let pool = db.pool();
        on_engine!(pool, |pool| sqlx::query(
            "INSERT INTO users (id, username, created_at) VALUES (1, 'alice', $1)"
        )
        .bind(Utc::now())
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
        .unwrap();
        for (seq, age_days) in [(1, 40), (2, 10), (3, 0)] {
            on_engine!(pool, |pool| sqlx::query(
                "INSERT INTO classification_events (owner_id, stream, producer, seq, model, classifications,
                     top_index, top_label, top_score, client_time, received_at)
                 VALUES (1, 'cam0', 'p', $1, 'm', '[]', 281, 'tabby', 0.9, $2, $2)",
            )
            .bind(seq)
            .bind(Utc::now() - TimeDelta::days(age_days))
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
            .unwrap();
        }
        let store = EventStore::new(pool.clone());
        assert_eq!(store.delete_older_than(Utc::now() - TimeDelta::days(30)).await.unwrap(), 1);
        let left = store.list(UserId(1), &EventQuery::default()).await.unwrap();
        assert_eq!(left.events.len(), 2);
    }
}
