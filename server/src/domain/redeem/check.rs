//! The stateless half of authorise: the request's shape, each token's signature and expiry, each
//! line's code, product, cap and price. None of it depends on balances, holds or nonces, so it runs
//! on a read connection beside other tills' writes, and the one writer only does the rest
//! ([`super::authorize`]).

use std::collections::{HashMap, HashSet};

use azyq_shared::api::{AuthorizeRequest, BasketLine, BasketLineIn, ErrorCode, Recall, Unit};
use azyq_shared::gs1::{self, Scanned};
use azyq_shared::{token, BusinessDay, Tiyn};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ed25519_dalek::VerifyingKey;

use super::{shop_of, token_error, Till};
use crate::db::schema::{catalog_groups, products};
use crate::db::Conn;
use crate::domain::signals::CountedRefusal;
use crate::domain::{keys, limits, recalls};
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

// Pricing and the cap are the till's rules too (it checks offline sales against them): one
// definition, in the shared crate.
pub use azyq_shared::offline::{basket_totals, price_line, within_cap};

/// A catalogue product as a line needs it: GTIN, group, name, unit, own cap, group in force.
type ProductRow = (String, String, String, String, Option<i32>, bool);

/// What authorise can judge before it takes the write lock: the request's shape, each token's
/// signature and expiry, each line's code, product, recall, price limit, cap and price. None of it
/// depends on balances, holds or nonces, so it runs beside other tills' writes, and the one writer
/// only does the stateful part ([`authorize`]).
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
    pub(crate) lines: Result<Priced, Refused>,
}

pub(crate) struct Priced {
    pub(crate) lines: Vec<BasketLine>,
    /// Each line's cap in force, in line order (for the signals).
    pub(crate) caps: Vec<i32>,
    pub(crate) discount: Tiyn,
    pub(crate) to_pay: Tiyn,
}

/// A line's refusal; those the reports count (a price over the limit, recalled goods) say so.
pub(crate) struct Refused {
    pub(crate) error: AppError,
    pub(crate) counted: Option<CountedRefusal>,
}

