//! Authorise: check every token and line, then hold the discount on the vouchers.

use std::collections::{HashMap, HashSet};

use azyq_shared::api::{
    AuthorizeRequest, Authorized, BasketLine, BasketLineIn, BasketStatus, ErrorCode, Unit, VoucherCharge, VoucherStatus,
};
use azyq_shared::{gs1, mask_name, token, BusinessDay, Month, Tiyn};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use ed25519_dalek::VerifyingKey;

use super::locks::{self, MonthLock};
use super::{shop_of, token_error, Till};
use crate::db::audit::{self, Entry};
use crate::db::schema::{
    basket_lines, basket_vouchers, baskets, catalog_groups, family_months, months, products, serial_claims,
    shop_prices, token_nonces, vouchers,
};
use crate::db::Conn;
use crate::domain::cycle::FamilyStatus;
use crate::domain::keys;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// At most this many vouchers (members of one family) and lines in one basket.
pub const MAX_TOKENS: usize = 16;
pub const MAX_LINES: usize = 200;

/// A voucher as authorise checks it.
#[derive(Debug, Clone, Queryable)]
pub struct VoucherRow {
    pub id: i64,
    pub month: String,
    pub family_id: String,
    pub member_name: String,
    pub region: String,
    pub status: String,
    pub balance_tiyn: i64,
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
    present_verified(conn, fields, shop_region, now)
}

/// The stateless half of [`present`]: signature, key and expiry.
fn verify_token(text: &str, keys: &HashMap<u16, VerifyingKey>, now: DateTime<Utc>) -> AppResult<token::TokenFields> {
    token::verify(text, |kid| keys.get(&kid).copied(), now).map_err(token_error)
}

