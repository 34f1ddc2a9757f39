use app::protocol::UserId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Counts open websocket connections per user and refuses more than the cap.
#[derive(Clone, Debug)]
pub struct ConnectionSlots {
    per_user: usize,
    open: Arc<Mutex<HashMap<UserId, usize>>>,
}

/// One open connection; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    user_id: UserId,
    open: Arc<Mutex<HashMap<UserId, usize>>>,
}

impl ConnectionSlots {
    /// Allows `per_user` connections for each user.
    pub fn new(per_user: usize) -> Self {
        Self { per_user, open: Arc::default() }
    }

    /// A slot for `user_id`, unless they are at the cap.
    pub fn acquire(&self, user_id: UserId) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(user_id).or_default();
        if *count >= self.per_user {
            return None;
        }
        *count += 1;
        Some(Slot { user_id, open: Arc::clone(&self.open) })
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_each_user_and_frees_slots_on_drop() {
        let slots = ConnectionSlots::new(2);
        let a = slots.acquire(UserId(1)).unwrap();
        let _b = slots.acquire(UserId(1)).unwrap();
        assert!(slots.acquire(UserId(1)).is_none());
        assert!(slots.acquire(UserId(2)).is_some());
        drop(a);
        assert!(slots.acquire(UserId(1)).is_some());
    }
}
