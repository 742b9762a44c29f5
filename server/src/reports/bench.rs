//! `azyq-server bench-report`: a month of national-scale sales (10 million basket lines by default)
//! written straight into a fresh SQLite file, then the daily report, the signals report and `check`
//! timed on it.
//!
//! The rows are made in SQL (a recursive sequence), and the day figures from them by aggregation —
//! exactly what the incremental updates of a real month add up to, which `check` then proves. The
//! signal counters: `at_cap` from the baskets (every generated line gives exactly its 15 % cap),
//! and a row for every other signal of every shop and day, so the signals report reads the most
//! rows a month of these shops can have (shops × days × 7).

use std::time::{Duration, Instant};

use azyq_shared::BusinessDay;
use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;

use crate::db::{Conn, Db};
use crate::domain::places;

const SHOPS: i64 = 300;
const LINES_PER_BASKET: i64 = 5;
const DAYS: i64 = 30;

fn exec(db: &Db, sql: &str) -> anyhow::Result<()> {
    db.write(|c| match c {
        Conn::Sqlite(c) => c.batch_execute(sql).map_err(Into::into),
        Conn::Pg(c) => c.batch_execute(sql).map_err(Into::into),
    })?;
    Ok(())
}

/// Builds the month and prints how long the daily report, the signals report and `check` take on
/// it; with `keep`, the database stays at that path.
pub fn run(lines: i64, keep: Option<&std::path::Path>, now: DateTime<Utc>) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("azyq-bench-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = match keep {
        Some(p) => p.to_path_buf(),
        None => dir.join("month.db"),
    };
    let db = Db::connect(&format!("sqlite://{}", path.display()), 2)?;
    let baskets = lines / LINES_PER_BASKET;
    let vouchers = (baskets / 10).max(1);
    db.write(|c| places::put_localities(c, &crate::demo::pilot_localities(), "bench", now))?;
    let progress = crate::progress::Progress::new("bench-report", 0);
    progress.step(0, &format!("building a month of {lines} basket lines"));
    let t = Instant::now();
    // The SZPT groups, then shops in the pilot regions, vouchers, baskets, lines, and the day figures.
    db.write(|c| crate::domain::catalog::seed_groups(c, now))?;
    exec(&db, &format!(
        "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {SHOPS})
         INSERT INTO shops (shop_id, name, kato, region, address, updated_at)
         SELECT 'S' || x, 'Shop ' || x, CASE x % 3 WHEN 0 THEN '111010000' WHEN 1 THEN '113220100' ELSE '551010000' END,
                CASE x % 3 WHEN 2 THEN '55' ELSE '11' END, 'addr', '2026-12-01 00:00:00' FROM s;
         INSERT INTO months (month, status) VALUES ('2026-12', 'open');
         WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {vouchers})
         INSERT INTO vouchers (id, month, family_id, iin, member_name, region, amount_tiyn, balance_tiyn, status, issued_at, activated_at)
         SELECT x, '2026-12', 'F' || (x / 3), printf('%012d', x), 'Bench', CASE x % 3 WHEN 2 THEN '55' ELSE '11' END,
                432500, 432500, 'activated', '2026-12-01 05:00:00', '2026-12-01 06:00:00' FROM s;
         WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {baskets})
         INSERT INTO baskets (id, shop_id, terminal_id, cashier, month, family_id, status, discount_tiyn, to_pay_tiyn, created_at,
                              hold_expires_at, captured_at, business_day, payment_method, paid_tiyn)
         SELECT x, 'S' || (1 + x % {SHOPS}), 'T1', 'bench', '2026-12', 'F' || ((1 + x % {vouchers}) / 3), 'captured',
                {LINES_PER_BASKET} * 750, {LINES_PER_BASKET} * 4250, '2026-12-01 06:00:00', '2026-12-01 06:10:00', '2026-12-01 06:01:00',
                printf('2026-12-%02d', 1 + x % {DAYS}), 'cash', {LINES_PER_BASKET} * 4250 FROM s;
         WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < {LINES_PER_BASKET} - 1)
         INSERT INTO basket_lines (basket_id, idx, gtin, serial, group_code, name, unit, quantity, shelf_price_tiyn, reduced_price_tiyn,
                                   shelf_amount_tiyn, to_pay_tiyn, discount_tiyn, refunded)
         SELECT b.id, k.i, '0200000000' || printf('%04d', k.i), NULL, CASE k.i WHEN 0 THEN 'milk' WHEN 1 THEN 'bread' WHEN 2 THEN 'flour'
                WHEN 3 THEN 'eggs' ELSE 'sugar' END, 'Item', 'piece', 1, 5000, 4250, 5000, 4250, 750, 0 FROM baskets b CROSS JOIN k;
         INSERT INTO audit_log (at, actor, entity, entity_id, from_state, to_state)
         SELECT '2026-12-01 06:00:00', 'bench', 'basket', CAST(id AS TEXT), NULL, 'authorized' FROM baskets
         UNION ALL SELECT '2026-12-01 06:01:00', 'bench', 'basket', CAST(id AS TEXT), 'authorized', 'captured' FROM baskets;
         INSERT INTO basket_vouchers (basket_id, seq, voucher_id, charged_tiyn)
         SELECT id, 0, 1 + id % {vouchers}, discount_tiyn FROM baskets;
         UPDATE vouchers SET charged_tiyn = (SELECT COALESCE(SUM(charged_tiyn), 0) FROM basket_vouchers bv WHERE bv.voucher_id = vouchers.id),
                balance_tiyn = 432500 - (SELECT COALESCE(SUM(charged_tiyn), 0) FROM basket_vouchers bv WHERE bv.voucher_id = vouchers.id);
         INSERT INTO day_shop_stats (day, shop_id, region, baskets_captured, discount_tiyn, paid_tiyn)
         SELECT b.business_day, b.shop_id, s.region, COUNT(*), SUM(b.discount_tiyn), SUM(b.paid_tiyn)
         FROM baskets b JOIN shops s ON s.shop_id = b.shop_id GROUP BY b.business_day, b.shop_id, s.region;
         INSERT INTO day_goods_stats (day, shop_id, region, group_code, pieces, grams, discount_tiyn)
         SELECT b.business_day, b.shop_id, s.region, l.group_code, SUM(l.quantity), 0, SUM(l.discount_tiyn)
         FROM basket_lines l JOIN baskets b ON b.id = l.basket_id JOIN shops s ON s.shop_id = b.shop_id
         GROUP BY b.business_day, b.shop_id, s.region, l.group_code;
         INSERT INTO day_region_stats (day, region, vouchers_issued, vouchers_issued_tiyn, vouchers_activated, vouchers_activated_tiyn)
         SELECT '2026-12-01', region, COUNT(*), SUM(amount_tiyn), COUNT(*), SUM(amount_tiyn) FROM vouchers GROUP BY region;
         INSERT INTO day_signal_stats (day, shop_id, code, count)
         SELECT business_day, shop_id, 'at_cap', COUNT(*) FROM baskets GROUP BY business_day, shop_id;
         WITH codes(code, k) AS (VALUES ('price_over_limit', 1), ('two_shops', 2), ('small_baskets', 3),
                                        ('after_hold_expired', 4), ('round_sum', 5), ('outside_hours', 6))
         INSERT INTO day_signal_stats (day, shop_id, code, count)
         SELECT s.day, s.shop_id, codes.code, 1 + (s.baskets_captured + codes.k) % 7 FROM day_shop_stats s CROSS JOIN codes;"
    ))?;
    let built = t.elapsed();
    progress.finish();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "month built: {lines} basket lines, {baskets} baskets, {vouchers} vouchers, {SHOPS} shops in {:.1} s ({} MB)",
        built.as_secs_f64(),
        size / 1_000_000
    );

    let day = BusinessDay::parse("2026-12-15")?;
    let mut times: Vec<Duration> = Vec::new();
    let mut figures = None;
    let progress = crate::progress::Progress::new("bench-report daily report", 7);
    for run in 0..7 {
        progress.step(run, "figures, JSON, CSV, XLSX");
        let t = Instant::now();
        let report = db.read(|c| super::figures::report(c, day, day, now))?;
        for format in [super::render::Format::Json, super::render::Format::Csv, super::render::Format::Xlsx] {
            super::render::render(&report, format)?;
        }
        times.push(t.elapsed());
        figures = Some(report.totals);
    }
    progress.finish();
    times.sort();
    if let Some(t) = figures {
        println!("day 2026-12-15: {} baskets, discount {} tiyn", t.baskets.baskets_captured, t.baskets.discount_tiyn);
    }
    println!(
        "daily report (figures + JSON + CSV + XLSX): median {:.1} ms, min {:.1} ms, max {:.1} ms over 7 runs (goal <= 1000 ms)",
        times[3].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[6].as_secs_f64() * 1e3
    );
    let hours = crate::domain::signals::ShopHours::default();
    let month = azyq_shared::Month::parse("2026-12")?;
    let mut times: Vec<Duration> = Vec::new();
    let mut shops = 0;
    for _ in 0..7 {
        let t = Instant::now();
        let report = db.read(|c| super::signals::month_report(c, month, hours, now))?;
        for format in [super::render::Format::Json, super::render::Format::Csv, super::render::Format::Xlsx] {
            super::signals::render(&report, hours, format)?;
        }
        times.push(t.elapsed());
        shops = report.shops.len();
    }
    times.sort();
    println!(
        "signals report of 2026-12 ({shops} shops; figures + JSON + CSV + XLSX): median {:.1} ms, min {:.1} ms, max {:.1} ms over 7 runs",
        times[3].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[6].as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let findings = super::check::run_shown(&db)?;
    let bad: usize = findings.iter().map(|f| f.mismatches.len()).sum();
    println!("check: {} rules, {bad} mismatches, {:.1} s", findings.len(), t.elapsed().as_secs_f64());
    drop(db);
    std::fs::remove_dir_all(&dir)?;
    if let Some(p) = keep {
        println!("the month is kept in {}", p.display());
    }
    Ok(())
}
