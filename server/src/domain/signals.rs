//! Fraud and error signals (SPEC §6; what SNAP's retailer screening looks for), counted at
//! purchase time: every authorisation adds to its shop's counters of the day, in the transaction
//! that places the hold, and every refusal the reports count is written in the transaction that
//! stores its answer. So the signals report reads one row per shop, day and signal, whatever the
//! month's volume ([`crate::reports::signals`]).
//!
//! What is counted (the thresholds are the constants below):
//! - `price_over_limit`: an authorisation refused for a shelf price above the region's limit;
//! - `at_cap`: a basket with a discount whose every line gives exactly the most its cap allows;
//! - `two_shops`: a basket one of whose vouchers was in a basket at another shop less than
//!   [`TWO_SHOPS_MINUTES`] before;
//! - `small_baskets`: a voucher's [`SMALL_BASKETS_PER_DAY`]-th basket of the business day at one
//!   shop with a discount under [`SMALL_BASKET`] (counted once per voucher, shop and day);
//! - `after_hold_expired`: a basket of a voucher whose hold (in any basket, at any till) ran out
//!   less than [`AFTER_EXPIRY_MINUTES`] before;
//! - `round_sum`: a basket whose discount is a whole multiple of [`ROUND_SUM`];
//! - `outside_hours`: a basket authorised outside the usual shop hours ([`ShopHours`], Almaty).
//!
//! Baskets are counted when authorised, whether later paid, cancelled or let expire: an attempt is
//! what screening looks at. The counters carry no voucher, family or person, only a shop and a day.

use std::str::FromStr;

use azyq_shared::api::{BasketLine, BasketStatus, ErrorCode, SignalCode};
use azyq_shared::{BusinessDay, Tiyn, ALMATY};
use chrono::{DateTime, Duration, Timelike, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use diesel::upsert::excluded;

use crate::db::fixed::Fixed;
use crate::db::schema::{basket_vouchers, baskets, day_recall_stats, day_shop_stats, day_signal_stats, refusals};
use crate::db::Conn;
use crate::error::AppResult;
use crate::with_conn;

/// A voucher seen at another shop less than this many minutes before is `two_shops`.
pub const TWO_SHOPS_MINUTES: i64 = 10;
/// A basket whose discount is under this is small.
pub const SMALL_BASKET: Tiyn = Tiyn::new(20_000);
/// The small basket of one voucher at one shop in one day that makes `small_baskets`.
pub const SMALL_BASKETS_PER_DAY: i64 = 3;
/// A basket less than this many minutes after a hold of one of its vouchers ran out.
pub const AFTER_EXPIRY_MINUTES: i64 = 30;
/// A discount that is a whole multiple of this is a round sum.
pub const ROUND_SUM: Tiyn = Tiyn::new(50_000);

/// The usual shop hours, Almaty time: a sale at hour `h` is usual when `opens ≤ h < closes`
/// (`AZYQ_SHOP_HOURS`, `07-23` by default: from 07:00 to 22:59).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShopHours {
    pub opens: u32,
    pub closes: u32,
}

impl Default for ShopHours {
    fn default() -> Self {
        ShopHours { opens: 7, closes: 23 }
    }
}

impl FromStr for ShopHours {
    type Err = String;

    /// `HH-HH`, 0 ≤ opens < closes ≤ 24.
    fn from_str(s: &str) -> Result<ShopHours, String> {
        let bad = || format!("shop hours {s:?}: expected HH-HH with 0 <= opens < closes <= 24, e.g. 07-23");
        let (a, b) = s.trim().split_once('-').ok_or_else(bad)?;
        let (opens, closes): (u32, u32) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
        if opens >= closes || closes > 24 {
            return Err(bad());
        }
        Ok(ShopHours { opens, closes })
    }
}

impl std::fmt::Display for ShopHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:00–{:02}:00", self.opens, self.closes)
    }
}

impl ShopHours {
    /// Whether `at` falls in the usual hours, Almaty time.
    pub fn usual(&self, at: DateTime<Utc>) -> bool {
        let hour = at.with_timezone(&ALMATY).hour();
        self.opens <= hour && hour < self.closes
    }
}

