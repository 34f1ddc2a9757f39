use crate::protocol::UserId;
use std::sync::Arc;

use crate::backend::Hub;
use crate::protocol::{Classification, LiveUpdate, StoredEvent};

/// A classification event just stored (re-sent duplicates never get here).
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// The user whose camera sent it.
    pub owner_id: UserId,
    /// The event as stored.
    pub event: StoredEvent,
    /// Every head's ranked categories, as the camera sent them.
    pub classifications: Vec<Classification>,
}

/// Custom processing of classification events: implement it and pass it to the server at
/// start-up (`Application::build_with_handlers`). After the built-in persistence step commits an
/// event, every handler sees it in turn, in the order events were stored — live updates and
/// alert rules are handlers too.
///
/// `handle` runs on the ingest path: it should only look at the event and hand slow work (network
/// calls, database writes) to a task of its own.
pub trait EventHandler: Send + Sync + 'static {
    /// A name for logs.
    fn name(&self) -> &'static str;

    /// Acts on one stored event.
    fn handle(&self, event: &NewEvent);
}

/// The handlers every server runs, in order, followed by the application's own.
pub type EventHandlers = Vec<Arc<dyn EventHandler>>;

/// Pushes each stored event to its owner's open pages.
#[derive(Debug)]
pub struct LiveFeed {
    hub: Hub,
}

impl LiveFeed {
    /// Publishes through `hub`.
    pub fn new(hub: Hub) -> Self {
        Self { hub }
    }
}

impl EventHandler for LiveFeed {
    fn name(&self) -> &'static str {
        "live feed"
    }

    fn handle(&self, event: &NewEvent) {
        self.hub.publish(event.owner_id, LiveUpdate::Event(event.event.clone()));
    }
}
