use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::protocol::LiveUpdate;

/// Updates a slow page may fall behind by before it misses some.
const BACKLOG: usize = 256;

/// The in-process fan-out of live updates: subscribers of a key (a user's open pages, a chat
/// session's connections) each get what services publish to it.
#[derive(Debug)]
pub struct Hub<T = LiveUpdate> {
    channels: Arc<Mutex<HashMap<i64, broadcast::Sender<T>>>>,
}

impl<T> Clone for Hub<T> {
    fn clone(&self) -> Self {
        Self { channels: self.channels.clone() }
    }
}

impl<T> Default for Hub<T> {
    fn default() -> Self {
        Self { channels: Arc::default() }
    }
}

impl<T: Clone> Hub<T> {
    /// Receives every update published to `user_id` from now on.
    pub fn subscribe(&self, user_id: i64) -> broadcast::Receiver<T> {
        let mut channels = self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        channels.entry(user_id).or_insert_with(|| broadcast::channel(BACKLOG).0).subscribe()
    }

    /// Sends `update` to `user_id`'s open pages, if any.
    pub fn publish(&self, user_id: i64, update: T) {
        let mut channels = self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(sender) = channels.get(&user_id)
            && sender.send(update).is_err()
        {
            // Nobody listens any more: forget the channel.
            channels.remove(&user_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn updates_reach_only_their_users_subscribers() {
        let hub = Hub::default();
        let mut alice = hub.subscribe(1);
        let mut bob = hub.subscribe(2);
        hub.publish(1, LiveUpdate::Pong);
        assert_eq!(alice.recv().await.unwrap(), LiveUpdate::Pong);
        assert!(bob.try_recv().is_err());
        drop((alice, bob));
        hub.publish(1, LiveUpdate::Pong);
        assert!(hub.channels.lock().unwrap().get(&1).is_none(), "an unheard channel is dropped");
    }
}
