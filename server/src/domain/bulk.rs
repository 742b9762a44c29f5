//! The month's bulk steps (import, issue, close): on SQLite a page cache sized to the step; on
//! PostgreSQL memory for the step's sorts, and fresh statistics for the tables it filled.
//!
//! A step of a million rows inserts into several B-trees at once. Rows are inserted in the order
//! of the most B-trees' keys, so those grow at their right edge; the others take keys all over.
//! With the server's usual page cache (2 MiB per connection) the pages of those were written to
//! the WAL, dropped, read back and written again, over and over: a 1 000 000-member import and
//! issue wrote ≈ 2.5 GB for a ≈ 0.6 GB database, which made it as slow as the disk. For the
//! step alone, the writer's cache is raised in proportion to the rows the step touches, then put
//! back (SQLite frees the pages over the limit as they become clean).
//!
//! PostgreSQL's buffers are the server's, not this process's. What a step sets there is for its
//! own transaction (`SET LOCAL`): `work_mem`, so that sorting a million rows (the members
//! in IIN order) does not spill to temporary files at the default 4 MB. And a step that filled a
//! table analyses it ([`analyze_after`]) before reading it again: the planner's statistics are
//! otherwise those of before the step (an empty month), and it plans per-row loops for a million
//! rows.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::db::Conn;
use crate::error::AppResult;

/// Page cache per row of a bulk step, bytes: about the index entries a row adds where they land
/// at random, so that those index pages stay in memory for the step.
const CACHE_BYTES_PER_ROW: u64 = 80;

/// The most page cache a bulk step takes, KiB.
pub const MAX_BULK_CACHE_KIB: u64 = 96 * 1024;

/// PostgreSQL: `work_mem` per row of a bulk step, bytes (a sorted row of the issue or the journal
/// is about this much in memory).
const PG_SORT_BYTES_PER_ROW: u64 = 320;

/// PostgreSQL: the most `work_mem` a bulk step takes, KiB (per sort or hash of its statements).
pub const MAX_PG_WORK_MEM_KIB: u64 = 256 * 1024;

/// PostgreSQL's own default `work_mem`, KiB: a step that fits in it changes nothing.
const PG_DEFAULT_WORK_MEM_KIB: u64 = 4 * 1024;

#[derive(QueryableByName)]
struct CacheSize {
    #[diesel(sql_type = BigInt)]
    cache_size: i64,
}

/// The page cache (KiB) a step over `rows` rows runs with.
pub fn cache_kib_for(rows: u64) -> u64 {
    (rows.saturating_mul(CACHE_BYTES_PER_ROW) / 1024).min(MAX_BULK_CACHE_KIB)
}

/// PostgreSQL: the `work_mem` (KiB) a step over `rows` rows runs with.
pub fn pg_work_mem_kib_for(rows: u64) -> u64 {
    (rows.saturating_mul(PG_SORT_BYTES_PER_ROW) / 1024).min(MAX_PG_WORK_MEM_KIB)
}

/// Runs `f` with SQLite's page cache raised to fit a step over `rows` rows (never lowered), and
/// puts the connection's own setting back afterwards, whatever `f` answered. On PostgreSQL, raises
/// `work_mem` for the rest of the step's transaction instead.
pub fn with_memory_for<T>(conn: &mut Conn, rows: u64, f: impl FnOnce(&mut Conn) -> AppResult<T>) -> AppResult<T> {
    let c = match conn {
        Conn::Sqlite(c) => c,
        Conn::Pg(c) => {
            let kib = pg_work_mem_kib_for(rows);
            if kib > PG_DEFAULT_WORK_MEM_KIB {
                c.batch_execute(&format!("SET LOCAL work_mem = '{kib}kB'"))?;
            }
            return f(conn);
        }
    };
    let before: i64 = diesel::sql_query("PRAGMA cache_size").get_result::<CacheSize>(*c)?.cache_size;
    // Negative: KiB; positive: pages (4 KiB here).
    let before_kib = if before < 0 { before.unsigned_abs() } else { before.unsigned_abs() * 4 };
    let want = cache_kib_for(rows);
    if want <= before_kib {
        return f(conn);
    }
    c.batch_execute(&format!("PRAGMA cache_size = -{want}"))?;
    let result = f(conn);
    let restore = match conn {
        Conn::Sqlite(c) => c.batch_execute(&format!("PRAGMA cache_size = {before}")),
        Conn::Pg(_) => Ok(()),
    };
    let value = result?;
    restore?;
    Ok(value)
}

/// Rows a step must have written for [`analyze_after`] to analyse the tables: below this, the
/// statistics of before are near enough, and ANALYZE's own sample would cost more than it saves.
pub const ANALYZE_AFTER_ROWS: usize = 10_000;

/// PostgreSQL: refreshes the planner's statistics of `tables`, into which the step just wrote
/// `rows` rows, for the statements after it in the same transaction (ANALYZE sees the
/// transaction's own rows; it samples a fixed number of rows, however large the table) — when
/// `rows` reaches [`ANALYZE_AFTER_ROWS`]. SQLite plans from its indexes' shapes: nothing to do.
pub fn analyze_after(conn: &mut Conn, rows: usize, tables: &[&str]) -> AppResult<()> {
    if let (Conn::Pg(c), true) = (conn, rows >= ANALYZE_AFTER_ROWS) {
        c.batch_execute(&format!("ANALYZE {}", tables.join(", ")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_follows_the_rows_up_to_a_ceiling() {
        assert_eq!(cache_kib_for(0), 0);
        assert_eq!(cache_kib_for(100_000), 7_812);
        assert_eq!(cache_kib_for(1_000_000), 78_125);
        assert_eq!(cache_kib_for(10_000_000), MAX_BULK_CACHE_KIB);
        assert_eq!(pg_work_mem_kib_for(10_000), 3_125);
        assert_eq!(pg_work_mem_kib_for(1_000_000), 256 * 1024);
    }
}
