//! The one lock order of every change to a basket or a voucher's money, so that concurrent
//! transitions (of one server or several on one database) serialise instead of interleaving, and
//! never deadlock:
//!
//! 1. the month's row (`months`): shared by tills and the wallet, exclusive for the month close;
//! 2. the baskets, by id;
//! 3. the vouchers, by id;
//! 4. everything else a transition writes (serial claims and nonces in key order, price memory in
//!    GTIN order, report counters in key order), last.
//!
//! A transition reads the state it decides on only after it holds the locks, so what it reads is
//! what it changes: the loser of a race sees the winner's result and answers 409 with it.
//!
//! On PostgreSQL these are row locks (`SELECT … FOR UPDATE` / `FOR KEY SHARE`). On SQLite every
//! write transaction already holds the whole database (`BEGIN IMMEDIATE`, or the group writer's
//! one connection), so the same functions are plain reads there.

use azyq_shared::api::MonthStatus;
use azyq_shared::Month;
use diesel::prelude::*;

use super::{basket_not_found, BasketRow, Part};
use crate::db::schema::{basket_vouchers, baskets, months, vouchers};
use crate::db::Conn;
use crate::error::AppResult;

/// How a transition holds its month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonthLock {
    /// Tills and the wallet: any number at once, but not beside the month close.
    Shared,
    /// The month close: alone.
    Exclusive,
}

/// Locks the month's row and answers its status (`None`: no row yet, an open month).
pub(crate) fn lock_month(conn: &mut Conn, month: Month, mode: MonthLock) -> AppResult<Option<MonthStatus>> {
    let q = months::table.find(month.as_ref()).select(months::status);
    Ok(match conn {
        Conn::Pg(c) => match mode {
            // KEY SHARE is the weakest row lock: tills do not wait for each other, only for the
            // close's FOR UPDATE (a plain UPDATE of the status would not conflict with it).
            MonthLock::Shared => q.for_key_share().first(*c).optional()?,
            MonthLock::Exclusive => q.for_update().first(*c).optional()?,
        },
        Conn::Sqlite(c) => q.first(*c).optional()?,
    })
}

/// Locks one basket and answers its row as it is now.
pub(crate) fn lock_basket(conn: &mut Conn, id: i64) -> AppResult<BasketRow> {
    let q = baskets::table.find(id);
    let row = match conn {
        Conn::Pg(c) => q.select(BasketRow::as_select()).for_update().first(*c).optional()?,
        Conn::Sqlite(c) => q.select(BasketRow::as_select()).first(*c).optional()?,
    };
    row.ok_or_else(basket_not_found)
}

/// Locks baskets in id order and answers those still `status`. With `skip_locked` (a sweep that
/// will find them again), PostgreSQL skips baskets another transaction holds instead of waiting.
pub(crate) fn lock_baskets_in(
    conn: &mut Conn,
    ids: &[i64],
    status: &str,
    skip_locked: bool,
) -> AppResult<Vec<BasketRow>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let q = baskets::table.filter(baskets::id.eq_any(chunk)).filter(baskets::status.eq(status)).order(baskets::id);
        let rows: Vec<BasketRow> = match conn {
            Conn::Pg(c) if skip_locked => q.select(BasketRow::as_select()).for_update().skip_locked().load(*c)?,
            Conn::Pg(c) => q.select(BasketRow::as_select()).for_update().load(*c)?,
            Conn::Sqlite(c) => q.select(BasketRow::as_select()).load(*c)?,
        };
        out.extend(rows);
    }
    Ok(out)
}

/// The vouchers one basket draws on, locked in id order (on PostgreSQL in the one statement that
/// reads them: the lock rows node of a sorted query locks in its order), answered in draw order.
pub(crate) fn lock_parts(conn: &mut Conn, basket_id: i64) -> AppResult<Vec<Part>> {
    let q =
        basket_vouchers::table.inner_join(vouchers::table).filter(basket_vouchers::basket_id.eq(basket_id)).select((
            basket_vouchers::basket_id,
            basket_vouchers::seq,
            basket_vouchers::voucher_id,
            basket_vouchers::charged_tiyn,
            basket_vouchers::refunded_tiyn,
        ));
    let mut parts: Vec<Part> = match conn {
        Conn::Pg(c) => q.order(vouchers::id).for_update().load(*c)?,
        Conn::Sqlite(c) => q.load(*c)?,
    };
    parts.sort_by_key(|p| p.seq);
    Ok(parts)
}

/// Locks vouchers in id order.
pub(crate) fn lock_vouchers(conn: &mut Conn, ids: &[i64]) -> AppResult<()> {
    if let Conn::Pg(c) = conn {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        for chunk in ids.chunks(500) {
            let _: Vec<i64> = vouchers::table
                .filter(vouchers::id.eq_any(chunk))
                .order(vouchers::id)
                .select(vouchers::id)
                .for_update()
                .load(*c)?;
        }
    }
    Ok(())
}
