//! The stateful half of authorise, in the write transaction: each token's voucher as it is now, the
//! one-basket rule, the family's consent, the balance; then the hold, the lines and the claims.

use std::collections::HashMap;

use azyq_shared::api::{
    Authorized, BasketLine, BasketStatus, ErrorCode, ErrorDetail, MonthStatus, VoucherCharge, VoucherStatus,
};
use azyq_shared::{mask_name, token, Month, Tiyn};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use ed25519_dalek::VerifyingKey;

use super::check::{line_error, verify_token, Checked, Priced, Refused};
use super::locks::{self, MonthLock};
use super::{moves, Till};
use crate::db::audit::{self, Entry};
use crate::db::schema::{basket_lines, basket_vouchers, baskets, serial_claims, shop_prices, token_nonces, vouchers};
use crate::db::Conn;
use crate::domain::cycle;
use crate::domain::signals::{self, ShopHours};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// A voucher as authorise checks it.
#[derive(Debug, Clone, Queryable)]
pub struct VoucherRow {
    pub id: i64,
    pub month: String,
    pub family_id: String,
    pub member_name: String,
    pub region: String,
    pub status: VoucherStatus,
    pub balance_tiyn: Tiyn,
}

pub(crate) fn load_voucher(conn: &mut Conn, id: i64) -> AppResult<VoucherRow> {
    with_conn!(conn, c => vouchers::table
        .find(id)
        .select((
            vouchers::id,
            vouchers::month,
            vouchers::family_id,
            vouchers::member_name,
            vouchers::region,
            vouchers::status,
            vouchers::balance_tiyn,
        ))
        .first(c)
        .optional())?
    .ok_or_else(|| AppError::new(ErrorCode::VoucherNotFound, "Ваучер не найден"))
}

/// A verified token and its voucher, usable at this shop now (SPEC §3.2).
pub struct Presented {
    pub fields: token::TokenFields,
    pub voucher: VoucherRow,
}

/// Checks a scanned token: signature, key, expiry, voucher, region, state, month, one-basket rule.
/// `keys` are the verifying keys by kid ([`keys::verifying_keys`]), loaded once per request.
pub fn present(
    conn: &mut Conn,
    text: &str,
    keys: &HashMap<u16, VerifyingKey>,
    shop_region: &str,
    now: DateTime<Utc>,
) -> AppResult<Presented> {
    let fields = verify_token(text, keys, now)?;
    present_verified(conn, fields, shop_region, now, &[])
}

/// The stateful half of [`present`], for a token whose signature is already checked. `months` are
/// the months' statuses already read under their locks (others are read here).
fn present_verified(
    conn: &mut Conn,
    fields: token::TokenFields,
    shop_region: &str,
    now: DateTime<Utc>,
    months: &[(Month, Option<MonthStatus>)],
) -> AppResult<Presented> {
    let voucher_id =
        i64::try_from(fields.voucher_id).map_err(|_| AppError::new(ErrorCode::VoucherNotFound, "Ваучер не найден"))?;
    let voucher = load_voucher(conn, voucher_id)?;
    if voucher.month != fields.month.as_ref() {
        return Err(AppError::new(ErrorCode::TokenInvalid, "QR-код не соответствует ваучеру").with("reason", "month"));
    }
    if voucher.region != shop_region {
        return Err(AppError::new(
            ErrorCode::WrongRegion,
            "Ваучер выдан в другом регионе: в этом магазине его принять нельзя",
        ));
    }
    let nonce = hex::encode(fields.nonce);
    let used: bool =
        with_conn!(conn, c => diesel::select(diesel::dsl::exists(token_nonces::table.find(&nonce))).get_result(c))?;
    if used {
        return Err(token_used());
    }
    let month = Month::parse(&voucher.month).map_err(|e| AppError::internal(anyhow::anyhow!("stored month: {e}")))?;
    let status = match months.iter().find(|(m, _)| *m == month) {
        Some((_, status)) => *status,
        None => cycle::month_status(conn, month)?,
    };
    if cycle::month_over(status, month, now) {
        return Err(AppError::new(ErrorCode::MonthClosed, format!("Срок ваучера истёк: месяц {month} закончился")));
    }
    match voucher.status {
        VoucherStatus::Activated => {}
        VoucherStatus::Issued => {
            return Err(AppError::new(
                ErrorCode::NotActivated,
                "Ваучер не активирован: покупатель должен активировать его в приложении",
            ))
        }
        VoucherStatus::Exhausted => return Err(exhausted()),
        VoucherStatus::Lapsed | VoucherStatus::Expired => {
            return Err(AppError::new(ErrorCode::MonthClosed, format!("Срок ваучера истёк: месяц {month} закончился")))
        }
    }
    Ok(Presented { fields, voucher })
}

