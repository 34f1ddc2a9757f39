//! When a camera tells the server what it sees: not on every frame, but when the recognised
//! class changes, and now and then while it stays, so the server hears about everything that
//! appears without being flooded.

use std::time::Duration;

use crate::protocol::Category;

/// Why an event is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Something new is recognised: another class is on top, or a score rose above the threshold.
    /// These events carry a thumbnail of the frame.
    Changed,
    /// The same class is still recognised; a reminder that it is there.
    Heartbeat,
}

/// Decides, frame by frame, which results become events.
#[derive(Clone, Debug)]
pub struct EventPolicy {
    min_score: f32,
    heartbeat: Duration,
    /// The class on top at the last event, while it stays recognised.
    current: Option<u32>,
    last_sent: Duration,
}

impl EventPolicy {
    /// A policy that recognises a class when its score is at least `min_score`, and repeats it
    /// every `heartbeat` while it stays on top.
    pub fn new(min_score: f32, heartbeat: Duration) -> Self {
        Self { min_score, heartbeat, current: None, last_sent: Duration::ZERO }
    }

    /// Looks at one frame's ranked categories, seen at `now` (any monotonic clock), and says
    /// whether to send them.
    pub fn observe(&mut self, ranked: &[Category], now: Duration) -> Option<Trigger> {
        let Some(top) = ranked.first().filter(|top| top.score >= self.min_score) else {
            self.current = None;
            return None;
        };
        let trigger = if self.current != Some(top.index) {
            Trigger::Changed
        } else if now.saturating_sub(self.last_sent) >= self.heartbeat {
            Trigger::Heartbeat
        } else {
            return None;
        };
        self.current = Some(top.index);
        self.last_sent = now;
        Some(trigger)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(index: u32, score: f32) -> Vec<Category> {
        vec![Category { index, score, category_name: format!("class {index}"), display_name: String::new() }]
    }

    fn at(seconds: f32) -> Duration {
        Duration::from_secs_f32(seconds)
    }

    #[test]
    fn a_new_class_is_sent_at_once_and_then_only_as_a_heartbeat() {
        let mut policy = EventPolicy::new(0.5, at(5.0));
        assert_eq!(policy.observe(&seen(1, 0.9), at(0.0)), Some(Trigger::Changed));
        assert_eq!(policy.observe(&seen(1, 0.9), at(1.0)), None);
        assert_eq!(policy.observe(&seen(1, 0.8), at(4.9)), None);
        assert_eq!(policy.observe(&seen(1, 0.8), at(5.0)), Some(Trigger::Heartbeat));
        assert_eq!(policy.observe(&seen(1, 0.8), at(6.0)), None);
        assert_eq!(policy.observe(&seen(2, 0.7), at(6.1)), Some(Trigger::Changed));
    }

    #[test]
    fn scores_below_the_threshold_are_not_sent_and_rising_above_it_is_a_change() {
        let mut policy = EventPolicy::new(0.5, at(5.0));
        assert_eq!(policy.observe(&seen(1, 0.4), at(0.0)), None);
        assert_eq!(policy.observe(&[], at(0.5)), None);
        assert_eq!(policy.observe(&seen(1, 0.6), at(1.0)), Some(Trigger::Changed));
        assert_eq!(policy.observe(&seen(1, 0.3), at(2.0)), None);
        assert_eq!(policy.observe(&seen(1, 0.6), at(3.0)), Some(Trigger::Changed), "it came back");
    }
}
