//! Selling without a link (SPEC §3.9): the signed offline pack the till fetches while online, the
//! upload of its offline sales, and the till's own check of an offline sale against the pack.
//!
//! The pack is signed with the server's *pack key* (a key of its own, published at
//! `/.well-known/offline-pack-keys`), over `"azyq-offline-pack\0" ‖ the pack's JSON bytes`. The till
//! verifies the exact bytes it received and only then parses them ([`SignedPack::open`]).

use std::collections::HashSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
#[cfg(feature = "server")]
use utoipa::ToSchema;

use crate::api::{BasketLine, BasketLineIn, ErrorCode, ErrorDetail, Payment, PosProduct, Recall, Unit};
use crate::gs1::{self, Scanned};
use crate::token::{self, Nonce, TokenError, TokenFields};
use crate::{BusinessDay, Tiyn};

pub use crate::states::OfflineSaleStatus;

/// Prepended to the pack's bytes before signing: a pack signature can never pass for a voucher
/// token's, or the other way round.
pub const PACK_SIGNING_CONTEXT: &[u8] = b"azyq-offline-pack\0";

/// The pack layout this code reads.
pub const PACK_VERSION: u32 = 1;

/// How far a pack's `issued_at` may be ahead of the till's clock, and an offline sale's `sold_at`
/// ahead of the server's (or before its token was issued).
pub const CLOCK_SKEW_SECS: i64 = 300;

/// A pack may live at most this long; a longer one is refused as malformed.
pub const MAX_PACK_DAYS: i64 = 7;

/// At most this many sales in one upload (the till sends more in chunks).
pub const MAX_SALES_PER_UPLOAD: usize = 500;

/// Default hours a pack lives (`AZYQ_OFFLINE_PACK_HOURS`).
pub const DEFAULT_PACK_HOURS: i64 = 24;

/// Default offline discount per voucher per Almaty day on one till, in basis points of the
/// voucher's amount (`AZYQ_OFFLINE_VOUCHER_DAY_BP`): a quarter.
pub const DEFAULT_VOUCHER_DAY_BP: i32 = 2_500;

/// At most this many vouchers (members of one family) and lines in one sale, as online.
pub const MAX_TOKENS: usize = 16;
pub const MAX_LINES: usize = 200;

/// `GET /api/v1/pos/offline-pack`: the pack's JSON bytes and their signature, both base64url
/// without padding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct SignedPack {
    /// Which pack key signed it (see `/.well-known/offline-pack-keys`).
    pub kid: u16,
    /// base64url of the pack's JSON bytes ([`OfflinePack`]).
    pub pack: String,
    /// base64url of the 64-byte Ed25519 signature.
    pub signature: String,
}

/// A voucher-token public key as the pack carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct PackKey {
    pub kid: u16,
    /// The 32-byte Ed25519 key, base64url without padding.
    pub public_key: String,
    /// Tokens signed with it are refused from this instant (null: no end set).
    pub not_after: Option<DateTime<Utc>>,
}

/// The offline limits the server sets (carried in the pack).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct OfflineLimits {
    /// Offline discount per voucher per Almaty day on one till ≤ amount × bp / 10 000.
    pub voucher_day_bp: i32,
}

/// When a benefit month ends: a token of that month is refused offline from then on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct MonthEnd {
    /// `YYYY-MM`.
    pub month: String,
    pub ends_at: DateTime<Utc>,
}

/// Everything a till needs to sell while the server is out of reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct OfflinePack {
    /// [`PACK_VERSION`].
    pub version: u32,
    pub shop_id: String,
    pub terminal_id: String,
    /// The shop's two-digit region code.
    pub region: String,
    pub issued_at: DateTime<Utc>,
    /// The till does not sell offline with this pack from this instant on.
    pub expires_at: DateTime<Utc>,
    /// The voucher keys not retired.
    pub voucher_keys: Vec<PackKey>,
    /// Retired voucher keys: a token signed with one is refused (`unknown_key`).
    pub revoked_keys: Vec<u16>,
    /// Vouchers of the shop's region, of the current and previous month, that can no longer be
    /// spent (not activated, lapsed, expired, consent withdrawn) though a token minted earlier may
    /// still be valid (`voucher_not_found`).
    pub revoked_vouchers: Vec<i64>,
    /// The catalogue as the till sees it online (caps and price limits of the shop's region).
    pub products: Vec<PosProduct>,
    /// The recalls in force.
    pub recalls: Vec<Recall>,
    pub limits: OfflineLimits,
    /// The ends of the months a token may be of (current and previous).
    pub month_ends: Vec<MonthEnd>,
}