fn token_used() -> AppError {
    AppError::new(ErrorCode::TokenUsed, "Этот QR-код уже использован: попросите покупателя показать новый")
}

fn exhausted() -> AppError {
    AppError::new(ErrorCode::VoucherExhausted, "Средства ваучера израсходованы")
}

/// What an authorisation answers and the idempotency key keeps: the hold, or a refusal that the
/// reports count — stored like a success, so that a retry with the same key hears it again and it
/// is counted once. (Untagged: an `Authorized` stored before refusals were kept reads back as one.)
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Outcome {
    Authorized(Authorized),
    Refused { refused: ErrorDetail },
}

impl Outcome {
    /// The answer as the API gives it.
    pub fn into_result(self) -> AppResult<Authorized> {
        match self {
            Outcome::Authorized(a) => Ok(a),
            Outcome::Refused { refused } => {
                let mut e = AppError::new(refused.code, refused.message);
                e.details = refused.details;
                Err(e)
            }
        }
    }
}

/// The rules of a sale that come from the settings, not the request.
#[derive(Debug, Clone, Copy)]
pub struct SaleRules {
    /// How long a hold lasts.
    pub hold: Duration,
    /// The usual shop hours, for the `outside_hours` signal.
    pub hours: ShopHours,
}

/// Authorises a checked basket: places the hold and answers what the customer pays (SPEC §3.3).
/// Runs in the write transaction; `checked` comes from [`check`] on the same request. A refusal
/// the reports count (a price over the limit, recalled goods) is recorded in this transaction
/// and answered as [`Outcome::Refused`]; every other refusal is an error (nothing is written).
pub(crate) fn authorize(
    conn: &mut Conn,
    till: &Till,
    checked: &Checked,
    rules: SaleRules,
    now: DateTime<Utc>,
) -> AppResult<Outcome> {
    let checked = checked.0.as_ref().map_err(AppError::again)?;
    let mut verified = Vec::with_capacity(checked.tokens.len());
    for verdict in &checked.tokens {
        verified.push(verdict.as_ref().map_err(AppError::again)?.clone());
    }
    let months = lock_for(conn, &verified)?;

    // The vouchers, in the order scanned; all of one family and month.
    let mut presented: Vec<Presented> = Vec::with_capacity(verified.len());
    for fields in verified {
        let p = present_verified(conn, fields, &checked.shop_region, now, &months)?;
        if presented.iter().any(|q| q.voucher.id == p.voucher.id) {
            return Err(AppError::validation("tokens", "один и тот же ваучер отсканирован дважды"));
        }
        if let Some(first) = presented.first() {
            if first.voucher.family_id != p.voucher.family_id || first.voucher.month != p.voucher.month {
                return Err(AppError::validation("tokens", "в одной покупке — ваучеры только одной семьи"));
            }
        }
        presented.push(p);
    }
    // An activated voucher stays spendable to the month's end whatever the family answers later
    // (SPEC §2.4): its money is never stranded mid-purchase. So no consent is asked for here.
    let first = &presented[0].voucher;
    let Priced { lines, caps, discount, to_pay } = match &checked.lines {
        Ok(priced) => priced,
        Err(Refused { error, counted: Some(counted) }) => {
            signals::refused(conn, &till.shop_id, &checked.shop_region, counted, now)?;
            let refused =
                ErrorDetail { code: error.code, message: error.message.clone(), details: error.details.clone() };
            return Ok(Outcome::Refused { refused });
        }
        Err(Refused { error, counted: None }) => return Err(error.again()),
    };
    let (discount, to_pay) = (*discount, *to_pay);

    let available: Tiyn = presented.iter().map(|p| p.voucher.balance_tiyn).sum();
    if available == Tiyn::ZERO && discount > Tiyn::ZERO {
        return Err(exhausted());
    }
    if available < discount {
        return Err(insufficient(available));
    }

    let hold_expires_at = now + rules.hold;
    let basket_id: i64 = with_conn!(conn, c => diesel::insert_into(baskets::table)
        .values((
            baskets::shop_id.eq(&till.shop_id),
            baskets::terminal_id.eq(&till.terminal_id),
            baskets::cashier.eq(&till.login),
            baskets::month.eq(&first.month),
            baskets::family_id.eq(&first.family_id),
            baskets::status.eq(BasketStatus::Authorized),
            baskets::discount_tiyn.eq(discount),
            baskets::to_pay_tiyn.eq(to_pay),
            baskets::created_at.eq(now.naive_utc()),
            baskets::hold_expires_at.eq(hold_expires_at.naive_utc()),
        ))
        .returning(baskets::id)
        .get_result(c))?;

    // The hold: drawn in the order scanned, each draw one conditional UPDATE.
    let mut remaining = discount;
    let mut charges = Vec::with_capacity(presented.len());
    for (seq, p) in presented.iter().enumerate() {
        let take = remaining.min(p.voucher.balance_tiyn);
        // Under the voucher's lock the balance read above is current, so this cannot fail; were it
        // to (a bug), nothing is held and the till hears the balance as it is.
        if take > Tiyn::ZERO && !moves::hold(conn, p.voucher.id, take)? {
            let now_available = current_balance(conn, &presented)?;
            return Err(insufficient(now_available));
        }
        remaining -= take;
        with_conn!(conn, c => diesel::insert_into(basket_vouchers::table)
            .values((
                basket_vouchers::basket_id.eq(basket_id),
                basket_vouchers::seq.eq(seq as i32),
                basket_vouchers::voucher_id.eq(p.voucher.id),
                basket_vouchers::charged_tiyn.eq(take),
            ))
            .execute(c))?;
        let nonce = hex::encode(p.fields.nonce);
        let fresh = with_conn!(conn, c => diesel::insert_into(token_nonces::table)
            .values((
                token_nonces::nonce.eq(&nonce),
                token_nonces::voucher_id.eq(p.voucher.id),
                token_nonces::basket_id.eq(basket_id),
                token_nonces::used_at.eq(now.naive_utc()),
            ))
            .on_conflict_do_nothing()
            .execute(c))?;
        if fresh != 1 {
            return Err(token_used());
        }
        charges.push(VoucherCharge {
            voucher_id: p.voucher.id,
            charged_tiyn: take,
            balance_tiyn: p.voucher.balance_tiyn - take,
        });
    }

    // Serial codes in key order: two baskets claiming the same codes never wait for each other in a
    // circle.
    let mut serialised: Vec<&BasketLine> = lines.iter().filter(|l| l.serial.is_some()).collect();
    serialised.sort_by(|a, b| (&a.gtin, &a.serial).cmp(&(&b.gtin, &b.serial)));
    claim_serials(conn, basket_id, &serialised)?;
    insert_lines(conn, basket_id, lines)?;
    remember_prices(conn, &till.shop_id, lines, now)?;
    let voucher_ids: Vec<i64> = presented.iter().map(|p| p.voucher.id).collect();
    let sale = signals::Sale { basket_id, shop_id: &till.shop_id, vouchers: &voucher_ids, lines, caps, discount };
    signals::authorized(conn, &sale, rules.hours, now)?;
    audit::record(
        conn,
        &[Entry::new(now, &till.actor(), "basket", basket_id.to_string(), None, BasketStatus::Authorized.as_str())
            .detail(format!("discount_tiyn={} vouchers={}", discount.get(), charges.len()))],
    )?;
    tracing::info!(basket_id, discount_tiyn = discount.get(), vouchers = charges.len(), "basket authorized");
    Ok(Outcome::Authorized(Authorized {
        basket_id,
        status: BasketStatus::Authorized,
        discount_tiyn: discount,
        to_pay_tiyn: to_pay,
        hold_expires_at,
        vouchers: charges,
        lines: lines.clone(),
    }))
}

