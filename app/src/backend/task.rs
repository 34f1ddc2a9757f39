use std::future::Future;

use tokio::task::AbortHandle;

/// A background task that lives as long as its guard: dropping the guard aborts it (a
/// connection's forwarders, a reply's saver).
#[derive(Debug)]
pub struct TaskGuard(AbortHandle);

impl TaskGuard {
    /// Spawns `task` on the Tokio runtime.
    pub fn spawn(task: impl Future<Output = ()> + Send + 'static) -> Self {
        Self(tokio::spawn(task).abort_handle())
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}