/// Why a pack was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    /// The signature does not verify with the pack key named (or no such key is known).
    #[error("the offline pack's signature does not verify")]
    Forged,
    /// The pack has expired: the till must fetch a new one before selling offline.
    #[error("the offline pack expired at {expires_at}")]
    Stale { expires_at: DateTime<Utc> },
    /// Issued more than five minutes after the till's clock: a wrong clock on one side.
    #[error("the offline pack is not valid yet (check the till's clock)")]
    NotYetValid,
    /// Not base64url, not the pack's JSON, another version, or a lifetime over seven days.
    #[error("the offline pack cannot be read")]
    Malformed,
}

/// The message a pack signature covers.
fn pack_message(bytes: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(PACK_SIGNING_CONTEXT.len() + bytes.len());
    message.extend_from_slice(PACK_SIGNING_CONTEXT);
    message.extend_from_slice(bytes);
    message
}

/// Signs the pack's exact JSON bytes with the pack key `kid`.
pub fn sign_pack(bytes: &[u8], kid: u16, key: &SigningKey) -> SignedPack {
    let signature = key.sign(&pack_message(bytes));
    SignedPack { kid, pack: URL_SAFE_NO_PAD.encode(bytes), signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()) }
}

impl SignedPack {
    /// Verifies the signature (`verify_strict`) over the bytes received, then parses them and
    /// checks the pack's times at `now`: `issued_at <= now + 5 min`, `now < expires_at`, and a
    /// lifetime of at most seven days.
    pub fn open(
        &self,
        key_for: impl Fn(u16) -> Option<VerifyingKey>,
        now: DateTime<Utc>,
    ) -> Result<OfflinePack, PackError> {
        let bytes = URL_SAFE_NO_PAD.decode(&self.pack).map_err(|_| PackError::Malformed)?;
        let signature = URL_SAFE_NO_PAD.decode(&self.signature).map_err(|_| PackError::Forged)?;
        let signature: [u8; 64] = signature.try_into().map_err(|_| PackError::Forged)?;
        let key = key_for(self.kid).ok_or(PackError::Forged)?;
        key.verify_strict(&pack_message(&bytes), &Signature::from_bytes(&signature)).map_err(|_| PackError::Forged)?;
        let pack: OfflinePack = serde_json::from_slice(&bytes).map_err(|_| PackError::Malformed)?;
        if pack.version != PACK_VERSION
            || pack.expires_at <= pack.issued_at
            || pack.expires_at - pack.issued_at > Duration::days(MAX_PACK_DAYS)
        {
            return Err(PackError::Malformed);
        }
        if pack.issued_at > now + Duration::seconds(CLOCK_SKEW_SECS) {
            return Err(PackError::NotYetValid);
        }
        if now >= pack.expires_at {
            return Err(PackError::Stale { expires_at: pack.expires_at });
        }
        Ok(pack)
    }
}

/// One sale made offline, as the till uploads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct OfflineSale {
    /// A UUID v7 (time-ordered), made by the till: the upload is idempotent by it.
    pub sale_id: String,
    pub terminal_id: String,
    /// When the receipt was given (RFC 3339).
    pub sold_at: DateTime<Utc>,
    /// Voucher tokens in the order scanned.
    pub tokens: Vec<String>,
    pub lines: Vec<BasketLineIn>,
    /// The discount the till computed (the server recomputes it).
    pub discount_tiyn: Tiyn,
    pub payment: Payment,
}

/// `POST /api/v1/pos/offline-sales`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct OfflineSales {
    /// At most [`MAX_SALES_PER_UPLOAD`], in the till's order.
    pub sales: Vec<OfflineSale>,
}

/// What became of one uploaded sale. A repeated `sale_id` answers the stored result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct OfflineSaleResult {
    pub sale_id: String,
    pub status: OfflineSaleStatus,
    /// The basket recorded for it (null when refused).
    pub basket_id: Option<i64>,
    /// Charged to the vouchers.
    pub charged_tiyn: Tiyn,
    /// The discount the vouchers could not cover: the shop's loss.
    pub shortfall_tiyn: Tiyn,
    /// Why it was refused, or which rule a `duplicate_token` broke (`token_used`); else null.
    pub code: Option<ErrorCode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(ToSchema))]