/// The stateful half of [`present`], for a token whose signature is already checked.
fn present_verified(
    conn: &mut Conn,
    fields: token::TokenFields,
    shop_region: &str,
    now: DateTime<Utc>,
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
    let closed: Option<String> =
        with_conn!(conn, c => months::table.find(month.as_ref()).select(months::status).first(c).optional())?;
    if closed.as_deref() == Some("closed") || now >= month.end_instant() {
        return Err(AppError::new(ErrorCode::MonthClosed, format!("Срок ваучера истёк: месяц {month} закончился")));
    }
    match VoucherStatus::parse(&voucher.status) {
        Some(VoucherStatus::Activated) => {}
        Some(VoucherStatus::Issued) => {
            return Err(AppError::new(
                ErrorCode::NotActivated,
                "Ваучер не активирован: покупатель должен активировать его в приложении",
            ))
        }
        Some(VoucherStatus::Exhausted) => return Err(exhausted()),
        _ => {
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

fn line_error(code: ErrorCode, index: usize, message: impl Into<String>) -> AppError {
    AppError::new(code, message).with("line", index)
}

/// Prices one line: amounts for pieces, or per-kg prices times grams / 1000, rounded half up.
pub fn price_line(unit: Unit, quantity: i64, shelf: Tiyn, reduced: Tiyn) -> Option<(Tiyn, Tiyn)> {
    match unit {
        Unit::Piece => Some((shelf.checked_mul(quantity)?, reduced.checked_mul(quantity)?)),
        Unit::Kg => Some((shelf.mul_div_round(quantity, 1000)?, reduced.mul_div_round(quantity, 1000)?)),
    }
}

/// Whether the discount per unit is within the cap, in basis points of the shelf price (Alg. p.12).
pub fn within_cap(shelf: Tiyn, reduced: Tiyn, cap_bp: i32) -> bool {
    let discount = i128::from(shelf.get()) - i128::from(reduced.get());
    discount * 10_000 <= i128::from(shelf.get()) * i128::from(cap_bp)
}

type ProductRow = (String, String, String, i32, bool);

/// What authorise can judge before it takes the write lock: the request's shape, each token's
/// signature and expiry, each line's code, product, cap and price. None of it depends on balances,
/// holds or nonces, so it runs beside other tills' writes, and the one writer only does the
/// stateful part ([`authorize`]).
///
/// Refusals are kept, not returned, so that [`authorize`] answers them in the same order as a
/// single pass would (a token's state before a line's code) and only after the idempotency key
/// had its chance to replay a stored answer.
pub struct Checked(Result<CheckedBasket, AppError>);

struct CheckedBasket {
    shop_region: String,
    /// Each token's verdict in scan order.
    tokens: Vec<Result<token::TokenFields, AppError>>,
    /// The priced lines, or the first line's refusal.
    lines: Result<Priced, AppError>,
}

struct Priced {
    lines: Vec<BasketLine>,
    discount: Tiyn,
    to_pay: Tiyn,
}

/// The stateless checks of a basket (see [`Checked`]), on a read connection. Only a failure of the
/// database itself is returned as an error.
pub fn check(conn: &mut Conn, till: &Till, req: &AuthorizeRequest, now: DateTime<Utc>) -> AppResult<Checked> {
    if let Err(e) = check_shape(req) {
        return Ok(Checked(Err(e)));
    }
    let shop_region = match shop_of(conn, &till.shop_id) {
        Ok((_, region)) => region,
        Err(e) if e.code == ErrorCode::ShopNotFound => return Ok(Checked(Err(e))),
        Err(e) => return Err(e),
    };
    let keys = keys::verifying_keys(conn)?;
    let tokens = req.tokens.iter().map(|text| verify_token(text, &keys, now)).collect();
    let lines = match price_lines(conn, &req.lines, now) {
        Err(e) if e.code == ErrorCode::Internal => return Err(e),
        other => other,
    };
    Ok(Checked(Ok(CheckedBasket { shop_region, tokens, lines })))
}

fn check_shape(req: &AuthorizeRequest) -> AppResult<()> {
    if req.tokens.is_empty() || req.tokens.len() > MAX_TOKENS {
        return Err(AppError::validation("tokens", format!("отсканируйте от 1 до {MAX_TOKENS} QR-кодов ваучеров")));
    }
    if req.lines.is_empty() || req.lines.len() > MAX_LINES {
        return Err(AppError::validation("lines", format!("в покупке от 1 до {MAX_LINES} строк")));
    }
    for (i, l) in req.lines.iter().enumerate() {
        if l.quantity <= 0 {
            return Err(AppError::validation(&format!("lines[{i}].quantity"), "количество должно быть больше нуля")
                .with("line", i));
        }
        if l.shelf_price_tiyn <= 0 || l.reduced_price_tiyn < 0 || l.reduced_price_tiyn > l.shelf_price_tiyn {
            return Err(AppError::validation(
                &format!("lines[{i}].reduced_price_tiyn"),
                "цена со скидкой должна быть от нуля до обычной цены",
            )
            .with("line", i));
        }
    }
    Ok(())
}

/// The lines: SZPT product, cap, expiry, serial not twice in the basket; priced.
fn price_lines(conn: &mut Conn, req_lines: &[BasketLineIn], now: DateTime<Utc>) -> AppResult<Priced> {
    let today = BusinessDay::of(now).date();
    let mut lines = Vec::with_capacity(req_lines.len());
    let mut serials_seen = HashSet::new();
    let mut product_cache: HashMap<String, Option<ProductRow>> = HashMap::new();
    for (i, l) in req_lines.iter().enumerate() {
        let code = gs1::parse(&l.code).map_err(|e| {
            line_error(ErrorCode::CodeInvalid, i, format!("Строка {}: {e}", i + 1)).with("reason", e.reason())
        })?;
        let gtin = code.gtin.as_str().to_owned();
        if !product_cache.contains_key(&gtin) {
            let row: Option<ProductRow> = with_conn!(conn, c => products::table
                .inner_join(catalog_groups::table)
                .filter(products::gtin.eq(&gtin))
                .select((products::group_code, products::name, products::unit, products::discount_cap_bp, catalog_groups::in_force))
                .first(c)
                .optional())?;
            product_cache.insert(gtin.clone(), row);
        }
        let Some((group, name, unit, cap_bp, in_force)) = product_cache[&gtin].clone() else {
            return Err(line_error(
                ErrorCode::NotSzptProduct,
                i,
                format!("Строка {}: товар {gtin} не входит в перечень СЗПТ", i + 1),
            ));
        };
        if !in_force {
            return Err(line_error(
                ErrorCode::NotSzptProduct,
                i,
                format!("Строка {}: группа «{group}» больше не входит в перечень СЗПТ", i + 1),
            ));
        }
        if code.expiry.is_some_and(|d| d < today) {
            return Err(line_error(
                ErrorCode::ProductExpired,
                i,
                format!("Строка {}: срок годности товара истёк", i + 1),
            ));
        }
        let unit = Unit::parse(&unit).unwrap_or(Unit::Piece);
        if code.serial.is_some() && unit == Unit::Piece && l.quantity != 1 {
            return Err(AppError::validation(
                &format!("lines[{i}].quantity"),
                "товар с серийным кодом продаётся поштучно: количество 1",
            )
            .with("line", i));
        }
        let (shelf, reduced) = (Tiyn::new(l.shelf_price_tiyn), Tiyn::new(l.reduced_price_tiyn));
        if !within_cap(shelf, reduced, cap_bp) {
            let max = shelf.mul_div_round(i64::from(cap_bp), 10_000).unwrap_or(Tiyn::ZERO);
            return Err(line_error(
                ErrorCode::DiscountOverCap,
                i,
                format!("Строка {}: скидка больше допустимой ({} на единицу)", i + 1, max),
            )
            .with("cap_bp", cap_bp)
            .with("max_discount_tiyn", max.get()));
        }
        let (shelf_amount, to_pay) = price_line(unit, l.quantity, shelf, reduced).ok_or_else(|| {
            AppError::validation(&format!("lines[{i}].quantity"), "слишком большая сумма строки").with("line", i)
        })?;
        if let Some(serial) = &code.serial {
            if !serials_seen.insert((gtin.clone(), serial.clone())) {
                return Err(line_error(
                    ErrorCode::CodeAlreadySold,
                    i,
                    format!("Строка {}: этот код уже в покупке", i + 1),
                ));
            }
        }
        lines.push(BasketLine {
            index: i,
            gtin,
            serial: code.serial.clone(),
            group,
            name,
            unit,
            quantity: l.quantity,
            shelf_price_tiyn: shelf.get(),
            reduced_price_tiyn: reduced.get(),
            shelf_amount_tiyn: shelf_amount.get(),
            to_pay_tiyn: to_pay.get(),
            discount_tiyn: shelf_amount.get() - to_pay.get(),
            refunded: false,
        });
    }
    let sum = |f: fn(&BasketLine) -> i64| lines.iter().try_fold(Tiyn::ZERO, |acc, l| acc.checked_add(Tiyn::new(f(l))));
    let overflow = || AppError::validation("lines", "слишком большая сумма покупки");
    let discount = sum(|l| l.discount_tiyn).ok_or_else(overflow)?;
    let to_pay = sum(|l| l.to_pay_tiyn).ok_or_else(overflow)?;
    // The shelf total must be representable too (it is what the shop reports).
    sum(|l| l.shelf_amount_tiyn).ok_or_else(overflow)?;
    Ok(Priced { lines, discount, to_pay })
}

/// Authorises a checked basket: places the hold and answers what the customer pays (SPEC §3.3).
/// Runs in the write transaction; `checked` comes from [`check`] on the same request.
pub(crate) fn authorize(
    conn: &mut Conn,
    till: &Till,
    checked: &Checked,
    hold: Duration,
    now: DateTime<Utc>,
) -> AppResult<Authorized> {
    let checked = checked.0.as_ref().map_err(AppError::again)?;
    let mut verified = Vec::with_capacity(checked.tokens.len());
    for verdict in &checked.tokens {
        verified.push(verdict.as_ref().map_err(AppError::again)?.clone());
    }
    lock_for(conn, &verified)?;

    // The vouchers, in the order scanned; all of one family and month.
    let mut presented: Vec<Presented> = Vec::with_capacity(verified.len());
    for fields in verified {
        let p = present_verified(conn, fields, &checked.shop_region, now)?;
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
    let first = &presented[0].voucher;
    let family_status: Option<String> = with_conn!(conn, c => family_months::table
        .find((&first.month, &first.family_id))
        .select(family_months::status)
        .first(c)
        .optional())?;
    if family_status.as_deref() != Some(FamilyStatus::Consented.as_str()) {
        return Err(AppError::new(ErrorCode::NoConsent, "Семья отказалась от ваучера в этом месяце"));
    }
    let Priced { lines, discount, to_pay } = checked.lines.as_ref().map_err(AppError::again)?;
    let (discount, to_pay) = (*discount, *to_pay);

    let available: i64 = presented.iter().map(|p| p.voucher.balance_tiyn).sum();
    if available == 0 && discount.get() > 0 {
        return Err(exhausted());
    }
    if available < discount.get() {
        return Err(insufficient(available));
    }

    let hold_expires_at = now + hold;
    let basket_id: i64 = with_conn!(conn, c => diesel::insert_into(baskets::table)
        .values((
            baskets::shop_id.eq(&till.shop_id),
            baskets::terminal_id.eq(&till.terminal_id),
            baskets::cashier.eq(&till.login),
            baskets::month.eq(&first.month),
            baskets::family_id.eq(&first.family_id),
            baskets::status.eq(BasketStatus::Authorized.as_str()),
            baskets::discount_tiyn.eq(discount.get()),
            baskets::to_pay_tiyn.eq(to_pay.get()),
            baskets::created_at.eq(now.naive_utc()),
            baskets::hold_expires_at.eq(hold_expires_at.naive_utc()),
        ))
        .returning(baskets::id)
        .get_result(c))?;

    // The hold: drawn in the order scanned, each draw one conditional UPDATE.
    let mut remaining = discount.get();
    let mut charges = Vec::with_capacity(presented.len());
    for (seq, p) in presented.iter().enumerate() {
        let take = remaining.min(p.voucher.balance_tiyn);
        if take > 0 {
            let moved = with_conn!(conn, c => diesel::update(vouchers::table
                    .filter(vouchers::id.eq(p.voucher.id))
                    .filter(vouchers::status.eq("activated"))
                    .filter(vouchers::balance_tiyn.ge(take)))
                .set((vouchers::balance_tiyn.eq(vouchers::balance_tiyn - take), vouchers::held_tiyn.eq(vouchers::held_tiyn + take)))
                .execute(c))?;
            if moved != 1 {
                // Another till spent it between our read and this update: nothing is held.
                let now_available = current_balance(conn, &presented)?;
                return Err(insufficient(now_available));
            }
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
    for l in serialised {
        if let Some(serial) = &l.serial {
            let claimed = with_conn!(conn, c => diesel::insert_into(serial_claims::table)
                .values((serial_claims::gtin.eq(&l.gtin), serial_claims::serial.eq(serial), serial_claims::basket_id.eq(basket_id)))
                .on_conflict_do_nothing()
                .execute(c))?;
            if claimed != 1 {
                return Err(line_error(
                    ErrorCode::CodeAlreadySold,
                    l.index,
                    format!("Строка {}: товар с этим кодом уже продан или в другой покупке", l.index + 1),
                ));
            }
        }
    }
    let line_rows: Vec<_> = lines
        .iter()
        .map(|l| {
            (
                basket_lines::basket_id.eq(basket_id),
                basket_lines::idx.eq(l.index as i32),
                basket_lines::gtin.eq(&l.gtin),
                basket_lines::serial.eq(l.serial.as_ref()),
                basket_lines::group_code.eq(&l.group),
                basket_lines::name.eq(&l.name),
                basket_lines::unit.eq(l.unit.as_str()),
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
    with_conn!(conn, c => diesel::insert_into(basket_lines::table).values(&line_rows).execute(c))?;
    remember_prices(conn, &till.shop_id, lines, now)?;
    audit::record(
        conn,
        &[Entry::new(now, &till.actor(), "basket", basket_id.to_string(), None, BasketStatus::Authorized.as_str())
            .detail(format!("discount_tiyn={} vouchers={}", discount.get(), charges.len()))],
    )?;
    tracing::info!(basket_id, discount_tiyn = discount.get(), vouchers = charges.len(), "basket authorized");
    Ok(Authorized {
        basket_id,
        status: BasketStatus::Authorized,
        discount_tiyn: discount.get(),
        to_pay_tiyn: to_pay.get(),
        hold_expires_at,
        vouchers: charges,
        lines: lines.clone(),
    })
}

/// Takes the locks of an authorisation in the house order (see [`locks`]): the months of the
/// tokens, then their vouchers by id; what is read about them afterwards is current.
fn lock_for(conn: &mut Conn, tokens: &[token::TokenFields]) -> AppResult<()> {
    let mut months: Vec<Month> = tokens.iter().map(|t| t.month).collect();
    months.sort();
    months.dedup();
    for month in months {
        locks::lock_month(conn, month, MonthLock::Shared)?;
    }
    let ids: Vec<i64> = tokens.iter().filter_map(|t| i64::try_from(t.voucher_id).ok()).collect();
    locks::lock_vouchers(conn, &ids)
}

fn insufficient(available: i64) -> AppError {
    AppError::new(
        ErrorCode::InsufficientBalance,
        format!("Скидка больше остатка ваучера ({}): уберите часть товаров", Tiyn::new(available)),
    )
    .with("balance_tiyn", available)
}

fn current_balance(conn: &mut Conn, presented: &[Presented]) -> AppResult<i64> {
    let ids: Vec<i64> = presented.iter().map(|p| p.voucher.id).collect();
    let balances: Vec<i64> = with_conn!(conn, c => vouchers::table.filter(vouchers::id.eq_any(&ids)).select(vouchers::balance_tiyn).load(c))?;
    Ok(balances.iter().sum())
}

/// Keeps the shop's last prices per GTIN, to pre-fill the next basket line at the till.
///
/// The rows are written in GTIN order, once each (the basket's last line of a GTIN wins): two
/// baskets of one shop that take the same rows in different orders would deadlock on PostgreSQL.
fn remember_prices(conn: &mut Conn, shop_id: &str, lines: &[BasketLine], now: DateTime<Utc>) -> AppResult<()> {
    let latest: std::collections::BTreeMap<&str, &BasketLine> = lines.iter().map(|l| (l.gtin.as_str(), l)).collect();
    for l in latest.into_values() {
        with_conn!(conn, c => diesel::insert_into(shop_prices::table)
            .values((
                shop_prices::shop_id.eq(shop_id),
                shop_prices::gtin.eq(&l.gtin),
                shop_prices::shelf_price_tiyn.eq(l.shelf_price_tiyn),
                shop_prices::reduced_price_tiyn.eq(l.reduced_price_tiyn),
                shop_prices::updated_at.eq(now.naive_utc()),
            ))
            .on_conflict((shop_prices::shop_id, shop_prices::gtin))
            .do_update()
            .set((
                shop_prices::shelf_price_tiyn.eq(l.shelf_price_tiyn),
                shop_prices::reduced_price_tiyn.eq(l.reduced_price_tiyn),
                shop_prices::updated_at.eq(now.naive_utc()),
            ))
            .execute(c))?;
    }
    Ok(())
}

/// The masked holder name a till may show.
pub fn holder(voucher: &VoucherRow) -> String {
    mask_name(&voucher.member_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_pieces_and_grams_half_up() {
        assert_eq!(
            price_line(Unit::Piece, 3, Tiyn::new(50_000), Tiyn::new(45_000)),
            Some((Tiyn::new(150_000), Tiyn::new(135_000)))
        );
        // 1 kg at 499 tiyn, 1 500 g: 748.5 -> 749.
        assert_eq!(price_line(Unit::Kg, 1_500, Tiyn::new(499), Tiyn::new(425)), Some((Tiyn::new(749), Tiyn::new(638))));
        assert_eq!(price_line(Unit::Piece, i64::MAX, Tiyn::new(2), Tiyn::new(1)), None);
    }

    #[test]
    fn cap_is_exact_at_the_limit() {
        assert!(within_cap(Tiyn::new(10_000), Tiyn::new(8_500), 1_500));
        assert!(!within_cap(Tiyn::new(10_000), Tiyn::new(8_499), 1_500));
        assert!(within_cap(Tiyn::new(333), Tiyn::new(284), 1_500)); // 49 ≤ 49.95
        assert!(!within_cap(Tiyn::new(333), Tiyn::new(283), 1_500)); // 50 > 49.95
    }
}
