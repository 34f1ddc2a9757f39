//! Classification events: validated at the websocket boundary, written in batches by one writer
//! task, acknowledged once committed, handed to the event handlers (live feed, sightings and alert
//! rules, the application's own) and listed for their owner.

mod alerting;
mod handler;
mod ingest;
mod rules;
mod sightings;
mod store;
mod webhook;

pub use alerting::{AlertEngine, Fire, RuleTracker, SCORE_WINDOW};
pub use handler::{EventHandler, EventHandlers, LiveFeed, NewEvent};
pub use ingest::{Ingest, Ingested};
pub use rules::{Firing, Rules};
pub use sightings::{Due, SightingPolicy, SightingQuery, SightingTracker, Sightings};
pub use store::{EventQuery, EventStore, LabelCount};
pub use webhook::{Refusal, WebhookPolicy, Webhooks, is_public};
