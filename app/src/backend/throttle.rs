use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts failures per key (e.g. sign-in attempts per address and username) and blocks a key
/// that failed `max_failures` times within `window`, until the oldest of those failures ages out.
#[derive(Debug)]
pub struct FailureThrottle {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl FailureThrottle {
    /// A throttle allowing `max_failures` per `window`.
    pub fn new(max_failures: usize, window: Duration) -> Self {
        Self { max_failures: max_failures.max(1), window, failures: Mutex::new(HashMap::new()) }
    }

    /// `Err(retry_after)` while `key` is blocked.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(times) = failures.get_mut(key) else { return Ok(()) };
        times.retain(|t| now.duration_since(*t) < self.window);
        if times.len() < self.max_failures {
            return Ok(());
        }
        Err(self.window.saturating_sub(now.duration_since(times[0])))
    }

    /// Records a failure for `key`.
    pub fn fail(&self, key: &str) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Forget keys whose failures have all aged out, so the map cannot grow without bound.
        if failures.len() > 10_000 {
            failures.retain(|_, times| times.last().is_some_and(|t| now.duration_since(*t) < self.window));
        }
        failures.entry(key.to_owned()).or_default().push(now);
    }

    /// Forgets `key`'s failures (after a success).
    pub fn clear(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_allowed_failures_and_forgets_on_success() {
        let throttle = FailureThrottle::new(2, Duration::from_secs(60));
        throttle.fail("a");
        assert!(throttle.check("a").is_ok());
        throttle.fail("a");
        let retry = throttle.check("a").unwrap_err();
        assert!(retry > Duration::from_secs(58));
        assert!(throttle.check("b").is_ok());
        throttle.clear("a");
        assert!(throttle.check("a").is_ok());
    }

    #[test]
    fn failures_age_out() {
        let throttle = FailureThrottle::new(1, Duration::ZERO);
        throttle.fail("a");
        assert!(throttle.check("a").is_ok());
    }
}
