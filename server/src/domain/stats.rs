//! Report figures kept as things happen (SPEC §6): each change adds to its day's row in the same
//! transaction, so the daily report reads a handful of rows, whatever the month's volume.

use std::collections::BTreeMap;

use azyq_shared::api::{BasketLine, Unit};
use azyq_shared::{BusinessDay, Tiyn};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::db::schema::{day_consent_stats, day_goods_stats, day_region_stats, day_shop_stats, shops};
use crate::db::Conn;
use crate::error::AppResult;
use crate::with_conn;

/// Adds to the counters of one row, creating it at zero first.
macro_rules! bump {
    ($conn:expr, $table:ident, [$($key:ident = $kv:expr),+], [$($col:ident += $v:expr),+]) => {
        bump!($conn, $table, [$($key = $kv),+], [], [$($col += $v),+])
    };
    ($conn:expr, $table:ident, [$($key:ident = $kv:expr),+], [$($extra:ident = $ev:expr),*], [$($col:ident += $v:expr),+]) => {
        with_conn!($conn, c => diesel::insert_into($table::table)
            .values(($($table::$key.eq($kv),)+ $($table::$extra.eq($ev),)* $($table::$col.eq($v),)+))
            .on_conflict(($($table::$key,)+))
            .do_update()
            .set(($($table::$col.eq($table::$col + excluded($table::$col)),)+))
            .execute(c))
    };
}

pub fn day_of(now: DateTime<Utc>) -> String {
    BusinessDay::of(now).to_string()
}

/// A change of voucher state that the ministry counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoucherEvent {
    Issued,
    Activated,
    Lapsed,
    Expired,
}

/// `count` vouchers of `region` moved to `event` today, carrying `tiyn`.
pub fn vouchers(
    conn: &mut Conn,
    now: DateTime<Utc>,
    region: &str,
    event: VoucherEvent,
    count: i64,
    tiyn: Tiyn,
) -> AppResult<()> {
    if count == 0 {
        return Ok(());
    }
    let day = day_of(now);
    match event {
        VoucherEvent::Issued => bump!(
            conn,
            day_region_stats,
            [day = &day, region = region],
            [vouchers_issued += count, vouchers_issued_tiyn += tiyn]
        ),
        VoucherEvent::Activated => bump!(
            conn,
            day_region_stats,
            [day = &day, region = region],
            [vouchers_activated += count, vouchers_activated_tiyn += tiyn]
        ),
        VoucherEvent::Lapsed => bump!(
            conn,
            day_region_stats,
            [day = &day, region = region],
            [vouchers_lapsed += count, vouchers_lapsed_tiyn += tiyn]
        ),
        VoucherEvent::Expired => bump!(
            conn,
            day_region_stats,
            [day = &day, region = region],
            [vouchers_expired += count, vouchers_expired_tiyn += tiyn]
        ),
    }?;
    Ok(())
}

/// Sums (region → (count, tiyn)) from rows of (region, tiyn).
pub fn by_region(rows: impl IntoIterator<Item = (String, Tiyn)>) -> BTreeMap<String, (i64, Tiyn)> {
    let mut out: BTreeMap<String, (i64, Tiyn)> = BTreeMap::new();
    for (region, tiyn) in rows {
        let e = out.entry(region).or_default();
        e.0 += 1;
        e.1 += tiyn;
    }
    out
}

/// A family-month change the consent figures count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConsentEvent {
    SmsSent,
    Reminder,
    Yes,
    No,
    NoAnswer,
    NoPhone,
}

pub fn consent(
    conn: &mut Conn,
    now: DateTime<Utc>,
    month: &str,
    region: &str,
    event: ConsentEvent,
    count: i64,
) -> AppResult<()> {
    if count == 0 {
        return Ok(());
    }
    let day = day_of(now);
    let keys = (&day, month, region);
    let (d, m, r) = keys;
    match event {
        ConsentEvent::SmsSent => bump!(conn, day_consent_stats, [day = d, month = m, region = r], [sms_sent += count]),
        ConsentEvent::Reminder => {
            bump!(conn, day_consent_stats, [day = d, month = m, region = r], [reminders += count])
        }
        ConsentEvent::Yes => bump!(conn, day_consent_stats, [day = d, month = m, region = r], [yes += count]),
        ConsentEvent::No => bump!(conn, day_consent_stats, [day = d, month = m, region = r], [no += count]),
        ConsentEvent::NoAnswer => {
            bump!(conn, day_consent_stats, [day = d, month = m, region = r], [no_answer += count])
        }
        ConsentEvent::NoPhone => bump!(conn, day_consent_stats, [day = d, month = m, region = r], [no_phone += count]),
    }?;
    Ok(())
}

