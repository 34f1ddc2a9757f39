//! Sightings: what people reason in ("a cat appeared at the door, stayed four minutes, left"),
//! worked out from the events cameras already send. Per stream and label, a sighting begins when
//! the label's median score over the stream's latest events reaches the threshold, is updated
//! while the label keeps being seen (last seen, best score, best thumbnail), and ends once the
//! label has been absent for the policy's time.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::NewEvent;
use super::store::{PAGE_SIZE, label_activity, one_page};
use crate::backend::db::{Pool, on_engine};
use crate::backend::{AppError, Database};
use crate::protocol::{EventId, LabelActivity, Sighting, SightingId, SightingPage, StoredEvent, UserId};

/// How many of a stream's latest events a label's median is taken over.
const WINDOW: usize = 3;
/// Most events listed for one sighting.
const EVENTS_PER_SIGHTING: i64 = 200;

/// When a sighting begins and ends (`[sightings]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SightingPolicy {
    /// The least median score at which a label counts as seen.
    pub min_score: f64,
    /// Seconds a label must go unseen before its sighting ends; keep it above the cameras'
    /// heartbeat (5 s by default), which is how often a label that stays is reported.
    pub absent_secs: u32,
}

impl Default for SightingPolicy {
    fn default() -> Self {
        Self { min_score: 0.3, absent_secs: 15 }
    }
}

impl SightingPolicy {
    /// Checks the settings; the error names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.min_score) {
            return Err("sightings.min_score is between 0 and 1".into());
        }
        if !(1..=3600).contains(&self.absent_secs) {
            return Err("sightings.absent_secs is between 1 and 3600".into());
        }
        Ok(())
    }

    fn absent(&self) -> TimeDelta {
        TimeDelta::seconds(i64::from(self.absent_secs))
    }
}

/// One event as the tracker remembers it: each label's best score over the event's heads.
#[derive(Debug)]
struct Seen {
    id: EventId,
    at: DateTime<Utc>,
    has_thumbnail: bool,
    scores: HashMap<String, f32>,
}

impl Seen {
    fn of(new: &NewEvent) -> Self {
        let mut scores = HashMap::new();
        for category in new.classifications.iter().flat_map(|head| &head.categories) {
            let best = scores.entry(category.category_name.clone()).or_insert(0.0_f32);
            *best = best.max(category.score);
        }
        let event = &new.event;
        Self { id: event.id, at: event.received_at, has_thumbnail: event.has_thumbnail, scores }
    }

    fn score(&self, label: &str) -> f32 {
        self.scores.get(label).copied().unwrap_or(0.0)
    }
}

/// A sighting still going on.
#[derive(Debug)]
struct Open {
    sighting: Sighting,
    /// Whether it is stored (it has its id).
    stored: bool,
    /// Whether it changed since it was last stored.
    dirty: bool,
    /// The score of the frame its thumbnail shows.
    thumbnail_score: f32,
}

#[derive(Debug, Default)]
struct StreamState {
    recent: VecDeque<Seen>,
    open: HashMap<String, Open>,
}

/// Sightings whose state changed, for [`SightingTracker::due`].
#[derive(Debug, Default, PartialEq)]
pub struct Due {
    /// Still going on, with a newer last sighting or a better score: store and push them.
    pub changed: Vec<(UserId, Sighting)>,
    /// Absent for the policy's time: ended, to store and push.
    pub ended: Vec<(UserId, Sighting)>,
}

/// Every stream's sightings in progress: fed each stored event in order, and asked now and then
/// which sightings changed or ended. Pure bookkeeping; storing is the caller's.
#[derive(Debug)]
pub struct SightingTracker {
    policy: SightingPolicy,
    streams: HashMap<(UserId, String), StreamState>,
}

impl SightingTracker {
    /// A tracker that follows `policy`.
    pub fn new(policy: SightingPolicy) -> Self {
        Self { policy, streams: HashMap::new() }
    }

