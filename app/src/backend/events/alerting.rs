//! The alert engine, an [`EventHandler`]: each stored event is checked against its owner's
//! rules, on the median of the last few scores (one noisy frame does not fire) and at most once
//! per cooldown. A firing rule records an alert, pushes it to the owner's pages and, when the rule
//! has a webhook, POSTs the alert as JSON with retries.

use crate::protocol::RuleId;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::rules::{Firing, Rules};
use super::{EventHandler, NewEvent};
use crate::backend::Hub;
use crate::protocol::{AlertInfo, LiveUpdate, RuleInfo};
use crate::vision::CategoryFilter;

/// How many of the latest scores a rule's median is taken over.
pub const SCORE_WINDOW: usize = 3;
/// Events waiting for the engine before new ones are dropped (with a warning).
const QUEUE: usize = 4096;

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

/// Every rule's recent scores and last firing: decides which rules fire.
#[derive(Debug, Default)]
pub struct RuleTracker {
    windows: HashMap<(RuleId, String), ScoreWindow>,
    fired: HashMap<RuleId, Instant>,
}

impl RuleTracker {
    /// Feeds `event` to `rule` at `now`; returns the label and median score when it fires.
    pub fn observe(&mut self, rule: &RuleInfo, event: &NewEvent, now: Instant) -> Option<(String, f32)> {
        if rule.rule.stream.as_ref().is_some_and(|stream| *stream != event.event.stream) {
            return None;
        }
        let filter = CategoryFilter::from_lists(&rule.rule.labels, "");
        let best = event
            .classifications
            .iter()
            .flat_map(|head| &head.categories)
            .filter(|category| filter.admits(&category.category_name))
            .max_by(|a, b| a.score.total_cmp(&b.score));
        let window = self.windows.entry((rule.id, event.event.stream.clone())).or_default();
        // An event without the label counts as a zero, so the median falls when it leaves.
        if let Some(best) = best {
            window.label = best.category_name.clone();
        }
        let median = window.push(best.map_or(0.0, |best| best.score))?;
        let cooled = self.fired.get(&rule.id).is_none_or(|last| {
            now.duration_since(*last) >= Duration::from_secs(u64::from(rule.rule.cooldown_secs))
        });
        if f64::from(median) < rule.rule.min_score || !cooled {
            return None;
        }
        self.fired.insert(rule.id, now);
        Some((window.label.clone(), median))
    }
}

/// The alert engine: events reach it through [`EventHandler::handle`] and are evaluated in order
/// by one task.
#[derive(Debug)]
pub struct AlertEngine {
    events: mpsc::Sender<NewEvent>,
}

impl AlertEngine {
    /// Starts the engine over `rules`, pushing alerts to `hub` and to the rules' webhooks.
    pub fn start(rules: Rules, hub: Hub) -> Self {
        let (events, queue) = mpsc::channel(QUEUE);
        tokio::spawn(evaluate(rules, hub, queue));
        Self { events }
    }
}

impl EventHandler for AlertEngine {
    fn name(&self) -> &'static str {
        "alert rules"
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

async fn evaluate(rules: Rules, hub: Hub, mut queue: mpsc::Receiver<NewEvent>) {
    let mut tracker = RuleTracker::default();
    while let Some(event) = queue.recv().await {
        let active = match rules.active(event.owner_id).await {
            Ok(active) => active,
            Err(e) => {
                tracing::error!("cannot load the rules of user {}: {e}", event.owner_id);
                continue;
            }
        };
        for rule in active.iter() {
            let Some((label, score)) = tracker.observe(rule, &event, Instant::now()) else { continue };
            let firing = Firing {
                owner_id: event.owner_id,
                rule: rule.clone(),
                stream: event.event.stream.clone(),
                label,
                score: f64::from(score),
                event_id: event.event.id,
            };
            match rules.record_alert(&firing).await {
                Ok(alert) => {
                    hub.publish(event.owner_id, LiveUpdate::Alert(alert.clone()));
                    if let Some(url) = rule.rule.webhook_url.clone() {
                        tokio::spawn(deliver_webhook(rules.clone(), url, alert));
                    }
                }
                Err(e) => tracing::error!("cannot record an alert of rule {}: {e}", rule.id),
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

    fn rule(stream: Option<&str>, cooldown_secs: u32) -> RuleInfo {
        RuleInfo {
            id: RuleId(7),
            rule: RuleDraft {
                name: "cats".into(),
                labels: "cat".into(),
                min_score: 0.5,
                stream: stream.map(Into::into),
                cooldown_secs,
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
        assert_eq!(tracker.observe(&rule, &event("door", "tabby cat", 0.9), now), None, "window not full");
        assert_eq!(tracker.observe(&rule, &event("door", "dog", 0.9), now), None);
        assert_eq!(tracker.observe(&rule, &event("door", "dog", 0.9), now), None, "median is 0");
        assert_eq!(tracker.observe(&rule, &event("door", "tiger cat", 0.8), now), None);
        let fired = tracker.observe(&rule, &event("door", "tiger cat", 0.7), now);
        assert_eq!(fired, Some(("tiger cat".into(), 0.7)));
    }

    #[test]
    fn a_rule_fires_once_per_cooldown() {
        let (mut tracker, rule, start) = (RuleTracker::default(), rule(None, 60), Instant::now());
        let cat = event("door", "Egyptian cat", 0.9);
        let fired_at =
            |tracker: &mut RuleTracker, secs| tracker.observe(&rule, &cat, start + Duration::from_secs(secs));
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
            assert_eq!(tracker.observe(&rule, &event("garden", "tabby cat", 0.9), now), None);
        }
    }
}
