//! The ministry's figures for a day or a range of days, read from the day-stats rows that every
//! change keeps up to date: a few rows per region and shop, whatever the volume of sales.

use std::collections::BTreeMap;

use azyq_shared::api::{BasketFigures, ConsentFigures, GoodsFigures, MinistryReport, RegionFigures, ShopFigures};
use azyq_shared::{BusinessDay, Tiyn};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::{catalog_groups, day_consent_stats, day_goods_stats, day_region_stats, day_shop_stats, shops};
use crate::db::Conn;
use crate::domain::feedback::Period;
use crate::domain::redeem;
use crate::error::{AppError, AppResult};
use crate::with_conn;

fn add_baskets(into: &mut BasketFigures, b: &BasketFigures) {
    into.baskets_captured += b.baskets_captured;
    into.baskets_cancelled += b.baskets_cancelled;
    into.baskets_hold_expired += b.baskets_hold_expired;
    into.refunds += b.refunds;
    into.discount_tiyn += b.discount_tiyn;
    into.paid_tiyn += b.paid_tiyn;
    into.refunded_tiyn += b.refunded_tiyn;
}

fn add_region(into: &mut RegionFigures, r: &RegionFigures) {
    into.vouchers_issued += r.vouchers_issued;
    into.vouchers_issued_tiyn += r.vouchers_issued_tiyn;
    into.vouchers_activated += r.vouchers_activated;
    into.vouchers_activated_tiyn += r.vouchers_activated_tiyn;
    into.vouchers_lapsed += r.vouchers_lapsed;
    into.vouchers_lapsed_tiyn += r.vouchers_lapsed_tiyn;
    into.vouchers_expired += r.vouchers_expired;
    into.vouchers_expired_tiyn += r.vouchers_expired_tiyn;
    add_baskets(&mut into.baskets, &r.baskets);
}

type RegionRow = (String, i64, Tiyn, i64, Tiyn, i64, Tiyn, i64, Tiyn);
type ShopRow = (String, String, String, (i64, i64, i64, i64, Tiyn, Tiyn, Tiyn), (i64, i64));

