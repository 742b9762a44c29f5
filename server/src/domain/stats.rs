//! Report figures kept as things happen (SPEC §6): each change adds to its day's row in the same
//! transaction, so the daily report reads a handful of rows, whatever the month's volume.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use azyq_shared::api::{BasketLine, Unit};
use azyq_shared::{BusinessDay, Tiyn};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::fixed::{self, Fixed};
use crate::db::schema::{day_consent_stats, day_goods_stats, day_region_stats, day_shop_stats, shops};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// Adds to the counters of one row, creating it at zero first.
macro_rules! bump {
    ($conn:expr, $table:ident, [$($key:ident = $kv:expr),+], [$($col:ident += $v:expr),+]) => {
        bump!($conn, $table, [$($key = $kv),+], [], [$($col += $v),+])
    };
    ($conn:expr, $table:ident, [$($key:ident = $kv:expr),+], [$($extra:ident = $ev:expr),*], [$($col:ident += $v:expr),+]) => {{
        // The schema knows every column named (a typo does not compile).
        let _columns = ($($table::$key,)+ $($table::$extra,)* $($table::$col,)+);
        // One SQL text per call site, built once: kept prepared (`Fixed`).
        static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let sql = SQL.get_or_init(|| {
            upsert_sql(
                stringify!($table),
                &[$(stringify!($key)),+],
                &[$(stringify!($extra)),*],
                &[$(stringify!($col)),+],
                1,
            )
        });
        let statement = $crate::db::fixed::Fixed::new(sql.as_str()) $(.bind($kv))+ $(.bind($ev))* $(.bind($v))+;
        with_conn!($conn, c => diesel::RunQueryDsl::execute(statement, c))
    }};
}

/// `INSERT INTO table (keys, extras, cols) VALUES (?, …)×rows ON CONFLICT (keys) DO UPDATE SET
/// col = table.col + excluded.col, …`: adds `cols` to a row of counters, creating it at need. Both
/// databases read it alike.
fn upsert_sql(table: &str, keys: &[&str], extras: &[&str], cols: &[&str], rows: usize) -> String {
    let all: Vec<&str> = keys.iter().chain(extras).chain(cols).copied().collect();
    let row = format!("({})", vec!["?"; all.len()].join(", "));
    let adds: Vec<String> = cols.iter().map(|c| format!("{c} = {table}.{c} + excluded.{c}")).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES {} ON CONFLICT ({}) DO UPDATE SET {}",
        all.join(", "),
        vec![row; rows].join(", "),
        keys.join(", "),
        adds.join(", ")
    )
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
    // One statement for the basket's groups, rows in key order (PostgreSQL locks them in it); one
    // SQL text per number of groups, kept prepared.
    const MOST: usize = 32;
    static TEXTS: [OnceLock<String>; MOST] = [const { OnceLock::new() }; MOST];
    let rows: Vec<_> = groups.into_iter().collect();
    for chunk in rows.chunks(MOST) {
        let _columns =
            (day_goods_stats::day, day_goods_stats::shop_id, day_goods_stats::group_code, day_goods_stats::region);
        let _counters = (day_goods_stats::pieces, day_goods_stats::grams, day_goods_stats::discount_tiyn);
        let sql = fixed::for_rows(&TEXTS, chunk.len(), |n| {
            upsert_sql(
                "day_goods_stats",
                &["day", "shop_id", "group_code"],
                &["region"],
                &["pieces", "grams", "discount_tiyn"],
                n,
            )
        })
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("{} goods rows in one statement", chunk.len())))?;
        let mut statement = Fixed::new(sql);
        for (group, (pieces, grams, discount)) in chunk {
            statement =
                statement.bind(day).bind(shop_id).bind(*group).bind(region).bind(*pieces).bind(*grams).bind(*discount);
        }
        with_conn!(conn, c => statement.execute(c))?;
    }
    Ok(())
}
