//! Time, injected: domain code never asks the system clock itself.

use std::time::Instant;

use chrono::{DateTime, Utc};

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that starts at a chosen instant and runs on at real speed (`AZYQ_FAKE_NOW`): tests move
/// time by restarting the server with a later instant on the same database.
#[derive(Debug, Clone, Copy)]
pub struct FakeClock {
    start: DateTime<Utc>,
    started: Instant,
}

impl FakeClock {
    pub fn starting_at(start: DateTime<Utc>) -> FakeClock {
        FakeClock { start, started: Instant::now() }
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.started.elapsed()).unwrap_or_default();
        self.start + elapsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_clock_runs_on_from_its_start() {
        let start = "2026-12-05T00:00:00Z".parse().unwrap();
        let clock = FakeClock::starting_at(start);
        let a = clock.now();
        assert!(a >= start && a - start < chrono::Duration::seconds(5));
        assert!(clock.now() >= a);
    }
}