/// Adds `n` to one shop's signal of the day.
pub fn bump(conn: &mut Conn, day: &str, shop_id: &str, code: SignalCode, n: i64) -> AppResult<()> {
    if n == 0 {
        return Ok(());
    }
    let _columns = (day_signal_stats::day, day_signal_stats::shop_id, day_signal_stats::code, day_signal_stats::count);
    with_conn!(conn, c => Fixed::new(
        "INSERT INTO day_signal_stats (day, shop_id, code, count) VALUES (?, ?, ?, ?) \
         ON CONFLICT (day, shop_id, code) DO UPDATE SET count = day_signal_stats.count + excluded.count",
    )
    .bind(day)
    .bind(shop_id)
    .bind(code.as_str())
    .bind(n)
    .execute(c))?;
    Ok(())
}

/// A refusal the reports count: which, at which line, of which goods, under which recall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedRefusal {
    /// `price_over_limit` or `product_recalled`.
    pub code: ErrorCode,
    pub line: usize,
    pub gtin: String,
    pub recall_id: Option<i64>,
}

/// Records a refusal answered to a till of `shop_id` (in `region`): its row, the shop's day, the
/// recall's day and the shop's signal.
pub fn refused(conn: &mut Conn, shop_id: &str, region: &str, r: &CountedRefusal, now: DateTime<Utc>) -> AppResult<()> {
    let day = BusinessDay::of(now).to_string();
    with_conn!(conn, c => diesel::insert_into(refusals::table)
        .values((
            refusals::at.eq(now.naive_utc()),
            refusals::day.eq(&day),
            refusals::shop_id.eq(shop_id),
            refusals::code.eq(r.code.as_str()),
            refusals::line.eq(i32::try_from(r.line).unwrap_or(i32::MAX)),
            refusals::gtin.eq(&r.gtin),
            refusals::recall_id.eq(r.recall_id),
        ))
        .execute(c))?;
    let (over, recalled) = if r.code == ErrorCode::PriceOverLimit { (1i64, 0i64) } else { (0, 1) };
    with_conn!(conn, c => diesel::insert_into(day_shop_stats::table)
        .values((
            day_shop_stats::day.eq(&day),
            day_shop_stats::shop_id.eq(shop_id),
            day_shop_stats::region.eq(region),
            day_shop_stats::refused_over_limit.eq(over),
            day_shop_stats::refused_recalled.eq(recalled),
        ))
        .on_conflict((day_shop_stats::day, day_shop_stats::shop_id))
        .do_update()
        .set((
            day_shop_stats::refused_over_limit.eq(day_shop_stats::refused_over_limit + excluded(day_shop_stats::refused_over_limit)),
            day_shop_stats::refused_recalled.eq(day_shop_stats::refused_recalled + excluded(day_shop_stats::refused_recalled)),
        ))
        .execute(c))?;
    if let Some(recall_id) = r.recall_id {
        with_conn!(conn, c => diesel::insert_into(day_recall_stats::table)
            .values((day_recall_stats::day.eq(&day), day_recall_stats::recall_id.eq(recall_id), day_recall_stats::refusals.eq(1i64)))
            .on_conflict((day_recall_stats::day, day_recall_stats::recall_id))
            .do_update()
            .set(day_recall_stats::refusals.eq(day_recall_stats::refusals + excluded(day_recall_stats::refusals)))
            .execute(c))?;
    }
    if r.code == ErrorCode::PriceOverLimit {
        bump(conn, &day, shop_id, SignalCode::PriceOverLimit, 1)?;
    }
    tracing::info!(shop_id, code = r.code.as_str(), line = r.line, "refusal counted");
    Ok(())
}

/// An authorised basket as the signals look at it.
pub struct Sale<'a> {
    /// The basket, once written (`None`: the signals are counted before it is).
    pub basket_id: Option<i64>,
    pub shop_id: &'a str,
    pub vouchers: &'a [i64],
    pub lines: &'a [BasketLine],
    /// Each line's cap in force, in line order.
    pub caps: &'a [i32],
    pub discount: Tiyn,
}

