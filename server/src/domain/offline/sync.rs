//! `POST /api/v1/pos/offline-sales`: a till's offline sales applied once each, in the till's order.
//!
//! A chunk of sales is one write transaction. It first takes the locks of every voucher the chunk
//! names in the house order (months shared, then vouchers by id: see `redeem::locks`), then applies
//! the sales one by one; each sale's `offline_sales` row is written in that same transaction, so a
//! repeated `sale_id` (a retry, a second upload after a kill -9) answers the stored result and
//! changes nothing.
//!
//! A sale is judged with the online rules at its `sold_at` (signature with a key not retired before
//! then, expiry, region, month, the lines' codes, caps, limits and recalls); a rule broken is
//! `refused` and nothing moves. Otherwise the goods were handed over: the vouchers are charged what
//! they have left, in scan order (never below zero), and what they could not cover is the shop's
//! shortfall. A token whose nonce was used before is still charged (`duplicate_token`).

use std::collections::{BTreeSet, HashMap};

use azyq_shared::api::{AuthorizeRequest, BasketLine, BasketStatus, ErrorCode, SignalCode, VoucherStatus};
use azyq_shared::offline::{
    OfflineSale, OfflineSaleResult, OfflineSaleResults, OfflineSaleStatus, OfflineSales, CLOCK_SKEW_SECS,
    MAX_SALES_PER_UPLOAD,
};
use azyq_shared::token::{self, TokenFields};
use azyq_shared::{BusinessDay, Month, Tiyn};
use base64::Engine;
use chrono::{DateTime, Duration, NaiveDateTime, SubsecRound, Utc};
use diesel::prelude::*;
use ed25519_dalek::VerifyingKey;

use crate::db::audit::{self, Entry};
use crate::db::schema::{basket_vouchers, baskets, offline_sales, serial_claims, token_nonces, voucher_keys, vouchers};
use crate::db::{Conn, Db};
use crate::domain::redeem::locks::{self, MonthLock};
use crate::domain::redeem::moves;
use crate::domain::redeem::{self, Till};
use crate::domain::{signals, stats};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// Applies an upload (at most [`MAX_SALES_PER_UPLOAD`] sales) in one write transaction and answers
/// one result per sale, in order.
pub fn sync(db: &Db, till: &Till, body: &OfflineSales, now: DateTime<Utc>) -> AppResult<OfflineSaleResults> {
    if body.sales.len() > MAX_SALES_PER_UPLOAD {
        return Err(AppError::validation(
            "sales",
            format!("не больше {MAX_SALES_PER_UPLOAD} продаж за один запрос: отправьте остальные следующим"),
        ));
    }
    if body.sales.is_empty() {
        return Ok(OfflineSaleResults { results: Vec::new() });
    }
    let results = db.write_retrying(|conn| {
        let chunk = Chunk::load(conn, till)?;
        chunk.lock(conn, &body.sales)?;
        body.sales.iter().map(|sale| apply(conn, &chunk, till, sale, now)).collect::<AppResult<Vec<_>>>()
    })?;
    let applied = results.iter().filter(|r| r.status != OfflineSaleStatus::Refused).count();
    tracing::info!(sales = results.len(), applied, shop_id = %till.shop_id, "offline sales uploaded");
    Ok(OfflineSaleResults { results })
}

/// A voucher key as an offline sale is checked with: usable for a sale made before `retired_at`.
struct SaleKey {
    key: VerifyingKey,
    /// `None`: not retired.
    retired_at: Option<NaiveDateTime>,
}

/// What every sale of a chunk needs: the shop's region, and every voucher key ever made.
struct Chunk {
    region: String,
    keys: HashMap<u16, SaleKey>,
}

type KeyRow = (i32, String, bool, Option<NaiveDateTime>);