pub struct OfflineSaleResults {
    /// One per sale, in the body's order.
    pub results: Vec<OfflineSaleResult>,
}

// ---------------------------------------------------------------------------------------------
// The till's check of an offline sale.

/// What the till's journal knows of its own offline sales.
pub trait TillHistory {
    /// Whether a token with this nonce was already used on this till.
    fn nonce_used(&self, nonce: &Nonce) -> bool;
    /// This till's offline discount on the voucher not yet uploaded.
    fn pending_discount(&self, voucher_id: u64) -> Tiyn;
    /// This till's offline discount on the voucher on the Almaty day `day`.
    fn day_discount(&self, voucher_id: u64, day: NaiveDate) -> Tiyn;
}

/// One voucher's part of an offline sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineCharge {
    pub voucher_id: u64,
    pub nonce: Nonce,
    pub charged: Tiyn,
    /// What the till believes is left: the token's balance − pending − this charge.
    pub balance_after: Tiyn,
}

/// An offline sale the rules allow: priced lines and the draw from each voucher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineSaleDraft {
    pub lines: Vec<BasketLine>,
    pub discount: Tiyn,
    pub to_pay: Tiyn,
    /// In scan order, one per token.
    pub vouchers: Vec<OfflineCharge>,
}

fn refusal(code: ErrorCode, message: impl Into<String>) -> ErrorDetail {
    ErrorDetail { code, message: message.into(), details: serde_json::Map::new() }
}

fn with(mut e: ErrorDetail, key: &str, value: impl Into<serde_json::Value>) -> ErrorDetail {
    e.details.insert(key.to_owned(), value.into());
    e
}

fn line_refusal(code: ErrorCode, index: usize, message: String) -> ErrorDetail {
    with(refusal(code, message), "line", index)
}

fn validation(field: &str, message: impl Into<String>) -> ErrorDetail {
    with(refusal(ErrorCode::Validation, message), "field", field)
}

/// Prices one line: amounts for pieces, or per-kg prices times grams / 1000, rounded half up.
///
/// For goods sold by weight the shelf amount and the amount to pay are each rounded half up to a
/// whole tiyn, and the discount is their difference, so the three always add up: 1 250 g at
/// 300,00 ₸/kg (30 000 tiyn) is exactly 37 500 tiyn, at 255,00 ₸/kg exactly 31 875, a discount of
/// 5 625 tiyn (56,25 ₸). Integer arithmetic throughout ([`Tiyn::mul_div_round`], in i128). The
/// server prices online baskets with this same function.
pub fn price_line(unit: Unit, quantity: i64, shelf: Tiyn, reduced: Tiyn) -> Option<(Tiyn, Tiyn)> {
    match unit {
        Unit::Piece => Some((shelf.checked_mul(quantity)?, reduced.checked_mul(quantity)?)),
        Unit::Kg => Some((shelf.mul_div_round(quantity, 1000)?, reduced.mul_div_round(quantity, 1000)?)),
    }
}

/// A basket's discount and to-pay totals, or `None` when a total (the shelf total included,
/// which the shop reports) does not fit in a `Tiyn`. Online and offline baskets alike.
pub fn basket_totals(lines: &[BasketLine]) -> Option<(Tiyn, Tiyn)> {
    let sum = |f: fn(&BasketLine) -> Tiyn| Tiyn::checked_sum(lines.iter().map(f));
    sum(|l| l.shelf_amount_tiyn)?;
    Some((sum(|l| l.discount_tiyn)?, sum(|l| l.to_pay_tiyn)?))
}

/// Whether the discount per unit is within the cap, in basis points of the shelf price (Alg. p.12).
pub fn within_cap(shelf: Tiyn, reduced: Tiyn, cap_bp: i32) -> bool {
    let discount = i128::from(shelf.get()) - i128::from(reduced.get());
    discount * 10_000 <= i128::from(shelf.get()) * i128::from(cap_bp)
}

impl OfflinePack {
    /// The voucher key `kid` if the pack lists it, it is not revoked and not past its `not_after`.
    pub fn voucher_key(&self, kid: u16, now: DateTime<Utc>) -> Option<VerifyingKey> {
        if self.revoked_keys.contains(&kid) {
            return None;
        }
        let key = self.voucher_keys.iter().find(|k| k.kid == kid)?;
        if key.not_after.is_some_and(|end| now > end) {
            return None;
        }
        let bytes: [u8; 32] = URL_SAFE_NO_PAD.decode(&key.public_key).ok()?.try_into().ok()?;
        VerifyingKey::from_bytes(&bytes).ok()
    }

