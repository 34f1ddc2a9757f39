use std::collections::VecDeque;

/// The sender's half of at-least-once delivery: messages numbered by `seq` stay here until the
/// server acknowledges them, and are sent again after a reconnect. Bounded: when full, the
/// oldest is given up (and counted) rather than letting a long outage exhaust memory.
#[derive(Clone, Debug)]
pub struct Unacknowledged<T> {
    capacity: usize,
    waiting: VecDeque<(u64, T)>,
    given_up: u64,
}

impl<T> Unacknowledged<T> {
    /// An empty buffer holding at most `capacity` messages (at least one).
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), waiting: VecDeque::new(), given_up: 0 }
    }

    /// Keeps `message` until `seq` is acknowledged.
    pub fn push(&mut self, seq: u64, message: T) {
        if self.waiting.len() == self.capacity {
            self.waiting.pop_front();
            self.given_up += 1;
        }
        self.waiting.push_back((seq, message));
    }

    /// Forgets `seq`: the server stored it, or refused it for good.
    pub fn settle(&mut self, seq: u64) {
        self.waiting.retain(|(waiting, _)| *waiting != seq);
    }

    /// The messages still waiting, oldest first, to send again.
    pub fn waiting(&self) -> impl Iterator<Item = &T> {
        self.waiting.iter().map(|(_, message)| message)
    }

    /// How many are waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// How many were given up because the buffer was full.
    pub fn given_up(&self) -> u64 {
        self.given_up
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unacknowledged_messages_wait_in_order_until_settled() {
        let mut buffer = Unacknowledged::new(8);
        for seq in 1..=4 {
            buffer.push(seq, format!("event {seq}"));
        }
        buffer.settle(2);
        buffer.settle(9);
        assert_eq!(buffer.waiting().collect::<Vec<_>>(), ["event 1", "event 3", "event 4"]);
        assert_eq!((buffer.len(), buffer.given_up()), (3, 0));
    }

    #[test]
    fn a_full_buffer_gives_up_the_oldest() {
        let mut buffer = Unacknowledged::new(2);
        for seq in 1..=5 {
            buffer.push(seq, seq);
        }
        assert_eq!(buffer.waiting().copied().collect::<Vec<_>>(), [4, 5]);
        assert_eq!(buffer.given_up(), 3);
    }
}