impl Chunk {
    fn load(conn: &mut Conn, till: &Till) -> AppResult<Chunk> {
        let (_, region) = redeem::shop_of(conn, &till.shop_id)?;
        let rows: Vec<KeyRow> = with_conn!(conn, c => voucher_keys::table
            .select((voucher_keys::kid, voucher_keys::public_key, voucher_keys::retired, voucher_keys::not_after))
            .load(c))?;
        let mut keys = HashMap::new();
        for (kid, public, retired, not_after) in rows {
            let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(public)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .and_then(|b| VerifyingKey::from_bytes(&b).ok())
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("public key {kid} is malformed")))?;
            // A key retired without a recorded instant verifies nothing.
            let retired_at = if retired { Some(not_after.unwrap_or(NaiveDateTime::MIN)) } else { None };
            if let Ok(kid) = u16::try_from(kid) {
                keys.insert(kid, SaleKey { key, retired_at });
            }
        }
        Ok(Chunk { region, keys })
    }

    /// The key `kid` if it was not retired before `sold_at`.
    fn key_at(&self, kid: u16, sold_at: DateTime<Utc>) -> Option<VerifyingKey> {
        let k = self.keys.get(&kid)?;
        k.retired_at.is_none_or(|at| sold_at.naive_utc() < at).then_some(k.key)
    }

    /// The house lock order for everything the chunk may charge: the months, then the vouchers.
    fn lock(&self, conn: &mut Conn, sales: &[OfflineSale]) -> AppResult<()> {
        let mut months = BTreeSet::new();
        let mut ids = BTreeSet::new();
        for text in sales.iter().flat_map(|s| &s.tokens) {
            if let Ok(decoded) = token::decode(text) {
                months.insert(decoded.fields.month);
                if let Ok(id) = i64::try_from(decoded.fields.voucher_id) {
                    ids.insert(id);
                }
            }
        }
        for month in months {
            locks::lock_month(conn, month, MonthLock::Shared)?;
        }
        locks::lock_vouchers(conn, &ids.into_iter().collect::<Vec<_>>())
    }
}

type StoredRow = (OfflineSaleStatus, Option<i64>, Tiyn, Tiyn, Option<String>);

fn result_of(sale_id: &str, (status, basket_id, charged, shortfall, code): StoredRow) -> OfflineSaleResult {
    OfflineSaleResult {
        sale_id: sale_id.to_owned(),
        status,
        basket_id,
        charged_tiyn: charged,
        shortfall_tiyn: shortfall,
        code: code.and_then(|c| serde_json::from_value(serde_json::Value::String(c)).ok()),
    }
}

/// A UUID in its text form (8-4-4-4-12 hex digits), lower-cased; the till makes version 7.
fn sale_id(raw: &str) -> Option<String> {
    let id = raw.to_ascii_lowercase();
    let shape = id.len() == 36
        && id.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() });
    shape.then_some(id)
}

/// One sale: the stored answer if its `sale_id` was seen, else judged and applied.
fn apply(
    conn: &mut Conn,
    chunk: &Chunk,
    till: &Till,
    sale: &OfflineSale,
    now: DateTime<Utc>,
) -> AppResult<OfflineSaleResult> {
    let Some(id) = sale_id(&sale.sale_id) else {
        // Nothing can be stored under an unreadable id; the answer says why, every time.
        return Ok(refused_result(&sale.sale_id, ErrorCode::Validation));
    };
    let stored: Option<(String, StoredRow)> = with_conn!(conn, c => offline_sales::table
        .find(&id)
        .select((offline_sales::shop_id, (offline_sales::status, offline_sales::basket_id, offline_sales::charged_tiyn, offline_sales::shortfall_tiyn, offline_sales::code)))
        .first(c)
        .optional())?;
    match stored {
        Some((shop, row)) if shop == till.shop_id => return Ok(result_of(&sale.sale_id, row)),
        // Another shop's sale: its answer is not this till's to read, and nothing is stored twice.
        Some(_) => return Ok(refused_result(&sale.sale_id, ErrorCode::Validation)),
        None => {}
    }
    let result = match judge(conn, chunk, till, sale, now)? {
        Err(code) => {
            record(conn, till, sale, &id, now, &Recorded::refused(code))?;
            refused_result(&sale.sale_id, code)
        }
        Ok(plan) => {
            let recorded = charge(conn, chunk, till, sale, &id, plan, now)?;
            record(conn, till, sale, &id, now, &recorded)?;
            OfflineSaleResult {
                sale_id: sale.sale_id.clone(),
                status: recorded.status,
                basket_id: recorded.basket_id,
                charged_tiyn: recorded.charged,
                shortfall_tiyn: recorded.shortfall,
                code: recorded.code,
            }
        }
    };
    Ok(result)
}

fn refused_result(sale_id: &str, code: ErrorCode) -> OfflineSaleResult {
    OfflineSaleResult {
        sale_id: sale_id.to_owned(),
        status: OfflineSaleStatus::Refused,
        basket_id: None,
        charged_tiyn: Tiyn::ZERO,
        shortfall_tiyn: Tiyn::ZERO,
        code: Some(code),
    }
}

