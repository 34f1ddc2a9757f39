//! The alert engine, an [`EventHandler`]: each stored event first updates its stream's
//! sightings (stored and pushed to the owner's pages as they begin, change and end), then is
//! checked against its owner's rules — on the median of the last few scores (one noisy frame does
//! not fire), or on how long a sighting has lasted — at most once per cooldown. A firing rule
//! records an alert, pushes it to the owner's pages and, when the rule has a webhook, POSTs the
//! alert as JSON with retries.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::rules::{Firing, Rules};
use super::sightings::{SightingTracker, Sightings};
use super::{EventHandler, NewEvent};
use crate::backend::Hub;
use crate::protocol::{AlertInfo, LiveUpdate, RuleId, RuleInfo, Sighting, SightingId};
use crate::vision::CategoryFilter;

/// How many of the latest scores a rule's median is taken over.
pub const SCORE_WINDOW: usize = 3;
/// Events waiting for the engine before new ones are dropped (with a warning).
const QUEUE: usize = 4096;
/// How often sightings going on are stored, pushed and checked for an end.
const SIGHTINGS_EVERY: Duration = Duration::from_secs(1);

/// The latest scores a rule saw on one stream.
#[derive(Clone, Debug, Default)]
struct ScoreWindow {
    scores: VecDeque<f32>,
    label: String,
}

impl ScoreWindow {
    /// Adds a score; once the window is full, returns the median.
    fn push(&mut self, score: f32) -> Option<f32> {
        if self.scores.len() == SCORE_WINDOW {
            self.scores.pop_front();
        }
        self.scores.push_back(score);
        if self.scores.len() < SCORE_WINDOW {
            return None;
        }
        let mut sorted: Vec<f32> = self.scores.iter().copied().collect();
        sorted.sort_by(f32::total_cmp);
        Some(sorted[sorted.len() / 2])
    }
}

/// A rule that fires.
#[derive(Clone, Debug, PartialEq)]
pub struct Fire {
    /// The recognised class.
    pub label: String,
    /// The median score (or, for a rule on how long a label stays, the sighting's best).
    pub score: f32,
    /// The sighting of `label` going on, if any.
    pub sighting_id: Option<SightingId>,
}

/// Every rule's recent scores and last firing: decides which rules fire.
#[derive(Debug, Default)]
pub struct RuleTracker {
    windows: HashMap<(RuleId, String), ScoreWindow>,
    fired: HashMap<RuleId, Instant>,
    /// The sightings each rule on how long a label stays has fired for.
    fired_for: HashSet<(RuleId, SightingId)>,
}

impl RuleTracker {
    /// Feeds `event` to `rule` at `now`, with the sightings going on on the event's stream
    /// (`open`); says when the rule fires.
    pub fn observe(
        &mut self,
        rule: &RuleInfo,
        event: &NewEvent,
        open: &[Sighting],
        now: Instant,
    ) -> Option<Fire> {
        if rule.rule.stream.as_ref().is_some_and(|stream| *stream != event.event.stream) {
            return None;
        }
        let filter = CategoryFilter::from_lists(&rule.rule.labels, "");
        if rule.rule.stays_secs > 0 {
            return self.observe_stay(rule, &filter, open, now);
        }
        let best = event
            .classifications
            .iter()
            .flat_map(|head| &head.categories)
            .filter(|category| filter.admits_class(i64::from(category.index), &category.category_name))
            .max_by(|a, b| a.score.total_cmp(&b.score));
        let window = self.windows.entry((rule.id, event.event.stream.clone())).or_default();
        // An event without the label counts as a zero, so the median falls when it leaves.
        if let Some(best) = best {
            window.label = best.category_name.clone();
        }
        let median = window.push(best.map_or(0.0, |best| best.score))?;
        let label = window.label.clone();
        if f64::from(median) < rule.rule.min_score || !self.cooled(rule, now) {
            return None;
        }
        self.fired.insert(rule.id, now);
        let sighting_id = open.iter().find(|s| s.label == label).map(|s| s.id);
        Some(Fire { label, score: median, sighting_id })
    }

