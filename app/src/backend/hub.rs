use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::broadcast;

use crate::protocol::{LiveUpdate, UserId};

/// Updates a slow page may fall behind by before it misses some.
const BACKLOG: usize = 256;

/// Carries what a hub publishes to the other replicas of the app (see [`super::replicas`]),
/// whose hubs deliver it to their own subscribers.
pub trait Relay<T, K>: Send + Sync + std::fmt::Debug {
    /// Sends `update` for `key` on to the other replicas.
    fn relay(&self, key: &K, update: &T);
}

/// The fan-out of live updates: subscribers of a key (a user's open pages, a chat session's
/// connections) each get what services publish to it, in this process and, once a [`Relay`] is
/// set, in the other replicas.
#[derive(Debug)]
pub struct Hub<T = LiveUpdate, K = UserId> {
    channels: Arc<Mutex<HashMap<K, broadcast::Sender<T>>>>,
    /// Updates each key's channel holds for its slowest subscriber.
    backlog: usize,
    relay: Arc<OnceLock<Arc<dyn Relay<T, K>>>>,
}

impl<T, K> Clone for Hub<T, K> {
    fn clone(&self) -> Self {
        Self { channels: self.channels.clone(), backlog: self.backlog, relay: self.relay.clone() }
    }
}

impl<T, K> Default for Hub<T, K> {
    fn default() -> Self {
        Self::with_backlog(BACKLOG)
    }
}

impl<T, K> Hub<T, K> {
    /// A hub whose channels hold `backlog` updates (each key's channel allocates them all).
    pub fn with_backlog(backlog: usize) -> Self {
        Self { channels: Arc::default(), backlog: backlog.max(1), relay: Arc::default() }
    }

    /// Publishes through `relay` too from now on (once; a second relay is refused and returned).
    pub fn relay_through(&self, relay: Arc<dyn Relay<T, K>>) -> Result<(), Arc<dyn Relay<T, K>>> {
        self.relay.set(relay)
    }
}

impl<T: Clone, K: Eq + Hash> Hub<T, K> {
    /// Receives every update published to `key` from now on.
    pub fn subscribe(&self, key: K) -> broadcast::Receiver<T> {
        let mut channels = self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        channels.entry(key).or_insert_with(|| broadcast::channel(self.backlog).0).subscribe()
    }

    /// Sends `update` to `key`'s subscribers, here and in the other replicas.
    pub fn publish(&self, key: K, update: T) {
        if let Some(relay) = self.relay.get() {
            relay.relay(&key, &update);
        }
        self.deliver(key, update);
    }

    /// Sends `update` to every subscriber in this process (news about this replica itself).
    pub fn deliver_to_all(&self, update: T) {
        let mut channels = self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // A channel nobody listens to any more is forgotten.
        channels.retain(|_, sender| sender.send(update.clone()).is_ok());
    }

    /// Sends `update` to `key`'s subscribers in this process, if any (what a relay received).
    pub fn deliver(&self, key: K, update: T) {
        let mut channels = self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(sender) = channels.get(&key)
            && sender.send(update).is_err()
        {
            // Nobody listens any more: forget the channel.
            channels.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn updates_reach_only_their_users_subscribers() {
        let hub: Hub = Hub::default();
        let mut alice = hub.subscribe(UserId(1));
        let mut bob = hub.subscribe(UserId(2));
        hub.publish(UserId(1), LiveUpdate::Pong);
        assert_eq!(alice.recv().await.unwrap(), LiveUpdate::Pong);
        assert!(bob.try_recv().is_err());
        drop((alice, bob));
        hub.publish(UserId(1), LiveUpdate::Pong);
        assert!(hub.channels.lock().unwrap().get(&UserId(1)).is_none(), "an unheard channel is dropped");
    }

    #[tokio::test]
    async fn news_for_all_reaches_every_user_here_and_no_other_replica() {
        #[derive(Debug, Default)]
        struct Counting(std::sync::atomic::AtomicUsize);
        impl Relay<LiveUpdate, UserId> for Counting {
            fn relay(&self, _: &UserId, _: &LiveUpdate) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let hub: Hub = Hub::default();
        let relay = Arc::new(Counting::default());
        hub.relay_through(relay.clone()).unwrap();
        let (mut alice, mut bob) = (hub.subscribe(UserId(1)), hub.subscribe(UserId(2)));
        let news = LiveUpdate::Replicas { degraded: Some("Redis is away".into()) };
        hub.deliver_to_all(news.clone());
        assert_eq!((alice.recv().await.unwrap(), bob.recv().await.unwrap()), (news.clone(), news));
        assert_eq!(relay.0.load(std::sync::atomic::Ordering::Relaxed), 0);
    }
}