/// A voucher of a sale as it will be charged.
struct Draw {
    fields: TokenFields,
    voucher_id: i64,
    /// Whether its money can still be charged (activated or exhausted; a lapsed or expired
    /// voucher's money has left it: the sale's discount is then all shortfall).
    chargeable: bool,
}

/// A sale the rules allow: its vouchers in scan order and its priced lines.
struct Plan {
    draws: Vec<Draw>,
    month: String,
    family_id: String,
    lines: Vec<BasketLine>,
    discount: Tiyn,
    to_pay: Tiyn,
}

type VoucherFacts = (String, String, String, VoucherStatus);

/// The online rules at `sold_at`; `Ok(Err(code))` is a refusal, `Err` a failure of the database.
fn judge(
    conn: &mut Conn,
    chunk: &Chunk,
    till: &Till,
    sale: &OfflineSale,
    now: DateTime<Utc>,
) -> AppResult<Result<Plan, ErrorCode>> {
    let sold_at = sale.sold_at;
    let skew = Duration::seconds(CLOCK_SKEW_SECS);
    if sale.terminal_id.trim().is_empty()
        || sale.terminal_id.len() > 64
        || sold_at > now + skew
        || sale.payment.paid_tiyn < Tiyn::ZERO
    {
        return Ok(Err(ErrorCode::Validation));
    }
    if sale.tokens.is_empty() || sale.tokens.len() > redeem::MAX_TOKENS {
        return Ok(Err(ErrorCode::Validation));
    }
    let mut tokens = Vec::with_capacity(sale.tokens.len());
    for text in &sale.tokens {
        match token::verify(text, |kid| chunk.key_at(kid, sold_at), sold_at) {
            Ok(fields) if sold_at < fields.issued_at - skew => return Ok(Err(ErrorCode::Validation)),
            Ok(fields) => tokens.push(fields),
            Err(e) => return Ok(Err(redeem::token_error(e).code)),
        }
    }
    let request = AuthorizeRequest { tokens: sale.tokens.clone(), lines: sale.lines.clone() };
    let checked = match redeem::check(conn, till, None, &request, sold_at)?.0 {
        Ok(checked) => checked,
        Err(e) => return Ok(Err(e.code)),
    };
    let priced = match checked.lines {
        Ok(priced) => priced,
        Err(refused) if refused.error.code == ErrorCode::Internal => return Err(refused.error),
        Err(refused) => return Ok(Err(refused.error.code)),
    };
    let mut draws: Vec<Draw> = Vec::with_capacity(tokens.len());
    let mut first: Option<(String, String)> = None;
    for fields in tokens {
        let Ok(voucher_id) = i64::try_from(fields.voucher_id) else {
            return Ok(Err(ErrorCode::VoucherNotFound));
        };
        if draws.iter().any(|d| d.voucher_id == voucher_id) {
            return Ok(Err(ErrorCode::Validation));
        }
        let facts: Option<VoucherFacts> = with_conn!(conn, c => vouchers::table
            .find(voucher_id)
            .select((vouchers::month, vouchers::family_id, vouchers::region, vouchers::status))
            .first(c)
            .optional())?;
        let Some((month, family_id, region, status)) = facts else {
            return Ok(Err(ErrorCode::VoucherNotFound));
        };
        if month != fields.month.as_ref() {
            return Ok(Err(ErrorCode::TokenInvalid));
        }
        if region != chunk.region {
            return Ok(Err(ErrorCode::WrongRegion));
        }
        let m = Month::parse(&month).map_err(|e| AppError::internal(anyhow::anyhow!("stored month: {e}")))?;
        // Over when it was sold: the till should not have sold it. (A month closed after the sale
        // has moved the voucher's money out: that sale is all shortfall, see `chargeable`.)
        if sold_at >= m.end_instant() {
            return Ok(Err(ErrorCode::MonthClosed));
        }
        if status == VoucherStatus::Issued {
            return Ok(Err(ErrorCode::NotActivated));
        }
        first.get_or_insert((month, family_id));
        let chargeable = matches!(status, VoucherStatus::Activated | VoucherStatus::Exhausted);
        draws.push(Draw { fields, voucher_id, chargeable });
    }
    let Some((month, family_id)) = first else {
        return Ok(Err(ErrorCode::Validation));
    };
    Ok(Ok(Plan { draws, month, family_id, lines: priced.lines, discount: priced.discount, to_pay: priced.to_pay }))
}