    /// A rule on how long a label stays fires once per sighting that has lasted long enough.
    fn observe_stay(
        &mut self,
        rule: &RuleInfo,
        filter: &CategoryFilter,
        open: &[Sighting],
        now: Instant,
    ) -> Option<Fire> {
        let stays = chrono::TimeDelta::seconds(i64::from(rule.rule.stays_secs));
        let sighting = open.iter().find(|s| {
            filter.admits(&s.label)
                && s.peak_score >= rule.rule.min_score
                && s.duration() >= stays
                && !self.fired_for.contains(&(rule.id, s.id))
        })?;
        if !self.cooled(rule, now) {
            return None;
        }
        self.fired.insert(rule.id, now);
        self.fired_for.insert((rule.id, sighting.id));
        Some(Fire {
            label: sighting.label.clone(),
            score: sighting.peak_score as f32,
            sighting_id: Some(sighting.id),
        })
    }

    fn cooled(&self, rule: &RuleInfo, now: Instant) -> bool {
        self.fired.get(&rule.id).is_none_or(|last| {
            now.duration_since(*last) >= Duration::from_secs(u64::from(rule.rule.cooldown_secs))
        })
    }

    /// Forgets what fired for a sighting that ended.
    pub fn sighting_ended(&mut self, id: SightingId) {
        self.fired_for.retain(|(_, sighting)| *sighting != id);
    }
}

/// The alert engine: events reach it through [`EventHandler::handle`] and are evaluated in order
/// by one task.
#[derive(Debug)]
pub struct AlertEngine {
    events: mpsc::Sender<NewEvent>,
}

impl AlertEngine {
    /// Starts the engine: sightings are worked out by `tracker` and stored in `sightings`,
    /// alerts fire by `rules`; both are pushed to `hub`, alerts also to the rules' webhooks.
    pub fn start(rules: Rules, (sightings, tracker): (Sightings, SightingTracker), hub: Hub) -> Self {
        let (events, queue) = mpsc::channel(QUEUE);
        let engine = Engine { rules, sightings, hub, tracker, rule_tracker: RuleTracker::default() };
        tokio::spawn(engine.run(queue));
        Self { events }
    }
}

impl EventHandler for AlertEngine {
    fn name(&self) -> &'static str {
        "sightings and alert rules"
    }

    fn handle(&self, event: &NewEvent) {
        if self.events.try_send(event.clone()).is_err() {
            tracing::warn!(
                "the alert engine is behind; event {} is not checked against rules",
                event.event.id
            );
        }
    }
}

/// The engine's task and what it keeps.
struct Engine {
    rules: Rules,
    sightings: Sightings,
    hub: Hub,
    tracker: SightingTracker,
    rule_tracker: RuleTracker,
}