/// What happened to a basket, for the shop's figures of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasketEvent {
    /// Captured: discount charged and amount paid.
    Captured {
        discount: Tiyn,
        paid: Tiyn,
    },
    Cancelled,
    HoldExpired,
    /// A refund operation returning this much discount.
    Refunded {
        tiyn: Tiyn,
    },
}

fn region_of_shop(conn: &mut Conn, shop_id: &str) -> AppResult<String> {
    Ok(with_conn!(conn, c => shops::table.find(shop_id).select(shops::region).first(c))?)
}

pub fn basket(conn: &mut Conn, now: DateTime<Utc>, shop_id: &str, event: BasketEvent) -> AppResult<()> {
    basket_n(conn, now, shop_id, event, 1)
}

/// `n` baskets of one shop had `event` (a count only means something for cancels and expiries;
/// captures and refunds carry their amounts and come one at a time).
pub fn basket_n(conn: &mut Conn, now: DateTime<Utc>, shop_id: &str, event: BasketEvent, n: i64) -> AppResult<()> {
    let region = region_of_shop(conn, shop_id)?;
    bump_basket(conn, &day_of(now), shop_id, &region, event, n)
}

/// A captured basket: the shop's day and its goods, for a caller that has the shop's region at hand
/// (capture runs in the write turn: one read of the shop, not three).
pub fn captured(
    conn: &mut Conn,
    now: DateTime<Utc>,
    shop_id: &str,
    region: &str,
    (discount, paid): (Tiyn, Tiyn),
    lines: &[BasketLine],
) -> AppResult<()> {
    let day = day_of(now);
    bump_basket(conn, &day, shop_id, region, BasketEvent::Captured { discount, paid }, 1)?;
    goods(conn, &day, shop_id, region, lines)
}

fn bump_basket(conn: &mut Conn, day: &str, shop_id: &str, region: &str, event: BasketEvent, n: i64) -> AppResult<()> {
    let (d, s, r) = (day, shop_id, region);
    match event {
        BasketEvent::Captured { discount, paid } => bump!(
            conn,
            day_shop_stats,
            [day = d, shop_id = s],
            [region = r],
            [baskets_captured += n, discount_tiyn += discount, paid_tiyn += paid]
        ),
        BasketEvent::Cancelled => {
            bump!(conn, day_shop_stats, [day = d, shop_id = s], [region = r], [baskets_cancelled += n])
        }
        BasketEvent::HoldExpired => {
            bump!(conn, day_shop_stats, [day = d, shop_id = s], [region = r], [baskets_hold_expired += n])
        }
        BasketEvent::Refunded { tiyn } => {
            bump!(conn, day_shop_stats, [day = d, shop_id = s], [region = r], [refunds += n, refunded_tiyn += tiyn])
        }
    }?;
    Ok(())
}

/// Goods of a captured basket: pieces or grams and discount per SZPT group.
fn goods(conn: &mut Conn, day: &str, shop_id: &str, region: &str, lines: &[BasketLine]) -> AppResult<()> {
    let mut groups: BTreeMap<&str, (i64, i64, Tiyn)> = BTreeMap::new();
    for l in lines {
        let g = groups.entry(l.group.as_str()).or_default();
        match l.unit {
            Unit::Kg => g.1 += l.quantity,
            Unit::Piece => g.0 += l.quantity,
        }
        g.2 += l.discount_tiyn;
    }
    // One statement for the basket's groups, rows in key order (PostgreSQL locks them in it).
    let rows: Vec<_> = groups
        .into_iter()
        .map(|(group, (pieces, grams, discount))| {
            (
                day_goods_stats::day.eq(day),
                day_goods_stats::shop_id.eq(shop_id),
                day_goods_stats::group_code.eq(group),
                day_goods_stats::region.eq(region),
                day_goods_stats::pieces.eq(pieces),
                day_goods_stats::grams.eq(grams),
                day_goods_stats::discount_tiyn.eq(discount),
            )
        })
        .collect();
    for chunk in rows.chunks(100) {
        with_conn!(conn, c => diesel::insert_into(day_goods_stats::table)
            .values(chunk)
            .on_conflict((day_goods_stats::day, day_goods_stats::shop_id, day_goods_stats::group_code))
            .do_update()
            .set((
                day_goods_stats::pieces.eq(day_goods_stats::pieces + excluded(day_goods_stats::pieces)),
                day_goods_stats::grams.eq(day_goods_stats::grams + excluded(day_goods_stats::grams)),
                day_goods_stats::discount_tiyn.eq(day_goods_stats::discount_tiyn + excluded(day_goods_stats::discount_tiyn)),
            ))
            .execute(c))?;
    }
    Ok(())
}