    /// Checks a scanned token as the till does offline: decode, key from the pack, signature,
    /// expiry. A format-1 token is refused: it carries no balance.
    pub fn verify_token(&self, text: &str, now: DateTime<Utc>) -> Result<TokenFields, ErrorDetail> {
        let fields = token::verify(text, |kid| self.voucher_key(kid, now), now).map_err(token_refusal)?;
        if fields.offline.is_none() {
            return Err(format_1_refusal());
        }
        Ok(fields)
    }

    /// The offline day limit of a voucher of this `amount`.
    pub fn day_limit(&self, amount: Tiyn) -> Tiyn {
        amount.mul_div_round(i64::from(self.limits.voucher_day_bp), 10_000).unwrap_or(Tiyn::ZERO).max(Tiyn::ZERO)
    }
}

fn format_1_refusal() -> ErrorDetail {
    with(
        refusal(ErrorCode::TokenInvalid, "QR-код старого формата не несёт остатка: покажите свежий QR-код"),
        "reason",
        "format 1 carries no balance: show a fresh QR",
    )
}

/// The till's answer to a token refused by [`token::verify`].
pub fn token_refusal(e: TokenError) -> ErrorDetail {
    match e {
        TokenError::Invalid(reason) => {
            with(refusal(ErrorCode::TokenInvalid, "QR-код ваучера недействителен"), "reason", reason)
        }
        TokenError::Expired { expires_at } => with(
            refusal(ErrorCode::TokenExpired, "срок действия QR-кода истёк: попросите обновить его"),
            "expires_at",
            expires_at.to_rfc3339(),
        ),
        TokenError::UnknownKey(kid) => {
            with(refusal(ErrorCode::UnknownKey, "QR-код подписан неизвестным ключом"), "kid", kid)
        }
    }
}

/// The offline rules of a sale, on the till: the tokens (format 2, key in the pack, not expired,
/// not used on this till, the shop's region, month not over, voucher not revoked), the lines (the
/// online rules with the pack's catalogue, caps, price limits and recalls), and the draw: from the
/// vouchers in scan order, each up to `min(token balance − this till's pending offline discount,
/// day limit − this till's offline discount on it today)`.
///
/// `tokens` are the fields of tokens whose signature was checked ([`OfflinePack::verify_token`]).
/// The first broken rule is the answer, with the online code (`offline_limit` when only the day
/// limit stops the sale).
pub fn check_sale(
    pack: &OfflinePack,
    tokens: &[TokenFields],
    lines: &[BasketLineIn],
    now: DateTime<Utc>,
    history: &dyn TillHistory,
) -> Result<OfflineSaleDraft, ErrorDetail> {
    check_shape(tokens, lines)?;
    check_tokens(pack, tokens, now, history)?;
    let (lines, discount, to_pay) = price_lines(pack, lines, now)?;
    let vouchers = draw(pack, tokens, discount, now, history)?;
    Ok(OfflineSaleDraft { lines, discount, to_pay, vouchers })
}

fn check_shape(tokens: &[TokenFields], lines: &[BasketLineIn]) -> Result<(), ErrorDetail> {
    if tokens.is_empty() || tokens.len() > MAX_TOKENS {
        return Err(validation("tokens", format!("отсканируйте от 1 до {MAX_TOKENS} QR-кодов ваучеров")));
    }
    if lines.is_empty() || lines.len() > MAX_LINES {
        return Err(validation("lines", format!("в покупке от 1 до {MAX_LINES} строк")));
    }
    for (i, l) in lines.iter().enumerate() {
        let label = !matches!(gs1::ScaleLabel::read(&l.code), Ok(None));
        if l.quantity < 0 || (l.quantity == 0 && !label) {
            return Err(with(
                validation(&format!("lines[{i}].quantity"), "количество должно быть больше нуля"),
                "line",
                i,
            ));
        }
        if l.shelf_price_tiyn <= Tiyn::ZERO
            || l.reduced_price_tiyn < Tiyn::ZERO
            || l.reduced_price_tiyn > l.shelf_price_tiyn
        {
            return Err(with(
                validation(
                    &format!("lines[{i}].reduced_price_tiyn"),
                    "цена со скидкой должна быть от нуля до обычной цены",
                ),
                "line",
                i,
            ));
        }
    }
    Ok(())
}

