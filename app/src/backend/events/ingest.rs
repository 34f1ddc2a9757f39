use crate::protocol::{EventId, UserId};
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::{EventHandlers, NewEvent};
use crate::backend::AppError;
use crate::protocol::{StoredEvent, StreamName, ValidEvent};

/// Most events written in one transaction.
const MAX_BATCH: usize = 512;
/// Events waiting for the writer before producers wait.
const QUEUE: usize = 8192;

/// The outcome of storing one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ingested {
    /// Stored now, with this id.
    Stored(EventId),
    /// Stored before: a re-sent event.
    Duplicate,
}

struct Job {
    owner_id: UserId,
    stream: StreamName,
    event: ValidEvent,
    done: oneshot::Sender<Result<Ingested, String>>,
}

/// The event writer: producers submit events and wait for their commit; the writer groups
/// whatever is waiting into one transaction, so throughput grows with load while a lone event
/// is written at once. Each new event then goes through the event handlers, in order.
#[derive(Clone, Debug)]
pub struct Ingest {
    jobs: mpsc::Sender<Job>,
}

impl Ingest {
    /// Starts the writer task over `pool`, handing new events to `handlers`.
    pub fn start(pool: SqlitePool, handlers: EventHandlers) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(pool, handlers, queue));
        Self { jobs }
    }

    /// Stores `event` for `owner_id` on `stream`; returns once it is committed.
    pub async fn submit(
        &self,
        owner_id: UserId,
        stream: &StreamName,
        event: ValidEvent,
    ) -> Result<Ingested, AppError> {
        let (done, outcome) = oneshot::channel();
        let job = Job { owner_id, stream: stream.clone(), event, done };
        let stopped = || AppError::Unavailable("the event writer has stopped".into());
        self.jobs.send(job).await.map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?.map_err(AppError::Internal)
    }
}

async fn write_batches(pool: SqlitePool, handlers: EventHandlers, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let received_at = Utc::now();
        match write(&pool, &batch, received_at).await {
            Ok(outcomes) => {
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    let new = match outcome {
                        Ingested::Stored(id) => Some(NewEvent {
                            owner_id: job.owner_id,
                            event: stored(id, &job, received_at),
                            classifications: job.event.event.classifications.clone(),
                        }),
                        Ingested::Duplicate => None,
                    };
                    let _ = job.done.send(Ok(outcome));
                    if let Some(new) = &new {
                        for handler in &handlers {
                            handler.handle(new);
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!("cannot store {} events: {e}", batch.len());
                for job in batch.drain(..) {
                    let _ = job.done.send(Err(format!("cannot store the event: {e}")));
                }
            }
        }
    }
}

/// The event as the Events page shows it.
fn stored(id: EventId, job: &Job, received_at: DateTime<Utc>) -> StoredEvent {
    let ValidEvent { event, top, thumbnail } = &job.event;
    StoredEvent {
        id,
        stream: job.stream.as_str().to_owned(),
        model: event.model.clone(),
        top_index: i64::from(top.index),
        top_label: top.category_name.clone(),
        top_score: f64::from(top.score),
        has_thumbnail: thumbnail.is_some(),
        client_time: event.client_time,
        received_at,
    }
}

async fn write(
    pool: &SqlitePool,
    batch: &[Job],
    received_at: DateTime<Utc>,
) -> Result<Vec<Ingested>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for job in batch {
        let ValidEvent { event, top, thumbnail } = &job.event;
        let classifications = serde_json::to_string(&event.classifications).unwrap_or_else(|_| "[]".into());
        let id: Option<(EventId,)> = sqlx::query_as(
            "INSERT INTO classification_events
                (owner_id, stream, producer, seq, model, classifications, top_index, top_label, top_score,
                 thumbnail, client_time, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (owner_id, stream, producer, seq) DO NOTHING
             RETURNING id",
        )
        .bind(job.owner_id)
        .bind(job.stream.as_str())
        .bind(&event.producer)
        .bind(i64::try_from(event.seq).unwrap_or(i64::MAX))
        .bind(&event.model)
        .bind(classifications)
        .bind(i64::from(top.index))
        .bind(&top.category_name)
        .bind(top.score)
        .bind(thumbnail.as_deref())
        .bind(event.client_time)
        .bind(received_at)
        .fetch_optional(&mut *tx)
        .await?;
        outcomes.push(id.map_or(Ingested::Duplicate, |(id,)| Ingested::Stored(id)));
    }
    tx.commit().await?;
    Ok(outcomes)
}
