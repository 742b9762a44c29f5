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
use crate::db::fixed::{self, Fixed};
use crate::db::schema::{catalog_groups, products};
use crate::db::Conn;
use crate::domain::signals::CountedRefusal;
use crate::domain::{accounts, keys, limits, recalls};
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

/// The stateless checks of a basket (see [`Checked`]). Everything they read comes from
/// [`Lookups::read`]: on PostgreSQL one statement (one round trip, no transaction needed), on
/// SQLite a few cached statements (the caller runs them in one read transaction). Only a failure of
/// the database itself is returned as an error.
///
/// `session`: the credential version of the till's session token when its account is still to be
/// checked (read in the same statement); a session that no longer stands is 401, before anything.
pub fn check(
    conn: &mut Conn,
    till: &Till,
    session: Option<i32>,
    req: &AuthorizeRequest,
    now: DateTime<Utc>,
) -> AppResult<Checked> {
    let shape = check_shape(req);
    if session.is_none() {
        if let Err(e) = shape {
            return Ok(Checked(Err(e)));
        }
    }
    let look = Lookups::read(conn, till, &req.lines)?;
    if session.is_some() && look.cashier_version != session {
        return Err(accounts::sessions::session_ended());
    }
    if let Err(e) = shape {
        return Ok(Checked(Err(e)));
    }
    let Some(shop_region) = look.region.clone() else {
        return Ok(Checked(Err(AppError::new(ErrorCode::ShopNotFound, "Магазин не найден"))));
    };
    let keys = keys::verifying_keys_of(look.keys.iter().cloned())?;
    let tokens = req.tokens.iter().map(|text| verify_token(text, &keys, now)).collect();
    let lines = price_lines(&look, &req.lines, now);
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

/// What the shop, the keys, the catalogue, the recalls and the rules of the shop's region say
/// about the goods of a basket, read at once before the lines are judged.
#[derive(Debug, Default)]
pub(crate) struct Lookups {
    /// The shop's region (`None`: no such shop).
    region: Option<String>,
    /// The till's cashier's credential version (`None`: removed, or no such cashier).
    cashier_version: Option<i32>,
    /// The keys not retired: (kid, public half).
    keys: Vec<(i32, String)>,
    by_gtin: HashMap<String, ProductRow>,
    by_plu: HashMap<String, ProductRow>,
    /// The recalls in force of the products found, by GTIN, in id order.
    recalls: HashMap<String, Vec<Recall>>,
    /// The price limits of the shop's region, by group.
    rules: HashMap<String, limits::Rule>,
}

/// The codes a basket's lines name: GTINs, and the PLUs of scale labels (lines whose code does
/// not scan name nothing; they are refused in line order later).
fn codes_of(lines: &[BasketLineIn]) -> (Vec<String>, Vec<String>) {
    let (mut gtins, mut plus) = (Vec::new(), Vec::new());
    for l in lines {
        match gs1::scan(&l.code) {
            Ok(Scanned::Product(code)) => gtins.push(code.gtin.as_str().to_owned()),
            Ok(Scanned::Label(label)) => plus.push(label.plu.as_str().to_owned()),
            Err(_) => {}
        }
    }
    for v in [&mut gtins, &mut plus] {
        v.sort();
        v.dedup();
    }
    (gtins, plus)
}

/// PostgreSQL: every look-up of [`Lookups`] in one statement, answered as one JSON document.
const LOOKUPS_PG: &str = "SELECT json_build_object( \
 'region', (SELECT s.region FROM shops s WHERE s.shop_id = $1), \
 'cashier_version', (SELECT c.credential_version FROM cashiers c \
   WHERE c.shop_id = $1 AND c.login = $4 AND c.removed_at IS NULL), \
 'keys', (SELECT coalesce(json_agg(json_build_array(k.kid, k.public_key) ORDER BY k.kid), '[]') \
   FROM voucher_keys k WHERE NOT k.retired), \
 'products', (SELECT coalesce(json_agg(json_build_array(p.gtin, p.plu, p.group_code, p.name, p.unit, \
   p.discount_cap_bp, g.in_force)), '[]') FROM products p JOIN catalog_groups g ON g.code = p.group_code \
   WHERE p.gtin = ANY($2) OR p.plu = ANY($3)), \
 'recalls', (SELECT coalesce(json_agg(json_build_array(r.id, r.gtin, r.batch, r.reason, r.created_at) ORDER BY r.id), '[]') \
   FROM recalls r WHERE r.lifted_at IS NULL \
   AND r.gtin IN (SELECT p.gtin FROM products p WHERE p.gtin = ANY($2) OR p.plu = ANY($3))), \
 'rules', (SELECT coalesce(json_agg(json_build_array(l.group_code, l.max_shelf_price_tiyn, l.discount_cap_bp)), '[]') \
   FROM price_limits l WHERE l.region = (SELECT s.region FROM shops s WHERE s.shop_id = $1)) \
)::text AS doc";

/// A product as [`LOOKUPS_PG`] answers it: GTIN, PLU, group, name, unit, own cap, group in force.
type ProductWithPlu = (String, Option<String>, String, String, String, Option<i32>, bool);

/// [`LOOKUPS_PG`]'s answer.
#[derive(serde::Deserialize)]
struct LookupsDoc {
    region: Option<String>,
    cashier_version: Option<i32>,
    keys: Vec<(i32, String)>,
    products: Vec<ProductWithPlu>,
    recalls: Vec<(i64, String, Option<String>, String, chrono::NaiveDateTime)>,
    rules: Vec<(String, Option<i64>, Option<i32>)>,
}

impl Lookups {
    /// Reads what a basket's lines need (see [`Lookups`]).
    fn read(conn: &mut Conn, till: &Till, lines: &[BasketLineIn]) -> AppResult<Lookups> {
        let shop_id = till.shop_id.as_str();
        let (gtins, plus) = codes_of(lines);
        match conn {
            Conn::Pg(c) => {
                let doc: fixed::Doc = Fixed::numbered(LOOKUPS_PG)
                    .bind(shop_id)
                    .bind(&gtins)
                    .bind(&plus)
                    .bind(&till.login)
                    .by_name()
                    .get_result(*c)?;
                let d: LookupsDoc = doc.parse("authorise's look-ups")?;
                let mut look = Lookups {
                    region: d.region,
                    cashier_version: d.cashier_version,
                    keys: d.keys,
                    ..Lookups::default()
                };
                for (gtin, plu, group, name, unit, cap, in_force) in d.products {
                    let row = (gtin.clone(), group, name, unit, cap, in_force);
                    if let Some(plu) = plu.filter(|p| plus.contains(p)) {
                        look.by_plu.insert(plu, row.clone());
                    }
                    look.by_gtin.insert(gtin, row);
                }
                for (id, gtin, batch, reason, created_at) in d.recalls {
                    let recall = Recall { id, gtin: gtin.clone(), batch, reason, created_at: created_at.and_utc() };
                    look.recalls.entry(gtin).or_default().push(recall);
                }
                look.rules = d
                    .rules
                    .into_iter()
                    .map(|(group, max, cap_bp)| (group, limits::Rule { max_shelf: max.map(Tiyn::new), cap_bp }))
                    .collect();
                Ok(look)
            }
            Conn::Sqlite(_) => {
                // In-process: each look-up is a cached statement of a fixed shape.
                let mut look = Lookups {
                    cashier_version: accounts::sessions::cashier_version(conn, shop_id, &till.login)?,
                    ..Lookups::default()
                };
                let region = match shop_of(conn, shop_id) {
                    Ok((_, region)) => region,
                    Err(e) if e.code == ErrorCode::ShopNotFound => return Ok(look),
                    Err(e) => return Err(e),
                };
                look.keys = keys::active_keys(conn)?;
                for gtin in &gtins {
                    if let Some(row) = product_where(conn, Key::Gtin(gtin))? {
                        look.by_gtin.insert(gtin.clone(), row);
                    }
                }
                for plu in &plus {
                    if let Some(row) = product_where(conn, Key::Plu(plu))? {
                        look.by_gtin.insert(row.0.clone(), row.clone());
                        look.by_plu.insert(plu.clone(), row);
                    }
                }
                let found: Vec<String> = look.by_gtin.keys().cloned().collect();
                for gtin in found {
                    let list = recalls::in_force_for(conn, &gtin)?;
                    if !list.is_empty() {
                        look.recalls.insert(gtin, list);
                    }
                }
                look.rules = limits::for_region(conn, &region)?;
                look.region = Some(region);
                Ok(look)
            }
        }
    }

    fn product(&self, gtin: &str) -> Option<ProductRow> {
        self.by_gtin.get(gtin).cloned()
    }

    fn product_by_plu(&self, plu: &str) -> Option<ProductRow> {
        self.by_plu.get(plu).cloned()
    }

    fn rule(&self, group: &str) -> Option<limits::Rule> {
        self.rules.get(group).copied()
    }

    /// The first recall in force that covers these goods.
    fn recall(&self, gtin: &str, batch: Option<&str>) -> Option<Recall> {
        self.recalls.get(gtin).and_then(|list| list.iter().find(|r| r.covers(gtin, batch)).cloned())
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
fn price_lines(look: &Lookups, req_lines: &[BasketLineIn], now: DateTime<Utc>) -> Result<Priced, Refused> {
    let today = BusinessDay::of(now).date();
    let mut lines = Vec::with_capacity(req_lines.len());
    let mut caps = Vec::with_capacity(req_lines.len());
    let mut serials_seen = HashSet::new();
    for (i, l) in req_lines.iter().enumerate() {
        let scanned = gs1::scan(&l.code).map_err(|e| {
            line_error(ErrorCode::CodeInvalid, i, format!("Строка {}: {e}", i + 1)).with("reason", e.reason())
        })?;
        let (row, code) = match &scanned {
            Scanned::Product(code) => (look.product(code.gtin.as_str()), Some(code)),
            Scanned::Label(label) => (look.product_by_plu(label.plu.as_str()), None),
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
        if let Some(recall) = look.recall(&gtin, batch) {
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
        let rule = look.rule(&group);
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
