use app::backend::ConnectionCounts;
use app::protocol::UserId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Counts open websocket connections per user and refuses more than the cap: on this replica,
/// and across the replicas when they share a Redis (when it is away, each replica counts its
/// own).
#[derive(Clone, Debug)]
pub struct ConnectionSlots {
    per_user: usize,
    open: Arc<Mutex<HashMap<UserId, usize>>>,
    replicas: Option<ConnectionCounts>,
}

/// One open connection; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    user_id: UserId,
    open: Arc<Mutex<HashMap<UserId, usize>>>,
    /// The replicas' count it is in, if any.
    counted: Option<ConnectionCounts>,
}

impl ConnectionSlots {
    /// Allows `per_user` connections for each user, counted with the other replicas' through
    /// `replicas` when given.
    pub fn new(per_user: usize, replicas: Option<ConnectionCounts>) -> Self {
        Self { per_user, open: Arc::default(), replicas }
    }

    /// A slot for `user_id`, unless they are at the cap.
    pub async fn acquire(&self, user_id: UserId) -> Option<Slot> {
        let mut slot = self.acquire_here(user_id)?;
        let Some(replicas) = &self.replicas else { return Some(slot) };
        match replicas.open(user_id, self.per_user).await {
            Ok(true) => slot.counted = Some(replicas.clone()),
            // Dropping the slot frees it here.
            Ok(false) => return None,
            Err(e) => tracing::warn!("a websocket is counted on this replica alone: {e}"),
        }
        Some(slot)
    }

    fn acquire_here(&self, user_id: UserId) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(user_id).or_default();
        if *count >= self.per_user {
            return None;
        }
        *count += 1;
        Some(Slot { user_id, open: Arc::clone(&self.open), counted: None })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&self.user_id) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user_id);
            }
        }
        if let Some(replicas) = self.counted.take() {
            let user_id = self.user_id;
            tokio::spawn(async move {
                if let Err(e) = replicas.close(user_id).await {
                    tracing::warn!("a closed websocket stays counted until its replica stops: {e}");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn caps_each_user_and_frees_slots_on_drop() {
        let slots = ConnectionSlots::new(2, None);
        let a = slots.acquire(UserId(1)).await.unwrap();
        let _b = slots.acquire(UserId(1)).await.unwrap();
        assert!(slots.acquire(UserId(1)).await.is_none());
        assert!(slots.acquire(UserId(2)).await.is_some());
        drop(a);
        assert!(slots.acquire(UserId(1)).await.is_some());
    }
}