/// The report for business days `from..=to` (one day for the daily report). Consent figures are
/// month-to-date at `to`.
pub fn report(conn: &mut Conn, from: BusinessDay, to: BusinessDay, now: DateTime<Utc>) -> AppResult<MinistryReport> {
    if to < from {
        return Err(AppError::validation("to", "конец периода раньше начала"));
    }
    let (f, t) = (from.to_string(), to.to_string());
    let region_rows: Vec<RegionRow> = with_conn!(conn, c => day_region_stats::table
        .filter(day_region_stats::day.ge(&f))
        .filter(day_region_stats::day.le(&t))
        .select((
            day_region_stats::region,
            day_region_stats::vouchers_issued,
            day_region_stats::vouchers_issued_tiyn,
            day_region_stats::vouchers_activated,
            day_region_stats::vouchers_activated_tiyn,
            day_region_stats::vouchers_lapsed,
            day_region_stats::vouchers_lapsed_tiyn,
            day_region_stats::vouchers_expired,
            day_region_stats::vouchers_expired_tiyn,
        ))
        .load(c))?;
    let shop_rows: Vec<ShopRow> = with_conn!(conn, c => day_shop_stats::table
        .inner_join(shops::table.on(shops::shop_id.eq(day_shop_stats::shop_id)))
        .filter(day_shop_stats::day.ge(&f))
        .filter(day_shop_stats::day.le(&t))
        .select((
            day_shop_stats::shop_id,
            shops::name,
            day_shop_stats::region,
            (
                day_shop_stats::baskets_captured,
                day_shop_stats::baskets_cancelled,
                day_shop_stats::baskets_hold_expired,
                day_shop_stats::refunds,
                day_shop_stats::discount_tiyn,
                day_shop_stats::paid_tiyn,
                day_shop_stats::refunded_tiyn,
            ),
            (day_shop_stats::refused_over_limit, day_shop_stats::refused_recalled),
        ))
        .load(c))?;
    let goods_rows: Vec<(String, String, i64, i64, Tiyn)> = with_conn!(conn, c => day_goods_stats::table
        .filter(day_goods_stats::day.ge(&f))
        .filter(day_goods_stats::day.le(&t))
        .select((day_goods_stats::region, day_goods_stats::group_code, day_goods_stats::pieces, day_goods_stats::grams, day_goods_stats::discount_tiyn))
        .load(c))?;
    let month = to.month().map_err(|e| AppError::validation("to", e.to_string()))?;
    let month_start = BusinessDay(month.first_day()).to_string();
    let consent_rows: Vec<(String, i64, i64, i64, i64, i64, i64)> = with_conn!(conn, c => day_consent_stats::table
        .filter(day_consent_stats::month.eq(month.as_ref()))
        .filter(day_consent_stats::day.ge(&month_start))
        .filter(day_consent_stats::day.le(&t))
        .select((
            day_consent_stats::region,
            day_consent_stats::sms_sent,
            day_consent_stats::reminders,
            day_consent_stats::yes,
            day_consent_stats::no,
            day_consent_stats::no_answer,
            day_consent_stats::no_phone,
        ))
        .load(c))?;

    let mut regions: BTreeMap<String, RegionFigures> = BTreeMap::new();
    for (region, vi, vit, va, vat, vl, vlt, ve, vet) in region_rows {
        let row = RegionFigures {
            region: region.clone(),
            vouchers_issued: vi,
            vouchers_issued_tiyn: vit,
            vouchers_activated: va,
            vouchers_activated_tiyn: vat,
            vouchers_lapsed: vl,
            vouchers_lapsed_tiyn: vlt,
            vouchers_expired: ve,
            vouchers_expired_tiyn: vet,
            ..Default::default()
        };
        let e = regions.entry(region.clone()).or_insert_with(|| RegionFigures { region, ..Default::default() });
        add_region(e, &row);
    }
    let mut shops_by_id: BTreeMap<String, ShopFigures> = BTreeMap::new();
    for (shop_id, shop_name, region, (captured, cancelled, expired, refunds, discount, paid, refunded), refused) in
        shop_rows
    {
        let b = BasketFigures {
            baskets_captured: captured,
            baskets_cancelled: cancelled,
            baskets_hold_expired: expired,
            refunds,
            discount_tiyn: discount,
            paid_tiyn: paid,
            refunded_tiyn: refunded,
        };
        let r = regions
            .entry(region.clone())
            .or_insert_with(|| RegionFigures { region: region.clone(), ..Default::default() });
        add_baskets(&mut r.baskets, &b);
        let s = shops_by_id.entry(shop_id.clone()).or_insert_with(|| ShopFigures {
            shop_id,
            shop_name,
            region,
            ..Default::default()
        });
        add_baskets(&mut s.baskets, &b);
        s.refused_over_limit += refused.0;
        s.refused_recalled += refused.1;
    }
    // Offline sales on the days they were sold (SPEC §3.9); a shop with only those gets a row too.
    for (shop_id, shortfall) in crate::domain::offline::sold_in(conn, &f, &t)? {
        let s = match shops_by_id.get_mut(&shop_id) {
            Some(s) => s,
            None => {
                let (shop_name, region) = redeem::shop_of(conn, &shop_id)?;
                shops_by_id.entry(shop_id.clone()).or_insert(ShopFigures {
                    shop_id,
                    shop_name,
                    region,
                    ..Default::default()
                })
            }
        };
        s.offline_sales += 1;
        s.offline_shortfall_tiyn += shortfall;
    }
    // What recipients said of the shops in these days; a shop rated but without sales gets a row.
    let said = crate::domain::feedback::by_shop(conn, Period::Days { from, to }, None)?;
    let unknown: Vec<&String> = said.keys().filter(|s| !shops_by_id.contains_key(*s)).collect();
    let names = crate::domain::feedback::shop_names(conn, &unknown)?;
    for (shop_id, feedback) in said {
        let s = shops_by_id.entry(shop_id.clone()).or_insert_with(|| {
            let (shop_name, region) = names.get(&shop_id).cloned().unwrap_or_default();
            ShopFigures { shop_id, shop_name, region, ..Default::default() }
        });
        s.feedback = feedback;
    }
    let mut goods: BTreeMap<(String, String), GoodsFigures> = BTreeMap::new();
    for (region, group, pieces, grams, discount) in goods_rows {
        let g = goods.entry((region.clone(), group.clone())).or_insert_with(|| GoodsFigures {
            region,
            group,
            ..Default::default()
        });
        g.pieces += pieces;
        g.grams += grams;
        g.discount_tiyn += discount;
    }
    let mut consent: BTreeMap<String, ConsentFigures> = BTreeMap::new();
    for (region, sms, rem, yes, no, no_answer, no_phone) in consent_rows {
        let c = consent.entry(region.clone()).or_insert_with(|| ConsentFigures {
            region,
            month: month.to_string(),
            ..Default::default()
        });
        c.sms_sent += sms;
        c.reminders += rem;
        c.yes += yes;
        c.no += no;
        c.no_answer += no_answer;
        c.no_phone += no_phone;
    }
    let mut totals = RegionFigures { region: "total".into(), ..Default::default() };
    for r in regions.values() {
        add_region(&mut totals, r);
    }
    let mut report = MinistryReport {
        from: f,
        to: t,
        generated_at: now,
        regions: regions.into_values().collect(),
        shops: shops_by_id.into_values().collect(),
        goods: goods.into_values().collect(),
        consent: consent.into_values().collect(),
        totals,
        recalls: super::signals::recall_refusals(conn, from, to)?,
        signals: super::signals::shops(conn, from, to, None)?,
    };
    name(conn, &mut report)?;
    Ok(report)
}

