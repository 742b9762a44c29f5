//! The PostgreSQL pool's connections, tested before use only when they may be stale.
//!
//! r2d2's own test (`SELECT 1` on every check-out) cost one round trip per request, a tenth of a
//! sale's. Its purpose — after a PostgreSQL restart, no pooled connection that died with the old
//! server may fail a till's request — is kept by testing a connection at check-out only when:
//! - it has not been used for [`IDLE_TEST`] (a restart takes longer than that, so every
//!   connection from before it is tested), or
//! - this process has seen a connection lost since the connection was last tested (a restart
//!   quicker than [`IDLE_TEST`] under load: the first request to meet a dead connection fails —
//!   a write is run again by [`crate::db::Db::write_retrying`], as the failure came before any
//!   commit — and from then on every connection is tested once before its next use).
//!
//! A connection that fails its test is dropped by r2d2 and replaced by a new one.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, ManageConnection};

/// A connection unused for this long is tested before its next use.
pub const IDLE_TEST: Duration = Duration::from_secs(1);

/// How many times a connection to PostgreSQL was found lost (the server restarted, a network
/// fault). A connection tested before the last of them is tested again.
static LOST: AtomicU64 = AtomicU64::new(0);

/// Notes that a PostgreSQL connection was found lost (see the module's documentation).
pub fn connection_lost() {
    LOST.fetch_add(1, Ordering::Relaxed);
}

/// A pooled PostgreSQL connection and when it was last known good.
pub struct PgConn {
    conn: PgConnection,
    /// Last returned to the pool or tested.
    last_used: Instant,
    /// [`LOST`] when it was last tested (or made).
    tested_at: u64,
}

impl Deref for PgConn {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl DerefMut for PgConn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

/// diesel's connection manager, with the test of this module.
pub struct PgManager(ConnectionManager<PgConnection>);

impl PgManager {
    pub fn new(url: &str) -> PgManager {
        PgManager(ConnectionManager::new(url))
    }
}

/// Whether a connection last used at `last_used` and tested when [`LOST`] was `tested_at` must be
/// tested before its use at `now`.
fn needs_test(last_used: Instant, tested_at: u64, now: Instant) -> bool {
    now.duration_since(last_used) >= IDLE_TEST || tested_at < LOST.load(Ordering::Relaxed)
}

impl ManageConnection for PgManager {
    type Connection = PgConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PgConn, Self::Error> {
        let tested_at = LOST.load(Ordering::Relaxed);
        Ok(PgConn { conn: self.0.connect()?, last_used: Instant::now(), tested_at })
    }

    /// r2d2 calls it at every check-out (`test_on_check_out`): a round trip only when needed.
    fn is_valid(&self, conn: &mut PgConn) -> Result<(), Self::Error> {
        let now = Instant::now();
        if !needs_test(conn.last_used, conn.tested_at, now) {
            return Ok(());
        }
        let tested_at = LOST.load(Ordering::Relaxed);
        self.0.is_valid(&mut conn.conn)?;
        conn.tested_at = tested_at;
        conn.last_used = now;
        Ok(())
    }

    /// r2d2 calls it when a connection comes back to the pool: the moment it was last used.
    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.last_used = Instant::now();
        self.0.has_broken(&mut conn.conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_tested_when_idle_or_older_than_the_last_loss() {
        let now = Instant::now() + IDLE_TEST * 2;
        let lost = LOST.load(Ordering::Relaxed);
        assert!(!needs_test(now, lost, now), "just used, nothing lost since: no round trip");
        assert!(!needs_test(now - IDLE_TEST / 2, lost, now));
        assert!(needs_test(now - IDLE_TEST, lost, now), "idle for IDLE_TEST: tested");
        connection_lost();
        assert!(needs_test(now, lost, now), "a connection was lost since its test: tested");
        assert!(!needs_test(now, LOST.load(Ordering::Relaxed), now), "tested since");
    }
}