/// Whether a line's discount per unit is exactly the most its cap allows (the server compares
/// `discount × 10 000 ≤ shelf × cap`, so the most is `⌊shelf × cap / 10 000⌋`).
pub fn line_at_cap(l: &BasketLine, cap_bp: i32) -> bool {
    let most = i128::from(l.shelf_price_tiyn.get()) * i128::from(cap_bp) / 10_000;
    let given = i128::from(l.shelf_price_tiyn.get()) - i128::from(l.reduced_price_tiyn.get());
    most > 0 && given == most
}

/// Another basket of one of the sale's vouchers, as the signals need it.
type Neighbour = (i64, String, BasketStatus, chrono::NaiveDateTime, chrono::NaiveDateTime, Tiyn);

/// Adds the counts of [`count`] to the shop's signals of the day, in key order.
pub fn bump_all(conn: &mut Conn, day: &str, shop_id: &str, counts: &[(SignalCode, i64)]) -> AppResult<()> {
    for (code, n) in counts {
        bump(conn, day, shop_id, *code, *n)?;
    }
    Ok(())
}

/// [`neighbours`] on PostgreSQL. The baskets are found by key from the vouchers' index (an array
/// computed first, which the planner cannot turn into a join): on a fresh table's stale statistics
/// the join of `basket_vouchers` and `baskets` read every basket of the day and hashed it for the
/// one or two it wanted (auto_explain: 102 of the statement's 106 pages, 1.7 ms, growing with the
/// day's baskets).
const NEIGHBOURS_PG: &str =
    "SELECT bv.voucher_id, b.shop_id, b.status, b.created_at, b.hold_expires_at, b.discount_tiyn \
    FROM baskets b JOIN basket_vouchers bv ON bv.basket_id = b.id \
    WHERE b.id = ANY(ARRAY(SELECT x.basket_id FROM basket_vouchers x WHERE x.voucher_id = ANY($1))) \
    AND bv.voucher_id = ANY($1) AND b.created_at >= $2 AND b.id <> $3";

/// The other baskets of the sale's vouchers in the last 25 hours (every window of the signals lies
/// within them: a hold lasts at most 24). One statement of one shape whatever the number of
/// vouchers: `= ANY($1)` on PostgreSQL, one cached statement per voucher on SQLite.
fn neighbours(conn: &mut Conn, sale: &Sale, now: DateTime<Utc>) -> AppResult<Vec<Neighbour>> {
    let since = (now - Duration::hours(25)).naive_utc();
    let own = sale.basket_id.unwrap_or(0);
    let select = (
        basket_vouchers::voucher_id,
        baskets::shop_id,
        baskets::status,
        baskets::created_at,
        baskets::hold_expires_at,
        baskets::discount_tiyn,
    );
    let q = || {
        basket_vouchers::table
            .inner_join(baskets::table)
            .filter(baskets::id.ne(own))
            .filter(baskets::created_at.ge(since))
            .select(select)
    };
    match conn {
        Conn::Pg(c) => Ok(Fixed::numbered(NEIGHBOURS_PG)
            .bind(sale.vouchers)
            .bind(since)
            .bind(own)
            .returning::<(BigInt, Text, Text, Timestamp, Timestamp, BigInt)>()
            .load::<Neighbour>(*c)?),
        Conn::Sqlite(c) => {
            let mut out = Vec::new();
            for v in sale.vouchers {
                out.extend(q().filter(basket_vouchers::voucher_id.eq(*v)).load::<Neighbour>(*c)?);
            }
            Ok(out)
        }
    }
}

