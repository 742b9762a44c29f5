//! Counts the statements the server runs, and the network round trips they cost on PostgreSQL,
//! through diesel's instrumentation of every connection (`/metrics`: `azyq_db_statements_total`,
//! `azyq_db_round_trips_total`, `azyq_db_prepared_total`). The load generator divides them by the
//! sales to print statements per sale.
//!
//! Every statement counts, `BEGIN`, `COMMIT` and `SAVEPOINT` included: each is a call into SQLite
//! or a round trip to PostgreSQL. On PostgreSQL a statement prepared into diesel's cache costs one
//! more round trip (the prepare) the first time a connection runs it; on SQLite nothing is a round
//! trip (the database is in the process).
//!
//! `AZYQ_LOG=azyq::sql=trace` logs each statement's SQL text (without its bound values).

use std::sync::atomic::{AtomicU64, Ordering};

use diesel::connection::{Instrumentation, InstrumentationEvent};

static STATEMENTS: AtomicU64 = AtomicU64::new(0);
static ROUND_TRIPS: AtomicU64 = AtomicU64::new(0);
static PREPARED: AtomicU64 = AtomicU64::new(0);

/// What has been counted since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub statements: u64,
    pub round_trips: u64,
    pub prepared: u64,
}

pub fn counts() -> Counts {
    Counts {
        statements: STATEMENTS.load(Ordering::Relaxed),
        round_trips: ROUND_TRIPS.load(Ordering::Relaxed),
        prepared: PREPARED.load(Ordering::Relaxed),
    }
}

/// One connection's counter; it learns its backend from the URL it connects to.
struct Counter {
    remote: bool,
}

impl Instrumentation for Counter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartEstablishConnection { url, .. } => {
                self.remote = crate::db::is_postgres_url(url);
            }
            InstrumentationEvent::StartQuery { query, .. } => {
                STATEMENTS.fetch_add(1, Ordering::Relaxed);
                // `AZYQ_LOG=azyq::sql=trace` lists every statement; the text only, never its bound
                // values (they may be personal data or tokens).
                if tracing::enabled!(target: "azyq::sql", tracing::Level::TRACE) {
                    let text = query.to_string();
                    let sql = text.split(" -- binds:").next().unwrap_or_default();
                    tracing::trace!(target: "azyq::sql", remote = self.remote, "{sql}");
                }
                if self.remote {
                    ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
                }
            }
            InstrumentationEvent::CacheQuery { .. } => {
                PREPARED.fetch_add(1, Ordering::Relaxed);
                if self.remote {
                    ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }
}

fn counter() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(Counter { remote: false }))
}

/// Every connection opened from now on counts (idempotent).
pub fn install() {
    if let Err(e) = diesel::connection::set_default_instrumentation(counter) {
        tracing::warn!(error = %e, "statements will not be counted");
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    use super::*;

    #[test]
    fn every_statement_of_a_connection_counts() {
        install();
        let mut c = SqliteConnection::establish(":memory:").unwrap();
        c.batch_execute("CREATE TABLE t (k INTEGER PRIMARY KEY)").unwrap();
        let before = counts();
        c.transaction::<_, diesel::result::Error, _>(|c| {
            diesel::sql_query("INSERT INTO t (k) VALUES (1)").execute(c)?;
            diesel::sql_query("INSERT INTO t (k) VALUES (2)").execute(c)?;
            Ok(())
        })
        .unwrap();
        let after = counts();
        // BEGIN, two inserts, COMMIT (other tests may count beside us: at least these).
        assert!(after.statements - before.statements >= 4, "{before:?} → {after:?}");
        assert_eq!(after.round_trips, before.round_trips, "SQLite has no round trips");
    }
}
