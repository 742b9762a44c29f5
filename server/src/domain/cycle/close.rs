//! Month end (Alg. p.7, p.20): no answer, lapse, expiry, holds released first.

use azyq_shared::api::{ErrorCode, MonthClosed, MonthStatus, VoucherStatus};
use azyq_shared::{Month, Tiyn};
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use super::{transition, FamilyStatus, Step};
use crate::db::audit::{self, Entry};
use crate::db::schema::{audit_log, family_months, months, vouchers};
use crate::db::Conn;
use crate::domain::redeem::locks::{lock_month, MonthLock};
use crate::domain::stats::{self, VoucherEvent};
use crate::domain::{bulk, lock_jobs};
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

    // A month holds a million vouchers: they are counted, journalled and moved by the database,
    // a few statements each, never loaded here one by one (that took ~200 MB and a bound journal
    // row per voucher). The counts are taken under the month's exclusive lock and the job lock,
    // so the UPDATE that follows moves exactly the vouchers counted; it is checked all the same.
    let vouchers_of_month = match &mut *conn {
        Conn::Sqlite(c) => {
            vouchers::table.filter(vouchers::month.eq(month.as_ref())).count().get_result::<i64>(&mut **c)?
        }
        Conn::Pg(_) => 0,
    };
    let (lapsed, (expired, expired_tiyn)) = bulk::with_memory_for(conn, vouchers_of_month.unsigned_abs(), |conn| {
        let lapsed = lapse(conn, month, actor, now)?;
        Ok((lapsed, expire(conn, month, actor, now)?))
    })?;
    let result = MonthClosed {
        month: month.to_string(),
        no_answer: no_answer as i64,
        lapsed,
        expired,
        expired_tiyn,
        holds_released,
    };
    let journal =
        Entry::new(now, actor, "month", month.as_ref(), Some(MonthStatus::Open.as_str()), MonthStatus::Closed.as_str())
            .detail(format!(
                "no_answer={} lapsed={} expired={} expired_tiyn={}",
                result.no_answer,
                result.lapsed,
                result.expired,
                result.expired_tiyn.get()
            ));
    audit::record(conn, &[journal])?;
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

/// Per region: how many vouchers of the month are in `status`, and the sum of `amount` over them.
fn by_region_in(
    conn: &mut Conn,
    month: Month,
    status: VoucherStatus,
    amount: &str,
) -> AppResult<Vec<(String, i64, Option<i64>)>> {
    Ok(with_conn!(conn, c => vouchers::table
        .filter(vouchers::month.eq(month.as_ref()))
        .filter(vouchers::status.eq(status))
        .group_by(vouchers::region)
        .select((vouchers::region, diesel::dsl::count_star(), sql::<Nullable<BigInt>>(amount)))
        .load(c))?)
}

/// Journals `from → to` for every voucher of the month in `from` (in id order), in one statement.
fn journal_vouchers(
    conn: &mut Conn,
    month: Month,
    (from, to): (VoucherStatus, VoucherStatus),
    detail: Option<&str>,
    actor: &str,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let ts = now.naive_utc();
    let detail = detail.unwrap_or("CAST(NULL AS TEXT)");
    Ok(with_conn!(conn, c => diesel::insert_into(audit_log::table)
        .values(
            vouchers::table
                .filter(vouchers::month.eq(month.as_ref()))
                .filter(vouchers::status.eq(from))
                .order(vouchers::id)
                .select((
                    ts.into_sql::<Timestamp>(),
                    actor.into_sql::<Text>(),
                    "voucher".into_sql::<Text>(),
                    sql::<Text>("CAST(vouchers.id AS TEXT)"),
                    from.as_str().into_sql::<Nullable<Text>>(),
                    to.into_sql::<Text>(),
                    sql::<Nullable<Text>>(detail),
                )),
        )
        .into_columns((
            audit_log::at,
            audit_log::actor,
            audit_log::entity,
            audit_log::entity_id,
            audit_log::from_state,
            audit_log::to_state,
            audit_log::detail,
        ))
        .execute(c))?)
}

/// Vouchers never activated → `lapsed`; counted in the day's figures and journalled. Answers how many.
fn lapse(conn: &mut Conn, month: Month, actor: &str, now: DateTime<Utc>) -> AppResult<i64> {
    let regions = by_region_in(conn, month, VoucherStatus::Issued, "CAST(SUM(vouchers.amount_tiyn) AS BIGINT)")?;
    let counted = count_into_stats(conn, now, regions, VoucherEvent::Lapsed)?;
    let journalled = journal_vouchers(conn, month, (VoucherStatus::Issued, VoucherStatus::Lapsed), None, actor, now)?;
    let moved = with_conn!(conn, c => diesel::update(vouchers::table
            .filter(vouchers::month.eq(month.as_ref()))
            .filter(vouchers::status.eq(VoucherStatus::Issued)))
        .set((vouchers::status.eq(VoucherStatus::Lapsed), vouchers::closed_at.eq(now.naive_utc())))
        .execute(c))?;
    same_count(VoucherStatus::Lapsed.as_str(), counted.0, journalled, moved)?;
    Ok(counted.0)
}

/// The unspent balance of activated vouchers → `expired` (the amount kept in `expired_tiyn`);
/// counted and journalled. Answers how many and the amount.
fn expire(conn: &mut Conn, month: Month, actor: &str, now: DateTime<Utc>) -> AppResult<(i64, Tiyn)> {
    let regions = by_region_in(conn, month, VoucherStatus::Activated, "CAST(SUM(vouchers.balance_tiyn) AS BIGINT)")?;
    let counted = count_into_stats(conn, now, regions, VoucherEvent::Expired)?;
    let journalled = journal_vouchers(
        conn,
        month,
        (VoucherStatus::Activated, VoucherStatus::Expired),
        Some("'expired_tiyn=' || CAST(vouchers.balance_tiyn AS TEXT)"),
        actor,
        now,
    )?;
    let moved = with_conn!(conn, c => diesel::update(vouchers::table
            .filter(vouchers::month.eq(month.as_ref()))
            .filter(vouchers::status.eq(VoucherStatus::Activated)))
        .set((
            vouchers::expired_tiyn.eq(vouchers::balance_tiyn),
            vouchers::balance_tiyn.eq(Tiyn::ZERO),
            vouchers::status.eq(VoucherStatus::Expired),
            vouchers::closed_at.eq(now.naive_utc()),
        ))
        .execute(c))?;
    same_count(VoucherStatus::Expired.as_str(), counted.0, journalled, moved)?;
    Ok(counted)
}

/// Adds each region's count and amount to the day's voucher figures; answers the totals.
fn count_into_stats(
    conn: &mut Conn,
    now: DateTime<Utc>,
    regions: Vec<(String, i64, Option<i64>)>,
    event: VoucherEvent,
) -> AppResult<(i64, Tiyn)> {
    let (mut count, mut tiyn) = (0i64, Tiyn::ZERO);
    for (region, n, sum) in regions {
        let sum = Tiyn::new(sum.unwrap_or(0));
        stats::vouchers(conn, now, &region, event, n, sum)?;
        count += n;
        tiyn += sum;
    }
    Ok((count, tiyn))
}

/// The close moves what it counted and journals what it moves, or nothing at all.
fn same_count(what: &str, counted: i64, journalled: usize, moved: usize) -> AppResult<()> {
    if i64::try_from(journalled).ok() != Some(counted) || i64::try_from(moved).ok() != Some(counted) {
        return Err(AppError::internal(anyhow::anyhow!(
            "month close: {counted} vouchers counted {what}, {journalled} journalled, {moved} moved"
        )));
    }
    Ok(())
}