/// The signals a sale fires, with how much each adds, in key order (day, shop, code) — the order
/// every transition writes the counters in (see `redeem::locks`). Reads only: authorise runs it in
/// its transaction, under its vouchers' locks (so what it reads of their other baskets is current),
/// before the basket is written, and adds the counts with its other writes ([`bump_all`]).
pub fn count(conn: &mut Conn, sale: &Sale, hours: ShopHours, now: DateTime<Utc>) -> AppResult<Vec<(SignalCode, i64)>> {
    let today = BusinessDay::of(now);
    let others = neighbours(conn, sale, now)?;
    let now_n = now.naive_utc();
    let mut fired = Vec::new();
    let recent_elsewhere = now_n - Duration::minutes(TWO_SHOPS_MINUTES);
    if others.iter().any(|(_, shop, _, at, _, _)| shop != sale.shop_id && *at > recent_elsewhere) {
        fired.push(SignalCode::TwoShops);
    }
    let small_reached = if sale.discount < SMALL_BASKET {
        let day_start = today.start_instant().naive_utc();
        sale.vouchers
            .iter()
            .filter(|v| {
                let before = others
                    .iter()
                    .filter(|(id, shop, _, at, _, d)| {
                        id == *v && shop == sale.shop_id && *at >= day_start && *d < SMALL_BASKET
                    })
                    .count();
                i64::try_from(before).is_ok_and(|n| n + 1 == SMALL_BASKETS_PER_DAY)
            })
            .count()
    } else {
        0
    };
    let expired_since = now_n - Duration::minutes(AFTER_EXPIRY_MINUTES);
    let ran_out = |status: &BasketStatus, until: &chrono::NaiveDateTime| {
        matches!(status, BasketStatus::HoldExpired | BasketStatus::Authorized)
            && *until <= now_n
            && *until > expired_since
    };
    if others.iter().any(|(_, _, status, _, until, _)| ran_out(status, until)) {
        fired.push(SignalCode::AfterHoldExpired);
    }
    let at_cap = sale.discount > Tiyn::ZERO
        && sale.lines.len() == sale.caps.len()
        && sale.lines.iter().zip(sale.caps).all(|(l, cap)| line_at_cap(l, *cap));
    if at_cap {
        fired.push(SignalCode::AtCap);
    }
    if sale.discount > Tiyn::ZERO && sale.discount.get() % ROUND_SUM.get() == 0 {
        fired.push(SignalCode::RoundSum);
    }
    if !hours.usual(now) {
        fired.push(SignalCode::OutsideHours);
    }
    let mut counts: Vec<(SignalCode, i64)> = fired.iter().map(|c| (*c, 1)).collect();
    if small_reached > 0 {
        counts.push((SignalCode::SmallBaskets, i64::try_from(small_reached).unwrap_or(i64::MAX)));
    }
    // The counters in key order (day, shop, code), as every transition writes them (see
    // `redeem::locks`), so that two sales at one shop never wait on each other crosswise.
    counts.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use azyq_shared::api::Unit;

    fn line(shelf: i64, reduced: i64) -> BasketLine {
        BasketLine {
            index: 0,
            gtin: "04600000000015".into(),
            serial: None,
            group: "milk".into(),
            name: "Молоко".into(),
            unit: Unit::Piece,
            quantity: 1,
            shelf_price_tiyn: Tiyn::new(shelf),
            reduced_price_tiyn: Tiyn::new(reduced),
            shelf_amount_tiyn: Tiyn::new(shelf),
            to_pay_tiyn: Tiyn::new(reduced),
            discount_tiyn: Tiyn::new(shelf - reduced),
            refunded: false,
        }
    }

    #[test]
    fn at_cap_is_the_largest_discount_the_cap_allows() {
        assert!(line_at_cap(&line(10_000, 8_500), 1_500));
        assert!(!line_at_cap(&line(10_000, 8_501), 1_500));
        // 15 % of 333 is 49.95: the most is 49.
        assert!(line_at_cap(&line(333, 284), 1_500));
        // No discount allowed is never "at the cap".
        assert!(!line_at_cap(&line(100, 100), 0));
    }

    #[test]
    fn shop_hours_parse_and_judge_almaty_time() {
        assert_eq!("07-23".parse::<ShopHours>(), Ok(ShopHours::default()));
        assert_eq!("0-24".parse::<ShopHours>(), Ok(ShopHours { opens: 0, closes: 24 }));
        for bad in ["23-07", "7", "07-25", "a-b", "10-10"] {
            assert!(bad.parse::<ShopHours>().is_err(), "{bad}");
        }
        let h = ShopHours::default();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // 01:59 UTC is 06:59 in Almaty (UTC+5); 02:00 UTC is 07:00.
        assert!(!h.usual(at("2026-12-06T01:59:00Z")));
        assert!(h.usual(at("2026-12-06T02:00:00Z")));
        assert!(h.usual(at("2026-12-06T17:59:00Z")));
        assert!(!h.usual(at("2026-12-06T18:00:00Z")));
        assert_eq!(h.to_string(), "07:00–23:00");
    }
}
