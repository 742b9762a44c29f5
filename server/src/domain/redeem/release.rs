//! Holds going back to the vouchers: cancel by the till, expiry by the scheduler, the month close.

use std::collections::BTreeMap;

use azyq_shared::api::{BasketState, BasketStatus};
use azyq_shared::Month;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::locks::{self, MonthLock};
use super::{hold_expired, moves, open_transition, parts_of, state_error, BasketRow, Till};
use crate::db::audit::{self, Entry};
use crate::db::schema::{baskets, serial_claims};
use crate::db::Conn;
use crate::domain::stats::{self, BasketEvent};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// Cancel (in its transaction): the hold goes back to the vouchers. Cancelling a cancelled basket
/// answers the same; a hold that ran out is `hold_expired` (the caller then releases it as such).
pub(crate) fn cancel(conn: &mut Conn, till: &Till, id: i64, now: DateTime<Utc>) -> AppResult<BasketState> {
    let (row, _) = open_transition(conn, Some(till), id)?;
    match row.status {
        BasketStatus::Cancelled => {}
        BasketStatus::Authorized if row.hold_expires_at <= now.naive_utc() => return Err(hold_expired()),
        BasketStatus::Authorized => {
            release(conn, &[row], BasketStatus::Cancelled, &till.actor(), now)?;
        }
        BasketStatus::HoldExpired => return Err(hold_expired()),
        other => return Err(state_error(other, "отменить")),
    }
    Ok(BasketState { basket_id: id, status: BasketStatus::Cancelled })
}

/// Most holds one sweep transaction releases.
pub(crate) const SWEEP_BATCH: usize = 5_000;

/// Releases every authorised basket whose hold has run out (or, with `only`, that one basket), in
/// one transaction. Baskets another transaction holds at this moment are left for the next sweep.
pub(crate) fn expire_holds(conn: &mut Conn, now: DateTime<Utc>, only: Option<i64>) -> AppResult<usize> {
    let due: Vec<(i64, String)> = with_conn!(conn, c => {
        let mut q = baskets::table
            .filter(baskets::status.eq(BasketStatus::Authorized.as_str()))
            .filter(baskets::hold_expires_at.le(now.naive_utc()))
            .select((baskets::id, baskets::month))
            .order(baskets::id)
            .limit(SWEEP_BATCH as i64)
            .into_boxed();
        if let Some(id) = only {
            q = q.filter(baskets::id.eq(id));
        }
        q.load(c)
    })?;
    if due.is_empty() {
        return Ok(0);
    }
    let mut months: Vec<Month> = Vec::new();
    for (_, m) in &due {
        let m = Month::parse(m).map_err(|e| AppError::internal(anyhow::anyhow!("stored month: {e}")))?;
        if !months.contains(&m) {
            months.push(m);
        }
    }
    months.sort();
    for m in months {
        locks::lock_month(conn, m, MonthLock::Shared)?;
    }
    let ids: Vec<i64> = due.iter().map(|(id, _)| *id).collect();
    let rows = locks::lock_baskets_in(conn, &ids, BasketStatus::Authorized.as_str(), true)?;
    // Under the lock: still authorised, and still run out (a capture may have come first).
    let rows: Vec<BasketRow> = rows.into_iter().filter(|r| r.hold_expires_at <= now.naive_utc()).collect();
    release(conn, &rows, BasketStatus::HoldExpired, "scheduler", now)
}

/// Month end: holds still open are released first (SPEC §2.7). The caller holds the month
/// exclusively, so no till is inside a transition of this month meanwhile.
pub fn release_month_holds(conn: &mut Conn, month: Month, now: DateTime<Utc>) -> AppResult<usize> {
    let open: Vec<i64> = with_conn!(conn, c => baskets::table
        .filter(baskets::status.eq(BasketStatus::Authorized.as_str()))
        .filter(baskets::month.eq(month.as_ref()))
        .select(baskets::id)
        .load(c))?;
    let rows = locks::lock_baskets_in(conn, &open, BasketStatus::Authorized.as_str(), false)?;
    release(conn, &rows, BasketStatus::HoldExpired, "month_close", now)
}

/// Releases locked, authorised baskets: each one's held discount returns to its vouchers (locked
/// in id order first) and its serial codes become sellable again. Answers how many.
fn release(conn: &mut Conn, rows: &[BasketRow], to: BasketStatus, actor: &str, now: DateTime<Utc>) -> AppResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let parts = parts_of(conn, &ids)?;
    let voucher_ids: Vec<i64> = parts.iter().map(|p| p.voucher_id).collect();
    locks::lock_vouchers(conn, &voucher_ids)?;
    let mut journal = Vec::with_capacity(rows.len());
    let mut by_shop: BTreeMap<&str, i64> = BTreeMap::new();
    for row in rows {
        let n = with_conn!(conn, c => diesel::update(baskets::table
                .filter(baskets::id.eq(row.id))
                .filter(baskets::status.eq(BasketStatus::Authorized.as_str())))
            .set((baskets::status.eq(to.as_str()), baskets::closed_at.eq(now.naive_utc())))
            .execute(c))?;
        if n != 1 {
            return Err(AppError::internal(anyhow::anyhow!("basket {} left `authorized` under its lock", row.id)));
        }
        for part in parts.iter().filter(|p| p.basket_id == row.id) {
            moves::release(conn, part.voucher_id, part.charged, row.id)?;
        }
        *by_shop.entry(row.shop_id.as_str()).or_default() += 1;
        journal.push(Entry::new(
            now,
            actor,
            "basket",
            row.id.to_string(),
            Some(BasketStatus::Authorized.as_str()),
            to.as_str(),
        ));
    }
    for chunk in ids.chunks(500) {
        with_conn!(conn, c => diesel::delete(serial_claims::table.filter(serial_claims::basket_id.eq_any(chunk))).execute(c))?;
    }
    // Report counters last, in shop order (two sweeps of two servers take them in one order).
    let event = if to == BasketStatus::Cancelled { BasketEvent::Cancelled } else { BasketEvent::HoldExpired };
    for (shop_id, n) in by_shop {
        stats::basket_n(conn, now, shop_id, event, n)?;
    }
    audit::record(conn, &journal)?;
    Ok(journal.len())
}
