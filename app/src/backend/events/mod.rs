//! Classification events: validated at the websocket boundary, written in batches by one writer
//! task, acknowledged once committed, and listed for their owner.

mod ingest;
mod store;

pub use ingest::{Ingest, Ingested};
pub use store::{EventQuery, EventStore};