impl Engine {
    /// Takes events in order; every [`SIGHTINGS_EVERY`] while sightings are going on, stores
    /// and pushes how they changed and ends those whose label left.
    async fn run(mut self, mut queue: mpsc::Receiver<NewEvent>) {
        match self.sightings.end_all_open().await {
            Ok(0) => {}
            Ok(n) => tracing::info!("ended {n} sightings left going on by the previous run"),
            Err(e) => tracing::error!("cannot end the sightings of the previous run: {e}"),
        }
        let mut next_due = Instant::now() + SIGHTINGS_EVERY;
        loop {
            let any_open = self.tracker.any_open();
            let due = async move {
                if any_open {
                    tokio::time::sleep_until(next_due).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                event = queue.recv() => match event {
                    Some(event) => self.event(event).await,
                    None => break,
                },
                () = due => {
                    self.sightings_due().await;
                    next_due = Instant::now() + SIGHTINGS_EVERY;
                }
            }
        }
    }

    async fn event(&mut self, event: NewEvent) {
        let owner_id = event.owner_id;
        for (owner_id, began) in self.tracker.observe(&event) {
            match self.sightings.insert(owner_id, &began).await {
                Ok(stored) => {
                    self.tracker.stored(owner_id, &stored);
                    self.hub.publish(owner_id, LiveUpdate::Sighting(stored));
                }
                Err(e) => {
                    tracing::error!("cannot store a sighting of {} on {}: {e}", began.label, began.stream);
                    self.tracker.forget(owner_id, &began);
                }
            }
        }
        let active = match self.rules.active(owner_id).await {
            Ok(active) => active,
            Err(e) => {
                tracing::error!("cannot load the rules of user {owner_id}: {e}");
                return;
            }
        };
        let open: Vec<Sighting> =
            self.tracker.open_on(owner_id, &event.event.stream).into_iter().cloned().collect();
        for rule in active.iter() {
            let Some(fire) = self.rule_tracker.observe(rule, &event, &open, Instant::now()) else { continue };
            let firing = Firing {
                owner_id,
                rule: rule.clone(),
                stream: event.event.stream.clone(),
                label: fire.label,
                score: f64::from(fire.score),
                event_id: event.event.id,
                sighting_id: fire.sighting_id,
            };
            match self.rules.record_alert(&firing).await {
                Ok(None) => tracing::debug!("rule {} fired within its cooldown on another replica", rule.id),
                Ok(Some(alert)) => {
                    self.hub.publish(owner_id, LiveUpdate::Alert(alert.clone()));
                    if let Some(url) = rule.rule.webhook_url.clone() {
                        tokio::spawn(deliver_webhook(self.rules.clone(), url, alert));
                    }
                }
                Err(e) => tracing::error!("cannot record an alert of rule {}: {e}", rule.id),
            }
        }
    }

    async fn sightings_due(&mut self) {
        let due = self.tracker.due(Utc::now());
        for (_, ended) in &due.ended {
            self.rule_tracker.sighting_ended(ended.id);
        }
        for (owner_id, sighting) in due.changed.into_iter().chain(due.ended) {
            match self.sightings.update(&sighting).await {
                Ok(stored) => self.hub.publish(owner_id, LiveUpdate::Sighting(stored)),
                Err(e) => tracing::error!("cannot store sighting {}: {e}", sighting.id),
            }
        }
    }
}

/// Sends `alert` to its rule's webhook and records the outcome on the alert.
async fn deliver_webhook(rules: Rules, url: String, alert: AlertInfo) {
    let outcome = rules.webhooks().deliver(&url, &alert).await;
    if let Err(e) = rules.set_webhook_status(alert.id, &outcome).await {
        tracing::error!("cannot record the webhook outcome of alert {}: {e}", alert.id);
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::protocol::{Category, Classification, EventId, RuleDraft, StoredEvent, UserId};

    fn fired(label: &str, score: f32) -> Option<Fire> {
        Some(Fire { label: label.into(), score, sighting_id: None })
    }

    fn rule(stream: Option<&str>, cooldown_secs: u32) -> RuleInfo {
        RuleInfo {
            id: RuleId(7),
            rule: RuleDraft {
                name: "cats".into(),
                labels: "cat".into(),
                min_score: 0.5,
                stream: stream.map(Into::into),
                cooldown_secs,
                stays_secs: 0,
                webhook_url: None,
            },
            paused: false,
        }
    }

    fn event(stream: &str, label: &str, score: f32) -> NewEvent {
        let now = Utc::now();
        NewEvent {
            owner_id: UserId(1),
            event: StoredEvent {
                id: EventId(1),
                stream: stream.into(),
                model: "m".into(),
                top_index: 0,
                top_label: label.into(),
                top_score: f64::from(score),
                has_thumbnail: false,
                client_time: now,
                received_at: now,
            },
            classifications: vec![Classification {
                categories: vec![Category {
                    index: 0,
                    score,
                    category_name: label.into(),
                    display_name: String::new(),
                }],
                head_index: 0,
                head_name: "probability".into(),
            }],
        }
    }

    #[test]
    fn the_median_must_pass_so_one_noisy_frame_does_not_fire() {
        let (mut tracker, rule, now) = (RuleTracker::default(), rule(None, 60), Instant::now());
        assert_eq!(
            tracker.observe(&rule, &event("door", "tabby cat", 0.9), &[], now),
            None,
            "window not full"
        );
        assert_eq!(tracker.observe(&rule, &event("door", "dog", 0.9), &[], now), None);
        assert_eq!(tracker.observe(&rule, &event("door", "dog", 0.9), &[], now), None, "median is 0");
        assert_eq!(tracker.observe(&rule, &event("door", "tiger cat", 0.8), &[], now), None);
        let fire = tracker.observe(&rule, &event("door", "tiger cat", 0.7), &[], now);
        assert_eq!(fire, fired("tiger cat", 0.7));
    }

    #[test]
    fn a_rule_fires_once_per_cooldown() {
        let (mut tracker, rule, start) = (RuleTracker::default(), rule(None, 60), Instant::now());
        let cat = event("door", "Egyptian cat", 0.9);
        let fired_at = |tracker: &mut RuleTracker, secs| {
            tracker.observe(&rule, &cat, &[], start + Duration::from_secs(secs))
        };
        assert_eq!(fired_at(&mut tracker, 0), None);
        assert_eq!(fired_at(&mut tracker, 0), None);
        assert!(fired_at(&mut tracker, 1).is_some());
        assert_eq!(fired_at(&mut tracker, 30), None);
        assert_eq!(fired_at(&mut tracker, 59), None);
        assert!(fired_at(&mut tracker, 61).is_some());
    }

    #[test]
    fn a_rule_on_one_stream_ignores_the_others() {
        let (mut tracker, rule, now) = (RuleTracker::default(), rule(Some("door"), 0), Instant::now());
        for _ in 0..SCORE_WINDOW {
            assert_eq!(tracker.observe(&rule, &event("garden", "tabby cat", 0.9), &[], now), None);
        }
    }

    fn sighting(id: i64, label: &str, lasted_secs: i64, peak: f64) -> Sighting {
        let start = Utc::now();
        Sighting {
            id: SightingId(id),
            stream: "door".into(),
            label: label.into(),
            started_at: start,
            last_seen_at: start + chrono::TimeDelta::seconds(lasted_secs),
            ended_at: None,
            peak_score: peak,
            first_event_id: EventId(1),
            last_event_id: EventId(2),
            thumbnail_event_id: None,
        }
    }

    #[test]
    fn a_rule_on_staying_fires_once_per_sighting_that_lasted_long_enough() {
        let mut rule = rule(None, 0);
        rule.rule.stays_secs = 30;
        let (mut tracker, now, cat) =
            (RuleTracker::default(), Instant::now(), event("door", "tabby cat", 0.9));
        let observe = |tracker: &mut RuleTracker, open: &[Sighting]| tracker.observe(&rule, &cat, open, now);
        assert_eq!(observe(&mut tracker, &[sighting(5, "tabby cat", 29, 0.9)]), None, "not long enough");
        assert_eq!(observe(&mut tracker, &[sighting(5, "dog", 60, 0.9)]), None, "another label");
        assert_eq!(observe(&mut tracker, &[sighting(5, "tabby cat", 60, 0.4)]), None, "never scored enough");
        let fire = observe(&mut tracker, &[sighting(5, "tabby cat", 30, 0.9)]);
        assert_eq!(
            fire,
            Some(Fire { label: "tabby cat".into(), score: 0.9, sighting_id: Some(SightingId(5)) })
        );
        assert_eq!(observe(&mut tracker, &[sighting(5, "tabby cat", 40, 0.9)]), None, "once per sighting");
        assert!(observe(&mut tracker, &[sighting(6, "tabby cat", 31, 0.9)]).is_some(), "the next one");
        tracker.sighting_ended(SightingId(5));
        assert!(tracker.fired_for.iter().all(|(_, id)| *id != SightingId(5)));
    }

    #[test]
    fn an_alert_on_appearing_names_the_sighting_going_on() {
        let (mut tracker, rule, now) = (RuleTracker::default(), rule(None, 0), Instant::now());
        let open = [sighting(9, "tabby cat", 0, 0.9)];
        for _ in 1..SCORE_WINDOW {
            tracker.observe(&rule, &event("door", "tabby cat", 0.9), &open, now);
        }
        let fire = tracker.observe(&rule, &event("door", "tabby cat", 0.9), &open, now).unwrap();
        assert_eq!(fire.sighting_id, Some(SightingId(9)));
    }
}
