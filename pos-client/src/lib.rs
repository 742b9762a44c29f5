//! `azyq-pos`, the cashier terminal: scan the recipient's QR code and the goods, have the wallet
//! authorise and capture the sale.
//!
//! `app` holds the state and its pure transitions (no I/O: they return [`app::Command`]s that the
//! loop runs with the [`client::Client`] and feeds back as events), `ui` draws it, `tui` is the
//! loop, `headless` the sub-commands for scripts, `i18n` every word in Russian and Kazakh.

// A till that panics at the counter is a queue of angry people (as gitui does).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod app;
pub mod client;
pub mod desk;
pub mod headless;
pub mod i18n;
pub mod journal;
pub mod offline;
pub mod qr;
pub mod tui;
pub mod ui;