/// Takes the locks of an authorisation in the house order (see [`locks`]): the months of the
/// tokens, then their vouchers by id; what is read about them afterwards is current. Answers the
/// months' statuses as read under their locks.
fn lock_for(conn: &mut Conn, tokens: &[token::TokenFields]) -> AppResult<Vec<(Month, Option<MonthStatus>)>> {
    let mut months: Vec<Month> = tokens.iter().map(|t| t.month).collect();
    months.sort();
    months.dedup();
    let mut statuses = Vec::with_capacity(months.len());
    for month in months {
        statuses.push((month, locks::lock_month(conn, month, MonthLock::Shared)?));
    }
    let ids: Vec<i64> = tokens.iter().filter_map(|t| i64::try_from(t.voucher_id).ok()).collect();
    locks::lock_vouchers(conn, &ids)?;
    Ok(statuses)
}

/// Claims the serial codes of `serialised` (in key order) for the basket, in one statement per
/// chunk; a code another basket holds is `code_already_sold` for its line (the first in basket
/// order among those taken).
fn claim_serials(conn: &mut Conn, basket_id: i64, serialised: &[&BasketLine]) -> AppResult<()> {
    for chunk in serialised.chunks(200) {
        let rows: Vec<_> = chunk
            .iter()
            .filter_map(|l| {
                let serial = l.serial.as_ref()?;
                Some((
                    serial_claims::gtin.eq(&l.gtin),
                    serial_claims::serial.eq(serial),
                    serial_claims::basket_id.eq(basket_id),
                ))
            })
            .collect();
        let claimed = with_conn!(conn, c => diesel::insert_into(serial_claims::table)
            .values(&rows)
            .on_conflict_do_nothing()
            .execute(c))?;
        if claimed == rows.len() {
            continue;
        }
        // Some code is taken: the first line in key order whose claim failed, as when they were
        // claimed one by one — held by another basket, or a repeat of a code earlier in this one.
        // (This basket's own claims are undone with the whole transaction by the refusal.)
        let mut seen = std::collections::HashSet::new();
        let mut index = chunk[0].index;
        for l in chunk {
            let Some(serial) = &l.serial else { continue };
            let holder: Option<i64> = with_conn!(conn, c => serial_claims::table
                .find((&l.gtin, serial))
                .select(serial_claims::basket_id)
                .first(c)
                .optional())?;
            if !seen.insert((&l.gtin, serial)) || holder != Some(basket_id) {
                index = l.index;
                break;
            }
        }
        return Err(line_error(
            ErrorCode::CodeAlreadySold,
            index,
            format!("Строка {}: товар с этим кодом уже продан или в другой покупке", index + 1),
        ));
    }
    Ok(())
}

