//! What the till reads: its catalogue, a voucher look-up, its own day.

use std::collections::BTreeMap;

use azyq_shared::api::{BasketStatus, GroupTotal, LookupResponse, PosCatalog, PosDailyReport, PosProduct, Unit};
use azyq_shared::{BusinessDay, Tiyn};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::limits;
use super::redeem::{self, Till};
use crate::db::schema::{basket_lines, baskets, catalog_groups, products, refunds, shop_prices};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

type CatalogRow = (String, String, String, Unit, Option<i32>, Option<String>, Option<Tiyn>, Option<Tiyn>);

/// The SZPT products in force with the caps and price limits of the shop's region, this shop's
/// last prices, and the groups' names.
pub fn catalog(conn: &mut Conn, till: &Till) -> AppResult<PosCatalog> {
    let (_, region) = redeem::shop_of(conn, &till.shop_id)?;
    let rules = limits::for_region(conn, &region)?;
    let rows: Vec<CatalogRow> = with_conn!(conn, c => products::table
        .inner_join(catalog_groups::table)
        .left_join(shop_prices::table.on(shop_prices::gtin.eq(products::gtin).and(shop_prices::shop_id.eq(&till.shop_id))))
        .filter(catalog_groups::in_force.eq(true))
        .order(products::gtin)
        .select((
            products::gtin,
            products::group_code,
            products::name,
            products::unit,
            products::discount_cap_bp,
            products::plu,
            shop_prices::shelf_price_tiyn.nullable(),
            shop_prices::reduced_price_tiyn.nullable(),
        ))
        .load(c))?;
    Ok(PosCatalog {
        products: rows
            .into_iter()
            .map(|(gtin, group, name, unit, own_cap, plu, shelf, reduced)| {
                let rule = rules.get(&group);
                PosProduct {
                    discount_cap_bp: limits::effective_cap(own_cap, rule),
                    max_shelf_price_tiyn: rule.and_then(|r| r.max_shelf),
                    gtin,
                    group,
                    name,
                    unit,
                    last_shelf_price_tiyn: shelf,
                    last_reduced_price_tiyn: reduced,
                    plu,
                }
            })
            .collect(),
        groups: super::catalog::groups_known(conn)?,
    })
}

/// Look-up (Alg. p.24-25): the voucher behind a scanned token, with a masked holder name only.
pub fn lookup(conn: &mut Conn, till: &Till, token: &str, now: DateTime<Utc>) -> AppResult<LookupResponse> {
    let (_, region) = redeem::shop_of(conn, &till.shop_id)?;
    let keys = crate::domain::keys::verifying_keys(conn)?;
    let presented = redeem::authorize_present(conn, token, &keys, &region, now)?;
    let v = &presented.voucher;
    Ok(LookupResponse {
        voucher_id: v.id,
        holder: redeem::holder(v),
        month: v.month.clone(),
        status: v.status,
        balance_tiyn: v.balance_tiyn,
        token_expires_at: presented.fields.expires_at,
    })
}

/// The shop's day at the till: captured baskets and their goods by group, cancellations, refunds.
pub fn daily(conn: &mut Conn, till: &Till, day: BusinessDay) -> AppResult<PosDailyReport> {
    let date = day.to_string();
    let captured: Vec<(i64, Tiyn, Tiyn)> = with_conn!(conn, c => baskets::table
        .filter(baskets::shop_id.eq(&till.shop_id))
        .filter(baskets::business_day.eq(&date))
        .select((baskets::id, baskets::discount_tiyn, baskets::paid_tiyn.assume_not_null()))
        .load(c))?;
    let (start, end) = (
        day.start_instant().naive_utc(),
        BusinessDay(day.date().succ_opt().unwrap_or(day.date())).start_instant().naive_utc(),
    );
    let closed: Vec<BasketStatus> = with_conn!(conn, c => baskets::table
        .filter(baskets::shop_id.eq(&till.shop_id))
        .filter(baskets::status.eq_any([BasketStatus::Cancelled, BasketStatus::HoldExpired]))
        .filter(baskets::closed_at.ge(start))
        .filter(baskets::closed_at.lt(end))
        .select(baskets::status)
        .load(c))?;
    let refunded: Vec<Tiyn> = with_conn!(conn, c => refunds::table
        .inner_join(baskets::table)
        .filter(baskets::shop_id.eq(&till.shop_id))
        .filter(refunds::business_day.eq(&date))
        .select(refunds::refunded_tiyn)
        .load(c))?;
    let ids: Vec<i64> = captured.iter().map(|r| r.0).collect();
    let mut groups: BTreeMap<String, GroupTotal> = BTreeMap::new();
    for chunk in ids.chunks(500) {
        let lines: Vec<(String, Unit, i64, Tiyn)> = with_conn!(conn, c => basket_lines::table
            .filter(basket_lines::basket_id.eq_any(chunk))
            .select((basket_lines::group_code, basket_lines::unit, basket_lines::quantity, basket_lines::discount_tiyn))
            .load(c))?;
        for (group, unit, quantity, discount) in lines {
            let g = groups.entry(group.clone()).or_insert(GroupTotal {
                group,
                pieces: 0,
                grams: 0,
                discount_tiyn: Tiyn::ZERO,
            });
            if unit == Unit::Kg {
                g.grams += quantity;
            } else {
                g.pieces += quantity;
            }
            g.discount_tiyn += discount;
        }
    }
    Ok(PosDailyReport {
        date,
        shop_id: till.shop_id.clone(),
        baskets_captured: captured.len() as i64,
        baskets_cancelled: closed.iter().filter(|s| **s == BasketStatus::Cancelled).count() as i64,
        baskets_hold_expired: closed.iter().filter(|s| **s == BasketStatus::HoldExpired).count() as i64,
        refunds: refunded.len() as i64,
        discount_tiyn: captured.iter().map(|r| r.1).sum(),
        paid_tiyn: captured.iter().map(|r| r.2).sum(),
        refunded_tiyn: refunded.iter().sum(),
        by_group: groups.into_values().collect(),
    })
}

/// Parses `?date=`; today (Almaty) when absent.
pub fn report_day(raw: Option<&str>, now: DateTime<Utc>) -> AppResult<BusinessDay> {
    match raw {
        None => Ok(BusinessDay::of(now)),
        Some(s) => BusinessDay::parse(s).map_err(|e| AppError::validation("date", e.to_string())),
    }
}
