//! Month end (Alg. p.7, p.20): no answer, lapse, expiry, holds released first.

use azyq_shared::api::{ErrorCode, MonthClosed, MonthStatus, VoucherStatus};
use azyq_shared::{Month, Tiyn};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::{transition, FamilyStatus, Step};
use crate::db::audit::{self, Entry};
use crate::db::schema::{family_months, months, vouchers};
use crate::db::Conn;
use crate::domain::lock_jobs;
use crate::domain::redeem::locks::{lock_month, MonthLock};
use crate::domain::stats::{self, VoucherEvent};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// Month end (Alg. p.7, p.20): unanswered families → `no_answer`; vouchers never activated →
/// `lapsed`; the unspent balance of activated vouchers → `expired`, the amount kept for the
/// reports. Refused before the month has ended; a second close answers the first one's counts.
pub fn close_month(conn: &mut Conn, month: Month, actor: &str, now: DateTime<Utc>) -> AppResult<MonthClosed> {
    lock_jobs(conn)?;
    if now < month.end_instant() {
        return Err(AppError::new(
            ErrorCode::MonthNotEnded,
            format!("Месяц {month} ещё не закончился: его можно закрыть после {}", month.last_day()),
        ));
    }
    // The month alone: tills and the wallet hold it shared for each change of its money, so the
    // close waits for those under way and the ones after it see the month closed.
    with_conn!(conn, c => diesel::insert_into(months::table)
        .values((months::month.eq(month.as_ref()), months::status.eq(MonthStatus::Open)))
        .on_conflict_do_nothing()
        .execute(c))?;
    lock_month(conn, month, MonthLock::Exclusive)?;
    type Counts = (MonthStatus, Option<chrono::NaiveDateTime>, i64, i64, i64, Tiyn, i64);
    let row: Option<Counts> = with_conn!(conn, c => months::table
        .find(month.as_ref())
        .select((months::status, months::closed_at, months::no_answer, months::lapsed, months::expired, months::expired_tiyn, months::holds_released))
        .first(c)
        .optional())?;
    if let Some((status, _, no_answer, lapsed, expired, expired_tiyn, holds_released)) = &row {
        if *status == MonthStatus::Closed {
            return Ok(MonthClosed {
                month: month.to_string(),
                no_answer: *no_answer,
                lapsed: *lapsed,
                expired: *expired,
                expired_tiyn: *expired_tiyn,
                holds_released: *holds_released,
            });
        }
    }
    let ts = now.naive_utc();
    // Holds still open are released first, so their amounts expire with the rest (SPEC §2.7).
    let holds_released = crate::domain::redeem::release_month_holds(conn, month, now)? as i64;
    let awaiting: Vec<String> = with_conn!(conn, c => family_months::table
        .filter(family_months::month.eq(month.as_ref()))
        .filter(family_months::status.eq_any(FamilyStatus::AWAITING))
        .select(family_months::family_id)
        .load(c))?;
    let no_answer = transition(
        conn,
        month,
        &awaiting,
        Step { from: &FamilyStatus::AWAITING, to: FamilyStatus::NoAnswer, stamp: None },
        actor,
        now,
    )?
    .len();

    let to_lapse: Vec<(i64, String, Tiyn)> = with_conn!(conn, c => vouchers::table
        .filter(vouchers::month.eq(month.as_ref()))
        .filter(vouchers::status.eq(VoucherStatus::Issued))
        .select((vouchers::id, vouchers::region, vouchers::amount_tiyn))
        .load(c))?;
    for (region, (count, tiyn)) in stats::by_region(to_lapse.iter().map(|(_, r, a)| (r.clone(), *a))) {
        stats::vouchers(conn, now, &region, VoucherEvent::Lapsed, count, tiyn)?;
    }
    with_conn!(conn, c => diesel::update(vouchers::table
            .filter(vouchers::month.eq(month.as_ref()))
            .filter(vouchers::status.eq(VoucherStatus::Issued)))
        .set((vouchers::status.eq(VoucherStatus::Lapsed), vouchers::closed_at.eq(ts)))
        .execute(c))?;
    let to_expire: Vec<(i64, Tiyn, String)> = with_conn!(conn, c => vouchers::table
        .filter(vouchers::month.eq(month.as_ref()))
        .filter(vouchers::status.eq(VoucherStatus::Activated))
        .select((vouchers::id, vouchers::balance_tiyn, vouchers::region))
        .load(c))?;
    for (region, (count, tiyn)) in stats::by_region(to_expire.iter().map(|(_, b, r)| (r.clone(), *b))) {
        stats::vouchers(conn, now, &region, VoucherEvent::Expired, count, tiyn)?;
    }
    with_conn!(conn, c => diesel::update(vouchers::table
            .filter(vouchers::month.eq(month.as_ref()))
            .filter(vouchers::status.eq(VoucherStatus::Activated)))
        .set((
            vouchers::expired_tiyn.eq(vouchers::balance_tiyn),
            vouchers::balance_tiyn.eq(Tiyn::ZERO),
            vouchers::status.eq(VoucherStatus::Expired),
            vouchers::closed_at.eq(ts),
        ))
        .execute(c))?;
    let expired_tiyn: Tiyn = to_expire.iter().map(|(_, b, _)| *b).sum();
    let mut journal: Vec<Entry> = to_lapse
        .iter()
        .map(|(id, _, _)| {
            Entry::new(
                now,
                actor,
                "voucher",
                id.to_string(),
                Some(VoucherStatus::Issued.as_str()),
                VoucherStatus::Lapsed.as_str(),
            )
        })
        .collect();
    journal.extend(to_expire.iter().map(|(id, b, _)| {
        Entry::new(
            now,
            actor,
            "voucher",
            id.to_string(),
            Some(VoucherStatus::Activated.as_str()),
            VoucherStatus::Expired.as_str(),
        )
        .detail(format!("expired_tiyn={}", b.get()))
    }));
    let result = MonthClosed {
        month: month.to_string(),
        no_answer: no_answer as i64,
        lapsed: to_lapse.len() as i64,
        expired: to_expire.len() as i64,
        expired_tiyn,
        holds_released,
    };
    journal.push(
        Entry::new(now, actor, "month", month.as_ref(), Some(MonthStatus::Open.as_str()), MonthStatus::Closed.as_str())
            .detail(format!(
                "no_answer={} lapsed={} expired={} expired_tiyn={}",
                result.no_answer,
                result.lapsed,
                result.expired,
                result.expired_tiyn.get()
            )),
    );
    audit::record(conn, &journal)?;
    let values = (
        months::status.eq(MonthStatus::Closed),
        months::closed_at.eq(Some(ts)),
        months::no_answer.eq(result.no_answer),
        months::lapsed.eq(result.lapsed),
        months::expired.eq(result.expired),
        months::expired_tiyn.eq(result.expired_tiyn),
        months::holds_released.eq(result.holds_released),
    );
    with_conn!(conn, c => diesel::insert_into(months::table)
        .values((months::month.eq(month.as_ref()), values))
        .on_conflict(months::month)
        .do_update()
        .set(values)
        .execute(c))?;
    tracing::info!(month = %month, no_answer = result.no_answer, lapsed = result.lapsed, expired = result.expired, "month closed");
    Ok(result)
}