    /// Feeds one stored event; returns the sightings it began, to store (their ids are 0 until
    /// [`Self::stored`] gives them theirs).
    pub fn observe(&mut self, new: &NewEvent) -> Vec<(UserId, Sighting)> {
        let (min_score, absent) = (self.policy.min_score, self.policy.absent());
        let seen = Seen::of(new);
        let state = self.streams.entry((new.owner_id, new.event.stream.clone())).or_default();
        state.recent.retain(|earlier| seen.at - earlier.at <= absent);
        if state.recent.len() == WINDOW {
            state.recent.pop_front();
        }
        let mut began = Vec::new();
        let recognised: Vec<(&String, f32)> = seen
            .scores
            .iter()
            .filter(|(_, score)| f64::from(**score) >= min_score)
            .map(|(l, s)| (l, *s))
            .collect();
        for (label, score) in recognised {
            if let Some(open) = state.open.get_mut(label) {
                open.see(&seen, score);
                continue;
            }
            let mut scores: Vec<f32> =
                state.recent.iter().map(|earlier| earlier.score(label)).chain([score]).collect();
            scores.sort_by(f32::total_cmp);
            // The lower median: one noisy frame among others does not begin a sighting, while a
            // label on a stream that was quiet does at once.
            if f64::from(scores[(scores.len() - 1) / 2]) < min_score {
                continue;
            }
            let mut open = Open::begin(&new.event.stream, label, &seen, score);
            for earlier in state.recent.iter().rev() {
                let earlier_score = earlier.score(label);
                if f64::from(earlier_score) >= min_score {
                    open.reach_back(earlier, earlier_score);
                }
            }
            began.push((new.owner_id, open.sighting.clone()));
            state.open.insert(label.clone(), open);
        }
        state.recent.push_back(seen);
        began
    }

    /// Records that a sighting [`Self::observe`] began is stored as `stored`.
    pub fn stored(&mut self, owner_id: UserId, stored: &Sighting) {
        if let Some(open) = self.open_mut(owner_id, stored) {
            open.sighting.id = stored.id;
            open.stored = true;
        }
    }

    /// Drops a sighting that could not be stored.
    pub fn forget(&mut self, owner_id: UserId, sighting: &Sighting) {
        if let Some(state) = self.streams.get_mut(&(owner_id, sighting.stream.clone())) {
            state.open.remove(&sighting.label);
        }
    }

    fn open_mut(&mut self, owner_id: UserId, sighting: &Sighting) -> Option<&mut Open> {
        self.streams.get_mut(&(owner_id, sighting.stream.clone()))?.open.get_mut(&sighting.label)
    }

    /// The stored sightings going on on `owner_id`'s `stream`.
    pub fn open_on(&self, owner_id: UserId, stream: &str) -> Vec<&Sighting> {
        self.streams
            .get(&(owner_id, stream.to_owned()))
            .map(|state| state.open.values().filter(|o| o.stored).map(|o| &o.sighting).collect())
            .unwrap_or_default()
    }

    /// Whether any sighting is going on (so [`Self::due`] has something to do).
    pub fn any_open(&self) -> bool {
        self.streams.values().any(|state| !state.open.is_empty())
    }

    /// At `now`: the stored sightings that changed since the last call, and those whose label
    /// has been absent for the policy's time, which end at their last sighting. Streams with
    /// nothing going on and nothing recent are forgotten.
    pub fn due(&mut self, now: DateTime<Utc>) -> Due {
        let absent = self.policy.absent();
        let mut due = Due::default();
        for ((owner_id, _), state) in &mut self.streams {
            state.open.retain(|_, open| {
                if !open.stored {
                    return true;
                }
                if now - open.sighting.last_seen_at >= absent {
                    open.sighting.ended_at = Some(open.sighting.last_seen_at);
                    due.ended.push((*owner_id, open.sighting.clone()));
                    return false;
                }
                if std::mem::take(&mut open.dirty) {
                    due.changed.push((*owner_id, open.sighting.clone()));
                }
                true
            });
            state.recent.retain(|seen| now - seen.at <= absent);
        }
        self.streams.retain(|_, state| !state.open.is_empty() || !state.recent.is_empty());
        due
    }
}

impl Open {
    fn begin(stream: &str, label: &str, seen: &Seen, score: f32) -> Self {
        let sighting = Sighting {
            id: SightingId(0),
            stream: stream.to_owned(),
            label: label.to_owned(),
            started_at: seen.at,
            last_seen_at: seen.at,
            ended_at: None,
            peak_score: f64::from(score),
            first_event_id: seen.id,
            last_event_id: seen.id,
            thumbnail_event_id: seen.has_thumbnail.then_some(seen.id),
        };
        Self {
            sighting,
            stored: false,
            dirty: false,
            thumbnail_score: if seen.has_thumbnail { score } else { 0.0 },
        }
    }

