use crate::protocol::{EventId, UserId};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use crate::backend::db::{Pool, on_engine};
use tokio::sync::{mpsc, oneshot};

use super::{EventHandlers, NewEvent};
use crate::backend::AppError;
use crate::protocol::{StoredEvent, StreamName, ValidEvent};

/// Most events written in one statement (12 values each, within SQLite's 32,766).
const MAX_BATCH: usize = 512;
/// Fewest events a write may be limited to.
const MIN_BATCH: usize = 16;
/// How long one write should take at most, for the events waiting behind it.
const COMMIT_TIME: Duration = Duration::from_millis(2);
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
/// what is waiting into one statement (as many as it writes in a couple of milliseconds), so
/// throughput grows with load while a lone event is written at once. Each new event then goes through the event handlers, in order.
#[derive(Clone, Debug)]
pub struct Ingest {
    jobs: mpsc::Sender<Job>,
}

impl Ingest {
    /// Starts the writer task over `pool`, handing new events to `handlers`.
    pub fn start(pool: Pool, handlers: EventHandlers) -> Self {
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

async fn write_batches(pool: Pool, handlers: EventHandlers, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut size = BatchSize::default();
    while queue.recv_many(&mut batch, size.limit()).await > 0 {
        let received_at = Utc::now();
        let started = Instant::now();
        let written = write(&pool, &batch, received_at).await;
        size.record(batch.len(), started.elapsed());
        match written {
            Ok(outcomes) => {
                // Every producer hears first; the handlers follow, in order.
                let mut new_events = Vec::with_capacity(batch.len());
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    if let Ingested::Stored(id) = outcome {
                        new_events.push(NewEvent {
                            owner_id: job.owner_id,
                            event: stored(id, &job, received_at),
                            classifications: job.event.event.classifications,
                        });
                    }
                    let _ = job.done.send(Ok(outcome));
                }
                for new in &new_events {
                    for handler in &handlers {
                        handler.handle(new);
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

/// How many waiting events go into one write: as many as are waiting, up to what the writer
/// stores in [`COMMIT_TIME`] at the rate it has shown (and at most [`MAX_BATCH`]), so one
/// write never holds the next events back for long.
#[derive(Debug)]
struct BatchSize {
    /// Recent time per event written, in µs (a moving average).
    micros_per_event: f64,
}

impl Default for BatchSize {
    fn default() -> Self {
        Self { micros_per_event: 10.0 }
    }
}

impl BatchSize {
    fn limit(&self) -> usize {
        let fits = COMMIT_TIME.as_micros() as f64 / self.micros_per_event.max(0.1);
        (fits as usize).clamp(MIN_BATCH, MAX_BATCH)
    }

    fn record(&mut self, events: usize, took: Duration) {
        let per_event = took.as_micros() as f64 / events.max(1) as f64;
        self.micros_per_event = 0.8 * self.micros_per_event + 0.2 * per_event;
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

/// Stores a batch in one statement; the outcome of each event, in the batch's order.
async fn write(pool: &Pool, batch: &[Job], received_at: DateTime<Utc>) -> Result<Vec<Ingested>, sqlx::Error> {
    let rows: Vec<(EventId, UserId, String, String, i64)> = on_engine!(pool, |pool| {
        let mut insert = QueryBuilder::new(
            "INSERT INTO classification_events
                (owner_id, stream, producer, seq, model, classifications, top_index, top_label, top_score,
                 thumbnail, client_time, received_at) ",
        );
        insert.push_values(batch, |mut row, job| {
            let ValidEvent { event, top, thumbnail } = &job.event;
            let classifications =
                serde_json::to_string(&event.classifications).unwrap_or_else(|_| "[]".into());
            row.push_bind(job.owner_id)
                .push_bind(job.stream.as_str())
                .push_bind(&event.producer)
                .push_bind(sequence(event.seq))
                .push_bind(&event.model)
                .push_bind(classifications)
                .push_bind(i64::from(top.index))
                .push_bind(&top.category_name)
                .push_bind(top.score)
                .push_bind(thumbnail.as_deref())
                .push_bind(event.client_time)
                .push_bind(received_at);
        });
        insert.push(
            " ON CONFLICT (owner_id, stream, producer, seq) DO NOTHING
             RETURNING id, owner_id, stream, producer, seq",
        );
        insert.build_query_as().fetch_all(pool).await?
    });
    // Rows come back in no set order: match them to their events by key (the first event of a
    // key was stored; a repeat within the batch is a duplicate).
    let mut first_of_key = HashMap::with_capacity(batch.len());
    for (index, job) in batch.iter().enumerate() {
        let key = (
            job.owner_id,
            job.stream.as_str(),
            job.event.event.producer.as_str(),
            sequence(job.event.event.seq),
        );
        first_of_key.entry(key).or_insert(index);
    }
    let mut outcomes = vec![Ingested::Duplicate; batch.len()];
    for (id, owner_id, stream, producer, seq) in &rows {
        if let Some(&index) = first_of_key.get(&(*owner_id, stream.as_str(), producer.as_str(), *seq)) {
            outcomes[index] = Ingested::Stored(*id);
        }
    }
    Ok(outcomes)
}

/// An event's sequence number as stored.
fn sequence(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}