/// What is stored of a sale.
struct Recorded {
    status: OfflineSaleStatus,
    basket_id: Option<i64>,
    charged: Tiyn,
    shortfall: Tiyn,
    code: Option<ErrorCode>,
    codes_sold_twice: i32,
}

impl Recorded {
    fn refused(code: ErrorCode) -> Recorded {
        Recorded {
            status: OfflineSaleStatus::Refused,
            basket_id: None,
            charged: Tiyn::ZERO,
            shortfall: Tiyn::ZERO,
            code: Some(code),
            codes_sold_twice: 0,
        }
    }
}

/// The basket of an allowed sale, captured at `sold_at`, and the draw from its vouchers (whose
/// locks the chunk holds).
fn charge(
    conn: &mut Conn,
    chunk: &Chunk,
    till: &Till,
    sale: &OfflineSale,
    id: &str,
    plan: Plan,
    now: DateTime<Utc>,
) -> AppResult<Recorded> {
    // Microseconds, as PostgreSQL keeps them.
    let sold_at = sale.sold_at.naive_utc().trunc_subsecs(6);
    let day = BusinessDay::of(sale.sold_at).to_string();
    let balances: Vec<(i64, Tiyn)> = with_conn!(conn, c => vouchers::table
        .filter(vouchers::id.eq_any(plan.draws.iter().map(|d| d.voucher_id).collect::<Vec<_>>()))
        .select((vouchers::id, vouchers::balance_tiyn))
        .load(c))?;
    let balance_of = |id: i64| balances.iter().find(|(v, _)| *v == id).map_or(Tiyn::ZERO, |(_, b)| *b);
    let mut remaining = plan.discount;
    let mut takes = Vec::with_capacity(plan.draws.len());
    for d in &plan.draws {
        let take = if d.chargeable { remaining.min(balance_of(d.voucher_id)).max(Tiyn::ZERO) } else { Tiyn::ZERO };
        remaining -= take;
        takes.push(take);
    }
    let charged = plan.discount - remaining;
    let basket_id: i64 = with_conn!(conn, c => diesel::insert_into(baskets::table)
        .values((
            baskets::shop_id.eq(&till.shop_id),
            baskets::terminal_id.eq(&sale.terminal_id),
            baskets::cashier.eq(&till.login),
            baskets::month.eq(&plan.month),
            baskets::family_id.eq(&plan.family_id),
            baskets::status.eq(BasketStatus::Captured),
            baskets::discount_tiyn.eq(charged),
            baskets::to_pay_tiyn.eq(plan.to_pay),
            baskets::created_at.eq(sold_at),
            baskets::hold_expires_at.eq(sold_at),
            baskets::captured_at.eq(Some(sold_at)),
            baskets::business_day.eq(Some(&day)),
            baskets::payment_method.eq(Some(sale.payment.method)),
            baskets::paid_tiyn.eq(Some(sale.payment.paid_tiyn)),
        ))
        .returning(baskets::id)
        .get_result(c))?;
    let mut duplicate = false;
    for (seq, (d, take)) in plan.draws.iter().zip(&takes).enumerate() {
        if *take > Tiyn::ZERO {
            // balance → held → charged: the online moves, each a conditional UPDATE; under the
            // voucher's lock the balance read above is current.
            if !moves::hold(conn, d.voucher_id, *take)? {
                return Err(AppError::internal(anyhow::anyhow!(
                    "voucher {} holds less than read under its lock",
                    d.voucher_id
                )));
            }
            moves::charge(conn, d.voucher_id, *take, basket_id)?;
        }
        with_conn!(conn, c => diesel::insert_into(basket_vouchers::table)
            .values((
                basket_vouchers::basket_id.eq(basket_id),
                basket_vouchers::seq.eq(seq as i32),
                basket_vouchers::voucher_id.eq(d.voucher_id),
                basket_vouchers::charged_tiyn.eq(*take),
            ))
            .execute(c))?;
        let fresh = with_conn!(conn, c => diesel::insert_into(token_nonces::table)
            .values((
                token_nonces::nonce.eq(d.fields.nonce.to_hex()),
                token_nonces::voucher_id.eq(d.voucher_id),
                token_nonces::basket_id.eq(basket_id),
                token_nonces::used_at.eq(sold_at),
            ))
            .on_conflict_do_nothing()
            .execute(c))?;
        duplicate |= fresh != 1;
    }
    // A serialised code sold before keeps its first sale; the offline line is kept all the same.
    let mut codes_sold_twice = 0;
    let mut serialised: Vec<&BasketLine> = plan.lines.iter().filter(|l| l.serial.is_some()).collect();
    serialised.sort_by(|a, b| (&a.gtin, &a.serial).cmp(&(&b.gtin, &b.serial)));
    for l in serialised {
        if let Some(serial) = &l.serial {
            let claimed = with_conn!(conn, c => diesel::insert_into(serial_claims::table)
                .values((serial_claims::gtin.eq(&l.gtin), serial_claims::serial.eq(serial), serial_claims::basket_id.eq(basket_id)))
                .on_conflict_do_nothing()
                .execute(c))?;
            codes_sold_twice += i32::from(claimed != 1);
        }
    }
    redeem::insert_lines(conn, basket_id, &plan.lines)?;
    stats::captured(conn, sale.sold_at, &till.shop_id, &chunk.region, (charged, sale.payment.paid_tiyn), &plan.lines)?;
    let shortfall = remaining;
    let status = if duplicate {
        OfflineSaleStatus::DuplicateToken
    } else if shortfall > Tiyn::ZERO {
        OfflineSaleStatus::AppliedShort
    } else {
        OfflineSaleStatus::Applied
    };
    if shortfall > Tiyn::ZERO {
        signals::bump(conn, &day, &till.shop_id, SignalCode::OfflineShortfall, 1)?;
    }
    if duplicate {
        signals::bump(conn, &day, &till.shop_id, SignalCode::TokenTwice, 1)?;
    }
    // The journal walks the basket's state machine as the till did offline: authorised and paid at
    // once, at the sale's time of day (the entries are written now).
    let detail = format!(
        "offline sale_id={} sold_at={} discount_tiyn={} charged_tiyn={} shortfall_tiyn={} status={}",
        id,
        sale.sold_at.to_rfc3339(),
        plan.discount.get(),
        charged.get(),
        shortfall.get(),
        status.as_str()
    );
    let basket = basket_id.to_string();
    audit::record(
        conn,
        &[
            Entry::new(now, &till.actor(), "basket", basket.clone(), None, BasketStatus::Authorized.as_str())
                .detail(detail.clone()),
            Entry::new(
                now,
                &till.actor(),
                "basket",
                basket,
                Some(BasketStatus::Authorized.as_str()),
                BasketStatus::Captured.as_str(),
            )
            .detail(detail),
        ],
    )?;
    Ok(Recorded {
        status,
        basket_id: Some(basket_id),
        charged,
        shortfall,
        code: duplicate.then_some(ErrorCode::TokenUsed),
        codes_sold_twice,
    })
}

