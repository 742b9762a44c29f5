//! The stateless half of authorise: the request's shape, each token's signature and expiry, each
//! line's code, product, cap and price. None of it depends on balances, holds or nonces, so it runs
//! on a read connection beside other tills' writes, and the one writer only does the rest
//! ([`super::authorize`]).

use std::collections::{HashMap, HashSet};

use azyq_shared::api::{AuthorizeRequest, BasketLine, BasketLineIn, ErrorCode, Unit};
use azyq_shared::{gs1, token, BusinessDay, Tiyn};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ed25519_dalek::VerifyingKey;

use super::{shop_of, token_error, Till};
use crate::db::schema::{catalog_groups, products};
use crate::db::Conn;
use crate::domain::keys;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// At most this many vouchers (members of one family) and lines in one basket.
pub const MAX_TOKENS: usize = 16;
pub const MAX_LINES: usize = 200;

/// The stateless half of [`present`]: signature, key and expiry.
pub(crate) fn verify_token(
    text: &str,
    keys: &HashMap<u16, VerifyingKey>,
    now: DateTime<Utc>,
) -> AppResult<token::TokenFields> {
    token::verify(text, |kid| keys.get(&kid).copied(), now).map_err(token_error)
}

pub(crate) fn line_error(code: ErrorCode, index: usize, message: impl Into<String>) -> AppError {
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
pub struct Checked(pub(crate) Result<CheckedBasket, AppError>);

pub(crate) struct CheckedBasket {
    pub(crate) shop_region: String,
    /// Each token's verdict in scan order.
    pub(crate) tokens: Vec<Result<token::TokenFields, AppError>>,
    /// The priced lines, or the first line's refusal.
    pub(crate) lines: Result<Priced, AppError>,
}

pub(crate) struct Priced {
    pub(crate) lines: Vec<BasketLine>,
    pub(crate) discount: Tiyn,
    pub(crate) to_pay: Tiyn,
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
        if l.shelf_price_tiyn <= Tiyn::ZERO
            || l.reduced_price_tiyn < Tiyn::ZERO
            || l.reduced_price_tiyn > l.shelf_price_tiyn
        {
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
        let (shelf, reduced) = (l.shelf_price_tiyn, l.reduced_price_tiyn);
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
            shelf_price_tiyn: shelf,
            reduced_price_tiyn: reduced,
            shelf_amount_tiyn: shelf_amount,
            to_pay_tiyn: to_pay,
            // reduced ≤ shelf per unit, so the line's to-pay is at most its shelf amount.
            discount_tiyn: shelf_amount.checked_sub(to_pay).ok_or_else(|| {
                AppError::validation(&format!("lines[{i}].reduced_price_tiyn"), "слишком большая сумма строки")
                    .with("line", i)
            })?,
            refunded: false,
        });
    }
    let sum = |f: fn(&BasketLine) -> Tiyn| Tiyn::checked_sum(lines.iter().map(f));
    let overflow = || AppError::validation("lines", "слишком большая сумма покупки");
    let discount = sum(|l| l.discount_tiyn).ok_or_else(overflow)?;
    let to_pay = sum(|l| l.to_pay_tiyn).ok_or_else(overflow)?;
    // The shelf total must be representable too (it is what the shop reports).
    sum(|l| l.shelf_amount_tiyn).ok_or_else(overflow)?;
    Ok(Priced { lines, discount, to_pay })
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
