//! What the till reads: its catalogue, a voucher look-up, its own day.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

use azyq_shared::api::{BasketStatus, GroupTotal, LookupResponse, PosCatalog, PosDailyReport, PosProduct, Unit};
use azyq_shared::states::{MonthStatus, VoucherStatus};
use azyq_shared::{token, BusinessDay, Tiyn};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ed25519_dalek::VerifyingKey;

use super::redeem::{self, Till};
use super::{accounts, cycle, limits};
use crate::db::schema::{
    basket_lines, baskets, catalog_groups, months, products, refunds, shop_prices, shops, token_nonces, voucher_keys,
    vouchers,
};
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

/// What the look-up's one statement reads: the voucher (month, name, region, status, balance),
/// the shop's region, the token's public key if not retired, whether the nonce is used, the
/// token month's status, and the cashier's credential version (none once removed).
type FastRow = (
    String,
    String,
    String,
    VoucherStatus,
    Tiyn,
    Option<String>,
    Option<String>,
    bool,
    Option<MonthStatus>,
    Option<i32>,
);

/// The look-up in ONE statement (outside a transaction: one statement sees one state), for a
/// token that passes every check; `None` whenever any check does not pass, and then [`lookup`]
/// answers with the exact refusal. Every check of [`redeem::authorize_present`] is made here
/// too: signature by a key not retired, expiry, the voucher, its month and region against the
/// token and the shop, the nonce unused, the month not over, the voucher activated.
///
/// `session`: the credential version of the till's session token, checked in the same statement
/// (see `CashierToken`): a session that no longer stands is 401 here. Whenever this answers
/// `None` the session is unchecked, and [`lookup`] checks it first.
pub fn lookup_fast(
    conn: &mut Conn,
    till: &Till,
    session: i32,
    token: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<LookupResponse>> {
    let Ok(decoded) = token::decode(token) else { return Ok(None) };
    let fields = &decoded.fields;
    let Ok(voucher_id) = i64::try_from(fields.voucher_id) else { return Ok(None) };
    if now >= fields.expires_at {
        return Ok(None);
    }
    let nonce = hex::encode(fields.nonce.as_bytes());
    let month: &str = fields.month.as_ref();
    let row: Option<FastRow> = with_conn!(conn, c => vouchers::table
        .find(voucher_id)
        .select((
            vouchers::month,
            vouchers::member_name,
            vouchers::region,
            vouchers::status,
            vouchers::balance_tiyn,
            shops::table.find(&till.shop_id).select(shops::region).single_value(),
            voucher_keys::table
                .filter(voucher_keys::kid.eq(i32::from(fields.kid)))
                .filter(voucher_keys::retired.eq(false))
                .select(voucher_keys::public_key)
                .single_value(),
            diesel::dsl::exists(token_nonces::table.find(&nonce)),
            months::table.find(month).select(months::status).single_value(),
            accounts::sessions::standing_cashier_version(&till.shop_id, &till.login).single_value(),
        ))
        .first(c)
        .optional())?;
    let Some((v_month, name, region, status, balance, shop_region, key, used, month_status, version)) = row else {
        return Ok(None);
    };
    if version != Some(session) {
        return Err(accounts::sessions::session_ended());
    }
    let usable = v_month == month
        && shop_region.as_deref() == Some(region.as_str())
        && !used
        && !cycle::month_over(month_status, fields.month, now)
        && status == VoucherStatus::Activated;
    let verified = || key.as_deref().and_then(verifying_key).is_some_and(|k| decoded.verify_signature(&k).is_ok());
    if !usable || !verified() {
        return Ok(None);
    }
    Ok(Some(LookupResponse {
        voucher_id,
        holder: azyq_shared::mask_name(&name),
        month: v_month,
        status,
        balance_tiyn: balance,
        token_expires_at: fields.expires_at,
    }))
}

/// The verifying key of a stored public key (Base64), decoded once per process: decompressing the
/// point costs a tenth of a signature check. Keys are few (one per rotation).
fn verifying_key(public: &str) -> Option<VerifyingKey> {
    static KEYS: OnceLock<Mutex<HashMap<String, VerifyingKey>>> = OnceLock::new();
    let keys = KEYS.get_or_init(Default::default);
    if let Some(key) = keys.lock().unwrap_or_else(|p| p.into_inner()).get(public) {
        return Some(*key);
    }
    let bytes: [u8; 32] = B64.decode(public).ok()?.try_into().ok()?;
    let key = VerifyingKey::from_bytes(&bytes).ok()?;
    keys.lock().unwrap_or_else(|p| p.into_inner()).insert(public.to_owned(), key);
    Some(key)
}

/// Look-up (Alg. p.24-25): the voucher behind a scanned token, with a masked holder name only.
/// The reference path, with every refusal; [`lookup_fast`] answers the usual case first.
/// `session`: as in [`lookup_fast`], the credential version of the till's session token; one that
/// no longer stands is 401, before anything else.
pub fn lookup(
    conn: &mut Conn,
    till: &Till,
    session: i32,
    token: &str,
    now: DateTime<Utc>,
) -> AppResult<LookupResponse> {
    if accounts::sessions::cashier_version(conn, &till.shop_id, &till.login)? != Some(session) {
        return Err(accounts::sessions::session_ended());
    }
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