impl From<AppError> for Refused {
    fn from(error: AppError) -> Refused {
        Refused { error, counted: None }
    }
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
    let lines = match price_lines(conn, &req.lines, &shop_region, now) {
        Err(r) if r.error.code == ErrorCode::Internal => return Err(r.error),
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
        // A scale label (even one with a wrong check digit, refused later as `code_invalid`) may
        // leave its weight out: the label says it.
        let label = !matches!(gs1::ScaleLabel::read(&l.code), Ok(None));
        if l.quantity < 0 || (l.quantity == 0 && !label) {
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

/// What the catalogue and the rules of the shop's region say about the goods of a basket, each
/// read once per request.
struct Lookups<'a> {
    region: &'a str,
    rules: Option<HashMap<String, limits::Rule>>,
    by_gtin: HashMap<String, Option<ProductRow>>,
    by_plu: HashMap<String, Option<ProductRow>>,
    recalls: HashMap<String, Vec<Recall>>,
}

impl Lookups<'_> {
    fn product(&mut self, conn: &mut Conn, gtin: &str) -> AppResult<Option<ProductRow>> {
        if !self.by_gtin.contains_key(gtin) {
            let row = product_where(conn, Key::Gtin(gtin))?;
            self.by_gtin.insert(gtin.to_owned(), row);
        }
        Ok(self.by_gtin.get(gtin).cloned().flatten())
    }

    fn product_by_plu(&mut self, conn: &mut Conn, plu: &str) -> AppResult<Option<ProductRow>> {
        if !self.by_plu.contains_key(plu) {
            let row = product_where(conn, Key::Plu(plu))?;
            self.by_plu.insert(plu.to_owned(), row);
        }
        Ok(self.by_plu.get(plu).cloned().flatten())
    }

    fn rule(&mut self, conn: &mut Conn, group: &str) -> AppResult<Option<limits::Rule>> {
        if self.rules.is_none() {
            self.rules = Some(limits::for_region(conn, self.region)?);
        }
        Ok(self.rules.as_ref().and_then(|r| r.get(group)).copied())
    }

    /// The first recall in force that covers these goods.
    fn recall(&mut self, conn: &mut Conn, gtin: &str, batch: Option<&str>) -> AppResult<Option<Recall>> {
        if !self.recalls.contains_key(gtin) {
            let list = recalls::in_force_for(conn, gtin)?;
            self.recalls.insert(gtin.to_owned(), list);
        }
        Ok(self.recalls.get(gtin).and_then(|list| list.iter().find(|r| r.covers(gtin, batch)).cloned()))
    }
}

/// How a line names its product: by GTIN, or (a scale label) by PLU.
#[derive(Clone, Copy)]
enum Key<'a> {
    Gtin(&'a str),
    Plu(&'a str),
}

fn product_where(conn: &mut Conn, key: Key) -> AppResult<Option<ProductRow>> {
    let select = (
        products::gtin,
        products::group_code,
        products::name,
        products::unit,
        products::discount_cap_bp,
        catalog_groups::in_force,
    );
    Ok(with_conn!(conn, c => {
        let q = products::table.inner_join(catalog_groups::table).select(select).into_boxed();
        let q = match key {
            Key::Gtin(g) => q.filter(products::gtin.eq(g.to_owned())),
            Key::Plu(p) => q.filter(products::plu.eq(p.to_owned())),
        };
        q.first(c).optional()
    })?)
}

/// The lines: SZPT product (by GTIN, or by PLU for a scale label), expiry, recall, price limit,
/// cap, serial not twice in the basket; priced.
fn price_lines(
    conn: &mut Conn,
    req_lines: &[BasketLineIn],
    region: &str,
    now: DateTime<Utc>,
) -> Result<Priced, Refused> {
    let today = BusinessDay::of(now).date();
    let mut lines = Vec::with_capacity(req_lines.len());
    let mut caps = Vec::with_capacity(req_lines.len());
    let mut serials_seen = HashSet::new();
    let mut look =
        Lookups { region, rules: None, by_gtin: HashMap::new(), by_plu: HashMap::new(), recalls: HashMap::new() };
    for (i, l) in req_lines.iter().enumerate() {
        let scanned = gs1::scan(&l.code).map_err(|e| {
            line_error(ErrorCode::CodeInvalid, i, format!("Строка {}: {e}", i + 1)).with("reason", e.reason())
        })?;
        let (row, code) = match &scanned {
            Scanned::Product(code) => (look.product(conn, code.gtin.as_str())?, Some(code)),
            Scanned::Label(label) => (look.product_by_plu(conn, label.plu.as_str())?, None),
        };
        let Some((gtin, group, name, unit, own_cap, in_force)) = row else {
            let what = match &scanned {
                Scanned::Product(code) => format!("товар {}", code.gtin.as_str()),
                Scanned::Label(label) => format!("весовой товар с PLU {} (этикетка весов)", label.plu),
            };
            return Err(line_error(
                ErrorCode::NotSzptProduct,
                i,
                format!("Строка {}: {what} не входит в перечень СЗПТ", i + 1),
            )
            .into());
        };
        if !in_force {
            return Err(line_error(
                ErrorCode::NotSzptProduct,
                i,
                format!("Строка {}: группа «{group}» больше не входит в перечень СЗПТ", i + 1),
            )
            .into());
        }
        let unit = Unit::parse(&unit).unwrap_or(Unit::Piece);
        let mut quantity = l.quantity;
        if let Scanned::Label(label) = &scanned {
            // The label is the scale's word for the weight: a line may leave it out, not say
            // otherwise.
            let grams = i64::from(label.grams);
            if quantity == 0 {
                quantity = grams;
            }
            if unit != Unit::Kg || quantity != grams {
                return Err(AppError::validation(
                    &format!("lines[{i}].quantity"),
                    format!("вес строки — вес на этикетке весов: {} г", label.grams),
                )
                .with("line", i)
                .with("label_grams", label.grams)
                .into());
            }
        }
        if code.and_then(|c| c.expiry).is_some_and(|d| d < today) {
            return Err(line_error(
                ErrorCode::ProductExpired,
                i,
                format!("Строка {}: срок годности товара истёк", i + 1),
            )
            .into());
        }
        let batch = code.and_then(|c| c.batch.as_deref());
        if let Some(recall) = look.recall(conn, &gtin, batch)? {
            let error = line_error(
                ErrorCode::ProductRecalled,
                i,
                format!("Строка {}: товар отозван — {}. Продавать его нельзя", i + 1, recall.reason),
            )
            .with("reason", recall.reason.clone())
            .with("recall_id", recall.id);
            let counted =
                CountedRefusal { code: ErrorCode::ProductRecalled, line: i, gtin, recall_id: Some(recall.id) };
            return Err(Refused { error, counted: Some(counted) });
        }
        let serial = code.and_then(|c| c.serial.clone());
        if serial.is_some() && unit == Unit::Piece && quantity != 1 {
            return Err(AppError::validation(
                &format!("lines[{i}].quantity"),
                "товар с серийным кодом продаётся поштучно: количество 1",
            )
            .with("line", i)
            .into());
        }
        let (shelf, reduced) = (l.shelf_price_tiyn, l.reduced_price_tiyn);
        let rule = look.rule(conn, &group)?;
        if let Some(max) = rule.and_then(|r| r.max_shelf).filter(|max| shelf > *max) {
            let per = if unit == Unit::Kg { " за кг" } else { "" };
            let error = line_error(
                ErrorCode::PriceOverLimit,
                i,
                format!("Строка {}: цена {shelf}{per} выше предельной цены {max}{per} в этом регионе", i + 1),
            )
            .with("max_shelf_price_tiyn", max.get());
            let counted = CountedRefusal { code: ErrorCode::PriceOverLimit, line: i, gtin, recall_id: None };
            return Err(Refused { error, counted: Some(counted) });
        }
        let cap_bp = limits::effective_cap(own_cap, rule.as_ref());
        if !within_cap(shelf, reduced, cap_bp) {
            let max = shelf.mul_div_round(i64::from(cap_bp), 10_000).unwrap_or(Tiyn::ZERO);
            return Err(line_error(
                ErrorCode::DiscountOverCap,
                i,
                format!("Строка {}: скидка больше допустимой ({} на единицу)", i + 1, max),
            )
            .with("cap_bp", cap_bp)
            .with("max_discount_tiyn", max.get())
            .into());
        }
        let (shelf_amount, to_pay) = price_line(unit, quantity, shelf, reduced).ok_or_else(|| {
            AppError::validation(&format!("lines[{i}].quantity"), "слишком большая сумма строки").with("line", i)
        })?;
        if let Some(serial) = &serial {
            if !serials_seen.insert((gtin.clone(), serial.clone())) {
                return Err(line_error(
                    ErrorCode::CodeAlreadySold,
                    i,
                    format!("Строка {}: этот код уже в покупке", i + 1),
                )
                .into());
            }
        }
        // reduced ≤ shelf per unit, so the line's to-pay is at most its shelf amount.
        let discount = shelf_amount.checked_sub(to_pay).ok_or_else(|| {
            AppError::validation(&format!("lines[{i}].reduced_price_tiyn"), "слишком большая сумма строки")
                .with("line", i)
        })?;
        lines.push(BasketLine {
            index: i,
            gtin,
            serial,
            group,
            name,
            unit,
            quantity,
            shelf_price_tiyn: shelf,
            reduced_price_tiyn: reduced,
            shelf_amount_tiyn: shelf_amount,
            to_pay_tiyn: to_pay,
            discount_tiyn: discount,
            refunded: false,
        });
        caps.push(cap_bp);
    }
    let (discount, to_pay) =
        basket_totals(&lines).ok_or_else(|| AppError::validation("lines", "слишком большая сумма покупки"))?;
    Ok(Priced { lines, caps, discount, to_pay })
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
        // Issue 15's scale label: 1 250 g at 300,00 ₸/kg, 255,00 ₸/kg reduced: 56,25 ₸ off.
        let (shelf, to_pay) = price_line(Unit::Kg, 1_250, Tiyn::new(30_000), Tiyn::new(25_500)).unwrap();
        assert_eq!((shelf.get(), to_pay.get(), (shelf - to_pay).get()), (37_500, 31_875, 5_625));
    }

    #[test]
    fn cap_is_exact_at_the_limit() {
        assert!(within_cap(Tiyn::new(10_000), Tiyn::new(8_500), 1_500));
        assert!(!within_cap(Tiyn::new(10_000), Tiyn::new(8_499), 1_500));
        assert!(within_cap(Tiyn::new(333), Tiyn::new(284), 1_500)); // 49 ≤ 49.95
        assert!(!within_cap(Tiyn::new(333), Tiyn::new(283), 1_500)); // 50 > 49.95
    }
}