fn check_tokens(
    pack: &OfflinePack,
    tokens: &[TokenFields],
    now: DateTime<Utc>,
    history: &dyn TillHistory,
) -> Result<(), ErrorDetail> {
    let mut nonces = HashSet::new();
    let mut vouchers = HashSet::new();
    for t in tokens {
        let Some(facts) = t.offline else {
            return Err(format_1_refusal());
        };
        if pack.voucher_key(t.kid, now).is_none() {
            return Err(token_refusal(TokenError::UnknownKey(t.kid)));
        }
        if now >= t.expires_at {
            return Err(token_refusal(TokenError::Expired { expires_at: t.expires_at }));
        }
        if history.nonce_used(&t.nonce) || !nonces.insert(t.nonce) {
            return Err(refusal(ErrorCode::TokenUsed, "этот QR-код уже использован: попросите показать новый"));
        }
        if !vouchers.insert(t.voucher_id) {
            return Err(validation("tokens", "один и тот же ваучер отсканирован дважды"));
        }
        if facts.region_code() != pack.region {
            return Err(with(
                refusal(ErrorCode::WrongRegion, "ваучер другого региона: здесь его принять нельзя"),
                "voucher_region",
                facts.region_code(),
            ));
        }
        let month = t.month.to_string();
        let open = pack.month_ends.iter().find(|m| m.month == month).is_some_and(|m| now < m.ends_at);
        if !open {
            return Err(with(
                refusal(ErrorCode::MonthClosed, format!("месяц {month} закрыт: ваучер больше не действует")),
                "month",
                month,
            ));
        }
        if i64::try_from(t.voucher_id).is_ok_and(|id| pack.revoked_vouchers.contains(&id)) {
            return Err(refusal(ErrorCode::VoucherNotFound, "ваучер не действует: принять его нельзя"));
        }
    }
    Ok(())
}

/// The lines: SZPT product (by GTIN, or by PLU for a scale label), expiry, recall, price limit,
/// cap, serial not twice; priced. The same order and codes as the server's online check.
fn price_lines(
    pack: &OfflinePack,
    req_lines: &[BasketLineIn],
    now: DateTime<Utc>,
) -> Result<(Vec<BasketLine>, Tiyn, Tiyn), ErrorDetail> {
    let today = BusinessDay::of(now).date();
    let mut lines = Vec::with_capacity(req_lines.len());
    let mut serials = HashSet::new();
    for (i, l) in req_lines.iter().enumerate() {
        let n = i + 1;
        let scanned = gs1::scan(&l.code).map_err(|e| {
            with(line_refusal(ErrorCode::CodeInvalid, i, format!("Строка {n}: {e}")), "reason", e.reason())
        })?;
        let (product, code) = match &scanned {
            Scanned::Product(code) => (pack.products.iter().find(|p| p.gtin == code.gtin.as_str()), Some(code)),
            Scanned::Label(label) => {
                (pack.products.iter().find(|p| p.plu.as_deref() == Some(label.plu.as_str())), None)
            }
        };
        let Some(product) = product else {
            let what = match &scanned {
                Scanned::Product(code) => format!("товар {}", code.gtin.as_str()),
                Scanned::Label(label) => format!("весовой товар с PLU {} (этикетка весов)", label.plu.as_str()),
            };
            return Err(line_refusal(
                ErrorCode::NotSzptProduct,
                i,
                format!("Строка {n}: {what} не входит в перечень СЗПТ"),
            ));
        };
        let mut quantity = l.quantity;
        if let Scanned::Label(label) = &scanned {
            let grams = i64::from(label.grams);
            if quantity == 0 {
                quantity = grams;
            }
            if product.unit != Unit::Kg || quantity != grams {
                let e = validation(
                    &format!("lines[{i}].quantity"),
                    format!("вес строки — вес на этикетке весов: {} г", label.grams),
                );
                return Err(with(with(e, "line", i), "label_grams", label.grams));
            }
        }
        if code.and_then(|c| c.expiry).is_some_and(|d| d < today) {
            return Err(line_refusal(ErrorCode::ProductExpired, i, format!("Строка {n}: срок годности товара истёк")));
        }
        let batch = code.and_then(|c| c.batch.as_deref());
        if let Some(recall) = pack.recalls.iter().find(|r| r.covers(&product.gtin, batch)) {
            let e = line_refusal(
                ErrorCode::ProductRecalled,
                i,
                format!("Строка {n}: товар отозван — {}. Продавать его нельзя", recall.reason),
            );
            return Err(with(with(e, "reason", recall.reason.clone()), "recall_id", recall.id));
        }
        let serial = code.and_then(|c| c.serial.clone());
        if serial.is_some() && product.unit == Unit::Piece && quantity != 1 {
            let e =
                validation(&format!("lines[{i}].quantity"), "товар с серийным кодом продаётся поштучно: количество 1");
            return Err(with(e, "line", i));
        }
        let (shelf, reduced) = (l.shelf_price_tiyn, l.reduced_price_tiyn);
        if let Some(max) = product.max_shelf_price_tiyn.filter(|max| shelf > *max) {
            let per = if product.unit == Unit::Kg { " за кг" } else { "" };
            let e = line_refusal(
                ErrorCode::PriceOverLimit,
                i,
                format!("Строка {n}: цена {shelf}{per} выше предельной цены {max}{per} в этом регионе"),
            );
            return Err(with(e, "max_shelf_price_tiyn", max.get()));
        }
        let cap_bp = product.discount_cap_bp;
        if !within_cap(shelf, reduced, cap_bp) {
            let max = shelf.mul_div_round(i64::from(cap_bp), 10_000).unwrap_or(Tiyn::ZERO);
            let e = line_refusal(
                ErrorCode::DiscountOverCap,
                i,
                format!("Строка {n}: скидка больше допустимой ({max} на единицу)"),
            );
            return Err(with(with(e, "cap_bp", cap_bp), "max_discount_tiyn", max.get()));
        }
        let too_big = || with(validation(&format!("lines[{i}].quantity"), "слишком большая сумма строки"), "line", i);
        let (shelf_amount, to_pay) = price_line(product.unit, quantity, shelf, reduced).ok_or_else(too_big)?;
        if let Some(serial) = &serial {
            if !serials.insert((product.gtin.clone(), serial.clone())) {
                return Err(line_refusal(ErrorCode::CodeAlreadySold, i, format!("Строка {n}: этот код уже в покупке")));
            }
        }
        let discount = shelf_amount.checked_sub(to_pay).ok_or_else(too_big)?;
        lines.push(BasketLine {
            index: i,
            gtin: product.gtin.clone(),
            serial,
            group: product.group.clone(),
            name: product.name.clone(),
            unit: product.unit,
            quantity,
            shelf_price_tiyn: shelf,
            reduced_price_tiyn: reduced,
            shelf_amount_tiyn: shelf_amount,
            to_pay_tiyn: to_pay,
            discount_tiyn: discount,
            refunded: false,
        });
    }
    let (discount, to_pay) =
        basket_totals(&lines).ok_or_else(|| validation("lines", "слишком большая сумма покупки"))?;
    Ok((lines, discount, to_pay))
}

