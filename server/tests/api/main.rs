//! Integration tests: the real server on port 0 with a fresh SQLite file, driven over HTTP.

mod accounts;
mod agents;
#[path = "../camera_eval/mod.rs"]
mod camera_eval;
mod chat;
mod classify;
mod events;
mod fake_upstream;
mod files;
mod health;
mod helpers;
mod pages;
mod replicas;
mod rules;
mod security;
mod sockets;
mod startup;
mod websockets;
