//! Time, injected: the one place on either side that reads the wall clock. Everything else asks a
//! [`Clock`], so that tests (and a demo in the past) can run the server and the till at an
//! instant of their choosing (`AZYQ_FAKE_NOW`, honoured only with `AZYQ_ALLOW_FAKE_CLOCK=1`).

use std::time::Instant;

use chrono::{DateTime, Utc};

/// Where "now" comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
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

/// A clock that starts at a chosen instant and runs on at real speed: tests move time by
/// restarting a program with a later instant.
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

/// What the settings asked of the clock, for the caller to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockChoice {
    System,
    /// The fake clock, starting at this instant.
    Fake(DateTime<Utc>),
    /// A fake instant was given without the permission to use it, and is ignored.
    FakeRefused,
}

/// The clock `AZYQ_FAKE_NOW` and `AZYQ_ALLOW_FAKE_CLOCK` ask for: the fake one only when both are
/// set, so that a stray variable in production cannot move time.
pub fn choose(fake_now: Option<DateTime<Utc>>, allowed: bool) -> (Box<dyn Clock>, ClockChoice) {
    match (fake_now, allowed) {
        (Some(start), true) => (Box::new(FakeClock::starting_at(start)), ClockChoice::Fake(start)),
        (Some(_), false) => (Box::new(SystemClock), ClockChoice::FakeRefused),
        (None, _) => (Box::new(SystemClock), ClockChoice::System),
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

    #[test]
    fn a_fake_instant_needs_the_permission() {
        let start: DateTime<Utc> = "2021-12-05T00:00:00Z".parse().unwrap();
        let (clock, choice) = choose(Some(start), true);
        assert_eq!(choice, ClockChoice::Fake(start));
        assert!(clock.now() - start < chrono::Duration::seconds(5));
        let (clock, choice) = choose(Some(start), false);
        assert_eq!(choice, ClockChoice::FakeRefused);
        assert!(clock.now() > start + chrono::Duration::days(365));
        assert_eq!(choose(None, true).1, ClockChoice::System);
    }
}