/// Draws `discount` from the vouchers in scan order within each one's balance and day limit.
fn draw(
    pack: &OfflinePack,
    tokens: &[TokenFields],
    discount: Tiyn,
    now: DateTime<Utc>,
    history: &dyn TillHistory,
) -> Result<Vec<OfflineCharge>, ErrorDetail> {
    let today = BusinessDay::of(now).date();
    let mut remaining = discount;
    let mut by_balance = Tiyn::ZERO;
    let mut by_both = Tiyn::ZERO;
    let mut charges = Vec::with_capacity(tokens.len());
    for t in tokens {
        let Some(facts) = t.offline else {
            return Err(format_1_refusal());
        };
        let balance = (facts.balance - history.pending_discount(t.voucher_id)).max(Tiyn::ZERO);
        let day_left = (pack.day_limit(facts.amount) - history.day_discount(t.voucher_id, today)).max(Tiyn::ZERO);
        let available = balance.min(day_left);
        by_balance += balance;
        by_both += available;
        let charged = remaining.min(available);
        remaining -= charged;
        charges.push(OfflineCharge {
            voucher_id: t.voucher_id,
            nonce: t.nonce,
            charged,
            balance_after: balance - charged,
        });
    }
    if remaining > Tiyn::ZERO {
        if by_balance >= discount {
            let e = refusal(
                ErrorCode::OfflineLimit,
                format!("без связи с сервером по этим ваучерам сегодня можно списать не больше {by_both}"),
            );
            return Err(with(e, "available_tiyn", by_both.get()));
        }
        let e = refusal(
            ErrorCode::InsufficientBalance,
            format!("Скидка больше остатка ваучера ({by_balance}): уберите часть товаров"),
        );
        return Err(with(e, "balance_tiyn", by_balance.get()));
    }
    Ok(charges)
}

#[cfg(test)]
mod tests;
