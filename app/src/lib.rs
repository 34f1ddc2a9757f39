//! AI Channels: one application compiled twice, to native code for the server (`ssr`) and to
//! WebAssembly for the browser (`hydrate`).
//!
//! - [`protocol`]: wire types shared by both sides.
//! - [`vision`]: image pre- and post-processing and the ImageNet classifier.
//! - [`ui`]: the pages and components.
//! - [`api`]: server functions the pages call.
//! - `backend` (server only): database and services.
#![warn(missing_docs)]

pub mod api;
pub mod protocol;
pub mod ui;
pub mod vision;

#[cfg(feature = "ssr")]
pub mod backend;

pub use ui::{App, shell};
