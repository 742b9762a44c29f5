//! The Azyq wallet server as a library: `main.rs` only parses the command line.

pub mod bench;
pub mod clock;
pub mod commands;
pub mod config;
pub mod console;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
#[cfg(test)]
mod house_rules;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod progress;
pub mod qr;
pub mod reports;
pub mod startup;
pub mod tls;
