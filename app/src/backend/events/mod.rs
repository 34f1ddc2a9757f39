//! Classification events: validated at the websocket boundary, written in batches by one writer
//! task, acknowledged once committed.

mod ingest;

pub use ingest::{Ingest, Ingested};