/// A region's names beside its code: KATO's, "Итого" for the totals, the code itself for a code
/// KATO does not know (so a row is never nameless).
fn region_names(code: &str) -> (String, String) {
    match (code, azyq_shared::region_names(code)) {
        ("total", _) => ("Итого".into(), "Барлығы".into()),
        (_, Some((ru, kk))) => (ru.into(), kk.into()),
        (code, None) => (format!("регион {code}"), format!("{code} өңірі")),
    }
}

/// Puts the names people read beside the codes: regions everywhere, SZPT groups in the goods.
fn name(conn: &mut Conn, report: &mut MinistryReport) -> AppResult<()> {
    let groups: BTreeMap<String, (String, String)> = with_conn!(conn, c => catalog_groups::table
        .select((catalog_groups::code, catalog_groups::name_ru, catalog_groups::name_kk))
        .load::<(String, String, String)>(c))?
    .into_iter()
    .map(|(code, ru, kk)| (code, (ru, kk)))
    .collect();
    for r in report.regions.iter_mut().chain(std::iter::once(&mut report.totals)) {
        (r.region_name, r.region_name_kk) = region_names(&r.region);
    }
    for s in &mut report.shops {
        (s.region_name, s.region_name_kk) = region_names(&s.region);
    }
    for c in &mut report.consent {
        (c.region_name, c.region_name_kk) = region_names(&c.region);
    }
    for g in &mut report.goods {
        (g.region_name, g.region_name_kk) = region_names(&g.region);
        (g.group_name, g.group_name_kk) =
            groups.get(&g.group).cloned().unwrap_or_else(|| (g.group.clone(), g.group.clone()));
    }
    Ok(())
}

/// A report day from the API or CLI: a real date, not in the future (Almaty).
pub fn report_day(raw: &str, field: &str, now: DateTime<Utc>) -> AppResult<BusinessDay> {
    let day = BusinessDay::parse(raw).map_err(|e| AppError::validation(field, e.to_string()))?;
    if day > BusinessDay::of(now) {
        return Err(AppError::validation(field, "отчёт за будущий день невозможен"));
    }
    Ok(day)
}
