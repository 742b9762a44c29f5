//! The rules, as plain functions over a database connection and an injected `now`. No actix here.

pub mod accounts;
pub mod bulk;
pub mod catalog;
pub mod complaints;
pub mod cycle;
pub mod deliveries;
pub mod feedback;
pub mod history;
pub mod idempotency;
pub mod import;
pub mod keys;
pub mod limits;
pub mod notices;
pub mod offline;
pub mod places;
pub mod pos;
pub mod programme;
pub mod rates;
pub mod recalls;
pub mod redeem;
pub mod roster;
pub mod secrets;
pub mod signals;
pub mod sms;
pub mod stats;
pub mod text;
pub mod wallet;

use crate::db::Conn;
use crate::error::AppError;

/// Serialises the monthly jobs across server processes on PostgreSQL (SQLite's write
/// transactions are already exclusive), so two replicas never run one job at once.
pub fn lock_jobs(conn: &mut Conn) -> Result<(), AppError> {
    if let Conn::Pg(c) = conn {
        use diesel::RunQueryDsl;
        diesel::sql_query("SELECT pg_advisory_xact_lock(727001)").execute(*c)?;
    }
    Ok(())
}