    /// An earlier event in which the label was already seen: the sighting began there.
    fn reach_back(&mut self, earlier: &Seen, score: f32) {
        self.sighting.started_at = earlier.at;
        self.sighting.first_event_id = earlier.id;
        self.count(earlier, score);
    }

    /// The label is seen again with `score`.
    fn see(&mut self, seen: &Seen, score: f32) {
        self.sighting.last_seen_at = seen.at;
        self.sighting.last_event_id = seen.id;
        self.count(seen, score);
        self.dirty = true;
    }

    /// Counts `seen`'s `score` towards the best score and the best thumbnail.
    fn count(&mut self, seen: &Seen, score: f32) {
        self.sighting.peak_score = self.sighting.peak_score.max(f64::from(score));
        if seen.has_thumbnail && (self.sighting.thumbnail_event_id.is_none() || score > self.thumbnail_score)
        {
            self.sighting.thumbnail_event_id = Some(seen.id);
            self.thumbnail_score = score;
        }
    }
}

/// Which of a user's sightings to list; every field narrows the list.
#[derive(Clone, Debug, Default)]
pub struct SightingQuery {
    /// Only this stream.
    pub stream: Option<String>,
    /// Only this label.
    pub label: Option<String>,
    /// Only sightings older than this id (the next page).
    pub before_id: Option<SightingId>,
}

const COLUMNS: &str = "id, stream, label, started_at, last_seen_at, ended_at, peak_score, first_event_id, \
                       last_event_id, thumbnail_event_id";

/// Sightings in the database, always within one owner's records.
#[derive(Clone, Debug)]
pub struct Sightings {
    pool: Pool,
    writer: Pool,
}

impl Sightings {
    /// Sightings in `db`, written through its writer connection.
    pub fn new(db: &Database) -> Self {
        Self { pool: db.pool().clone(), writer: db.writer().clone() }
    }