/// The sale's row: its answer, kept for a repeated `sale_id`.
fn record(
    conn: &mut Conn,
    till: &Till,
    sale: &OfflineSale,
    id: &str,
    now: DateTime<Utc>,
    r: &Recorded,
) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(offline_sales::table)
        .values((
            offline_sales::sale_id.eq(id),
            offline_sales::shop_id.eq(&till.shop_id),
            offline_sales::terminal_id.eq(&sale.terminal_id),
            offline_sales::sold_at.eq(sale.sold_at.naive_utc().trunc_subsecs(6)),
            offline_sales::business_day.eq(BusinessDay::of(sale.sold_at).to_string()),
            offline_sales::status.eq(r.status),
            offline_sales::basket_id.eq(r.basket_id),
            offline_sales::charged_tiyn.eq(r.charged),
            offline_sales::shortfall_tiyn.eq(r.shortfall),
            offline_sales::code.eq(r.code.map(|c| c.as_str())),
            offline_sales::codes_sold_twice.eq(r.codes_sold_twice),
            offline_sales::received_at.eq(now.naive_utc()),
        ))
        .execute(c))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sale_ids_are_uuid_text() {
        assert_eq!(
            sale_id("0190B5D2-7C3A-7D4E-8F00-0123456789AB").as_deref(),
            Some("0190b5d2-7c3a-7d4e-8f00-0123456789ab")
        );
        for bad in [
            "",
            "0190b5d2-7c3a-7d4e-8f00-0123456789a",
            "0190b5d27c3a7d4e8f000123456789ab",
            "0190b5d2-7c3a-7d4e-8f00-0123456789ag",
        ] {
            assert_eq!(sale_id(bad), None, "{bad}");
        }
    }
}