fn insufficient(available: Tiyn) -> AppError {
    AppError::new(
        ErrorCode::InsufficientBalance,
        format!("Скидка больше остатка ваучера ({available}): уберите часть товаров"),
    )
    .with("balance_tiyn", available.get())
}

fn current_balance(conn: &mut Conn, presented: &[Presented]) -> AppResult<Tiyn> {
    let ids: Vec<i64> = presented.iter().map(|p| p.voucher.id).collect();
    let balances: Vec<Tiyn> = with_conn!(conn, c => vouchers::table.filter(vouchers::id.eq_any(&ids)).select(vouchers::balance_tiyn).load(c))?;
    Ok(balances.iter().sum())
}

/// Keeps the shop's last prices per GTIN, to pre-fill the next basket line at the till.
///
/// The rows are written in GTIN order, once each (the basket's last line of a GTIN wins): two
/// baskets of one shop that take the same rows in different orders would deadlock on PostgreSQL.
fn remember_prices(conn: &mut Conn, shop_id: &str, lines: &[BasketLine], now: DateTime<Utc>) -> AppResult<()> {
    let latest: std::collections::BTreeMap<&str, &BasketLine> = lines.iter().map(|l| (l.gtin.as_str(), l)).collect();
    let at = now.naive_utc();
    let rows: Vec<_> = latest
        .into_values()
        .map(|l| {
            (
                shop_prices::shop_id.eq(shop_id),
                shop_prices::gtin.eq(&l.gtin),
                shop_prices::shelf_price_tiyn.eq(l.shelf_price_tiyn),
                shop_prices::reduced_price_tiyn.eq(l.reduced_price_tiyn),
                shop_prices::updated_at.eq(at),
            )
        })
        .collect();
    // One statement for the basket; rows in GTIN order (PostgreSQL takes their locks in that order).
    for chunk in rows.chunks(100) {
        with_conn!(conn, c => diesel::insert_into(shop_prices::table)
            .values(chunk)
            .on_conflict((shop_prices::shop_id, shop_prices::gtin))
            .do_update()
            .set((
                shop_prices::shelf_price_tiyn.eq(excluded(shop_prices::shelf_price_tiyn)),
                shop_prices::reduced_price_tiyn.eq(excluded(shop_prices::reduced_price_tiyn)),
                shop_prices::updated_at.eq(excluded(shop_prices::updated_at)),
            ))
            .execute(c))?;
    }
    Ok(())
}

/// The masked holder name a till may show.
pub fn holder(voucher: &VoucherRow) -> String {
    mask_name(&voucher.member_name)
}

/// A basket's priced lines, one multi-row INSERT (online and offline baskets alike).
pub(crate) fn insert_lines(conn: &mut Conn, basket_id: i64, lines: &[BasketLine]) -> AppResult<()> {
    let rows: Vec<_> = lines
        .iter()
        .map(|l| {
            (
                basket_lines::basket_id.eq(basket_id),
                basket_lines::idx.eq(l.index as i32),
                basket_lines::gtin.eq(&l.gtin),
                basket_lines::serial.eq(l.serial.as_ref()),
                basket_lines::group_code.eq(&l.group),
                basket_lines::name.eq(&l.name),
                basket_lines::unit.eq(l.unit),
                basket_lines::quantity.eq(l.quantity),
                basket_lines::shelf_price_tiyn.eq(l.shelf_price_tiyn),
                basket_lines::reduced_price_tiyn.eq(l.reduced_price_tiyn),
                basket_lines::shelf_amount_tiyn.eq(l.shelf_amount_tiyn),
                basket_lines::to_pay_tiyn.eq(l.to_pay_tiyn),
                basket_lines::discount_tiyn.eq(l.discount_tiyn),
                basket_lines::refunded.eq(false),
            )
        })
        .collect();
    with_conn!(conn, c => diesel::insert_into(basket_lines::table).values(&rows).execute(c))?;
    Ok(())
}