    /// Stores a sighting that began; without a thumbnail of its own, it gets the stream's
    /// latest one.
    pub async fn insert(&self, owner_id: UserId, sighting: &Sighting) -> Result<Sighting, AppError> {
        Ok(on_engine!(&self.writer, |pool| sqlx::query_as(&format!(
            "INSERT INTO sightings (owner_id, stream, label, started_at, last_seen_at, peak_score,
                 first_event_id, last_event_id, thumbnail_event_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, COALESCE($9,
                 (SELECT id FROM classification_events
                   WHERE owner_id = $1 AND stream = $2 AND thumbnail IS NOT NULL AND id <= $8
                   ORDER BY id DESC LIMIT 1)))
             RETURNING {COLUMNS}"
        ))
        .bind(owner_id)
        .bind(&sighting.stream)
        .bind(&sighting.label)
        .bind(sighting.started_at)
        .bind(sighting.last_seen_at)
        .bind(sighting.peak_score)
        .bind(sighting.first_event_id)
        .bind(sighting.last_event_id)
        .bind(sighting.thumbnail_event_id)
        .fetch_one(pool)
        .await)?)
    }

    /// Stores how a sighting stands now (last seen, best score, thumbnail, end); answers it as
    /// stored.
    pub async fn update(&self, sighting: &Sighting) -> Result<Sighting, AppError> {
        Ok(on_engine!(&self.writer, |pool| sqlx::query_as(&format!(
            "UPDATE sightings SET last_seen_at = $2, ended_at = $3, peak_score = $4, last_event_id = $5,
                 thumbnail_event_id = COALESCE($6, thumbnail_event_id)
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(sighting.id)
        .bind(sighting.last_seen_at)
        .bind(sighting.ended_at)
        .bind(sighting.peak_score)
        .bind(sighting.last_event_id)
        .bind(sighting.thumbnail_event_id)
        .fetch_one(pool)
        .await)?)
    }

    /// Ends every sighting left going on (by a server that stopped) at its last sighting.
    pub async fn end_all_open(&self) -> Result<u64, AppError> {
        let done = on_engine!(&self.writer, |pool| sqlx::query(
            "UPDATE sightings SET ended_at = last_seen_at WHERE ended_at IS NULL"
        )
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(done)
    }

    /// One page of `owner_id`'s sightings matching `query`, newest first.
    pub async fn list(&self, owner_id: UserId, query: &SightingQuery) -> Result<SightingPage, AppError> {
        let sightings: Vec<Sighting> = on_engine!(&self.pool, |pool| sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM sightings
             WHERE owner_id = $1 AND ($2 IS NULL OR stream = $2) AND ($3 IS NULL OR label = $3)
               AND ($4 IS NULL OR id < $4)
             ORDER BY id DESC LIMIT $5"
        ))
        .bind(owner_id)
        .bind(&query.stream)
        .bind(&query.label)
        .bind(query.before_id)
        .bind(PAGE_SIZE + 1)
        .fetch_all(pool)
        .await)?;
        let (sightings, next_before_id) = one_page(sightings, PAGE_SIZE, |s| s.id);
        Ok(SightingPage { sightings, next_before_id })
    }

    /// The events of `owner_id`'s sighting `id`: its stream's, from its first to its latest,
    /// oldest first (at most 200).
    pub async fn events(&self, owner_id: UserId, id: SightingId) -> Result<Vec<StoredEvent>, AppError> {
        let found: Option<(i64,)> = on_engine!(&self.pool, |pool| sqlx::query_as(
            "SELECT id FROM sightings WHERE id = $1 AND owner_id = $2"
        )
        .bind(id)
        .bind(owner_id)
        .fetch_optional(pool)
        .await)?;
        found.ok_or(AppError::NotFound)?;
        Ok(on_engine!(&self.pool, |pool| sqlx::query_as(
            "SELECT e.id, e.stream, e.model, e.top_index, e.top_label, e.top_score,
                    e.thumbnail IS NOT NULL AS has_thumbnail, e.client_time, e.received_at
             FROM sightings s JOIN classification_events e
               ON e.owner_id = s.owner_id AND e.stream = s.stream
              AND e.id BETWEEN s.first_event_id AND s.last_event_id
             WHERE s.id = $1 ORDER BY e.id LIMIT $2",
        )
        .bind(id)
        .bind(EVENTS_PER_SIGHTING)
        .fetch_all(pool)
        .await)?)
    }

    /// How many sightings of `owner_id`'s `top` most frequent labels began in each of `buckets`
    /// buckets of `bucket` length, ending now.
    pub async fn activity(
        &self,
        owner_id: UserId,
        (buckets, bucket): (usize, TimeDelta),
        top: usize,
    ) -> Result<LabelActivity, AppError> {
        let sql = "SELECT label, started_at FROM sightings
                   WHERE owner_id = $1 AND started_at >= $2 ORDER BY id DESC LIMIT 100000";
        label_activity(&self.pool, sql, owner_id, (buckets, bucket), top).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Category, Classification};

    const OWNER: UserId = UserId(1);

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    /// Event `id` on stream `door` at second `secs`, with a thumbnail, seeing `labels`.
    fn event(id: i64, secs: i64, labels: &[(&str, f32)]) -> NewEvent {
        let categories: Vec<Category> = labels
            .iter()
            .enumerate()
            .map(|(index, (name, score))| Category {
                index: index as u32,
                score: *score,
                category_name: (*name).into(),
                display_name: String::new(),
            })
            .collect();
        let top = &categories[0];
        NewEvent {
            owner_id: OWNER,
            event: StoredEvent {
                id: EventId(id),
                stream: "door".into(),
                model: "m".into(),
                top_index: 0,
                top_label: top.category_name.clone(),
                top_score: f64::from(top.score),
                has_thumbnail: true,
                client_time: at(secs),
                received_at: at(secs),
            },
            classifications: vec![Classification {
                categories,
                head_index: 0,
                head_name: "probability".into(),
            }],
        }
    }

    /// Feeds `event` and stores what began, numbering sightings from 100.
    fn feed(tracker: &mut SightingTracker, event: &NewEvent) -> Vec<Sighting> {
        let mut began = tracker.observe(event);
        for (n, (owner, sighting)) in began.iter_mut().enumerate() {
            sighting.id = SightingId(100 + n as i64);
            tracker.stored(*owner, sighting);
        }
        began.into_iter().map(|(_, s)| s).collect()
    }

    fn tracker() -> SightingTracker {
        SightingTracker::new(SightingPolicy { min_score: 0.5, absent_secs: 10 })
    }

    #[test]
    fn a_label_on_a_quiet_stream_begins_a_sighting_at_once() {
        let mut tracker = tracker();
        let began = feed(&mut tracker, &event(1, 0, &[("tabby", 0.8), ("tiger cat", 0.1)]));
        assert_eq!(began.len(), 1);
        let cat = &began[0];
        assert_eq!(
            (cat.label.as_str(), cat.started_at, cat.peak_score),
            ("tabby", at(0), f64::from(0.8_f32))
        );
        assert_eq!((cat.first_event_id, cat.thumbnail_event_id), (EventId(1), Some(EventId(1))));
        assert!(feed(&mut tracker, &event(2, 5, &[("tabby", 0.9)])).is_empty(), "it is going on");
    }

    #[test]
    fn one_noisy_frame_among_others_does_not_begin_one() {
        let mut tracker = tracker();
        feed(&mut tracker, &event(1, 0, &[("dog", 0.9)]));
        feed(&mut tracker, &event(2, 1, &[("dog", 0.9)]));
        let noisy = feed(&mut tracker, &event(3, 2, &[("tabby", 0.7), ("dog", 0.2)]));
        assert!(noisy.is_empty(), "median of 0, 0, 0.7 is 0: {noisy:?}");
        let second = feed(&mut tracker, &event(4, 3, &[("tabby", 0.6)]));
        assert_eq!(second.len(), 1, "two of the last three");
        assert_eq!(
            (second[0].started_at, second[0].first_event_id),
            (at(2), EventId(3)),
            "began at the first"
        );
        assert_eq!(second[0].peak_score, f64::from(0.7_f32));
    }

    #[test]
    fn a_sighting_is_updated_while_it_stays_and_ends_after_the_absence() {
        let mut tracker = tracker();
        feed(&mut tracker, &event(1, 0, &[("tabby", 0.6)]));
        feed(&mut tracker, &event(2, 5, &[("tabby", 0.9)]));
        let due = tracker.due(at(6));
        assert_eq!(due.ended, vec![]);
        let (owner, changed) = &due.changed[0];
        assert_eq!((*owner, changed.last_seen_at, changed.peak_score), (OWNER, at(5), f64::from(0.9_f32)));
        assert_eq!(changed.thumbnail_event_id, Some(EventId(2)), "the best frame");
        assert_eq!(tracker.due(at(7)), Due::default(), "nothing new");
        feed(&mut tracker, &event(3, 8, &[("dog", 0.9)]));
        assert_eq!(tracker.due(at(14)).ended, vec![], "absent for 9 s");
        let ended = tracker.due(at(15)).ended;
        assert_eq!(ended.len(), 1);
        let cat = &ended[0].1;
        assert_eq!((cat.label.as_str(), cat.ended_at), ("tabby", Some(at(5))), "it left when last seen");
        assert_eq!(cat.duration(), TimeDelta::seconds(5));
        assert!(tracker.open_on(OWNER, "door").iter().all(|s| s.label == "dog"));
    }

    #[test]
    fn a_label_that_comes_back_after_the_absence_is_a_new_sighting() {
        let mut tracker = tracker();
        feed(&mut tracker, &event(1, 0, &[("tabby", 0.9)]));
        tracker.due(at(20));
        let again = feed(&mut tracker, &event(2, 30, &[("tabby", 0.9)]));
        assert_eq!((again.len(), again[0].first_event_id), (1, EventId(2)));
    }

    #[test]
    fn sightings_not_yet_stored_neither_change_nor_end() {
        let mut tracker = tracker();
        let began = tracker.observe(&event(1, 0, &[("tabby", 0.9)]));
        assert_eq!(tracker.due(at(60)), Due::default());
        assert!(tracker.open_on(OWNER, "door").is_empty());
        tracker.forget(OWNER, &began[0].1);
        assert!(!tracker.any_open());
    }
}
