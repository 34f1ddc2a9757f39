//! Wire types: every message and payload that crosses the network, defined once for both sides.

mod classification;
mod status;

pub use classification::Category;
pub use status::{Check, Readiness};
