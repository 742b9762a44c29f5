//! Time, injected: domain code never asks the system clock itself. The clock lives in the shared
//! crate, so that the till reads the same `AZYQ_FAKE_NOW` the same way.

pub use azyq_shared::clock::{Clock, FakeClock, SystemClock};
