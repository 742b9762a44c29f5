//! The stateful half of authorise, in the write transaction: each token's voucher as it is now, the
//! one-basket rule, the family's consent, the balance; then the hold, the lines and the claims.

use std::collections::HashMap;

use azyq_shared::api::{
    Authorized, BasketLine, BasketStatus, ErrorCode, ErrorDetail, MonthStatus, SignalCode, VoucherCharge, VoucherStatus,
};
use azyq_shared::{mask_name, token, BusinessDay, Month, Tiyn};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use ed25519_dalek::VerifyingKey;

use super::check::{line_error, verify_token, Checked, Priced, Refused};
use super::locks::{self, MonthLock};
use super::{moves, stored_state, Till};
use crate::db::audit::{self, Entry};
use crate::db::fixed::{self, Fixed};
use crate::db::schema::{basket_lines, basket_vouchers, baskets, serial_claims, shop_prices, token_nonces, vouchers};
use crate::db::Conn;
use crate::domain::cycle;
use crate::domain::idempotency::{self, Keyed, Pending};
use crate::domain::signals::{self, ShopHours};
use crate::error::{AppError, AppResult};
use crate::{answer_key_cte, reserve_key_cte, with_conn};

/// A voucher as authorise checks it.
#[derive(Debug, Clone, Queryable, QueryableByName)]
pub struct VoucherRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub month: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub family_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub member_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub region: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub status: VoucherStatus,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
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
    let voucher = load_voucher(conn, voucher_id_of(&fields)?)?;
    let used = nonce_used(conn, &hex::encode(fields.nonce))?;
    judge(conn, fields, voucher, used, shop_region, now, months)
}

fn nonce_used(conn: &mut Conn, nonce: &str) -> AppResult<bool> {
    Ok(with_conn!(conn, c => diesel::select(diesel::dsl::exists(token_nonces::table.find(nonce))).get_result(c))?)
}

fn voucher_id_of(fields: &token::TokenFields) -> AppResult<i64> {
    i64::try_from(fields.voucher_id).map_err(|_| AppError::new(ErrorCode::VoucherNotFound, "Ваучер не найден"))
}

/// What [`present_verified`] judges of a token's voucher as read, and whether its nonce is used.
fn judge(
    conn: &mut Conn,
    fields: token::TokenFields,
    voucher: VoucherRow,
    used: bool,
    shop_region: &str,
    now: DateTime<Utc>,
    months: &[(Month, Option<MonthStatus>)],
) -> AppResult<Presented> {
    if voucher.month != fields.month.as_ref() {
        return Err(AppError::new(ErrorCode::TokenInvalid, "QR-код не соответствует ваучеру").with("reason", "month"));
    }
    if voucher.region != shop_region {
        return Err(AppError::new(
            ErrorCode::WrongRegion,
            "Ваучер выдан в другом регионе: в этом магазине его принять нельзя",
        ));
    }
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
/// On PostgreSQL the request's key (`pending`) is reserved in the statement that takes the locks
/// and the answer stored in the one that writes the sale (see [`idempotency::keyed`]).
pub(crate) fn authorize(
    conn: &mut Conn,
    till: &Till,
    checked: &Checked,
    rules: SaleRules,
    now: DateTime<Utc>,
    pending: Option<&Pending>,
) -> AppResult<Keyed<Outcome>> {
    let checked = checked.0.as_ref().map_err(AppError::again)?;
    let mut verified = Vec::with_capacity(checked.tokens.len());
    for verdict in &checked.tokens {
        verified.push(verdict.as_ref().map_err(AppError::again)?.clone());
    }
    let Some(Locked { months, vouchers, used, basket_id }) = lock_for(conn, &verified, now, pending)? else {
        return Ok(Keyed::Taken);
    };

    // The vouchers, in the order scanned; all of one family and month.
    let mut presented: Vec<Presented> = Vec::with_capacity(verified.len());
    for fields in verified {
        let voucher_id = voucher_id_of(&fields)?;
        let voucher = vouchers
            .iter()
            .find(|v| v.id == voucher_id)
            .cloned()
            .ok_or_else(|| AppError::new(ErrorCode::VoucherNotFound, "Ваучер не найден"))?;
        let is_used = used.contains(&hex::encode(fields.nonce));
        let p = judge(conn, fields, voucher, is_used, &checked.shop_region, now, &months)?;
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
            return Ok(Keyed::Done { answer: Outcome::Refused { refused }, stored: false });
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

    // The signals look at the vouchers' other baskets: read before this one is written.
    let voucher_ids: Vec<i64> = presented.iter().map(|p| p.voucher.id).collect();
    let sale = signals::Sale { basket_id: None, shop_id: &till.shop_id, vouchers: &voucher_ids, lines, caps, discount };
    let signal_counts = signals::count(conn, &sale, rules.hours, now)?;

    let hold_expires_at = now + rules.hold;
    let basket =
        NewBasket { till, month: &first.month, family_id: &first.family_id, discount, to_pay, hold_expires_at };
    let basket_id = match basket_id {
        // PostgreSQL: the id was taken with the locks; the row goes in with the sale's statement.
        Some(id) => id,
        None => insert_basket(conn, &basket, now)?,
    };
    // The hold: drawn in the order scanned.
    let mut remaining = discount;
    let mut charges = Vec::with_capacity(presented.len());
    let mut draws = Vec::with_capacity(presented.len());
    for p in &presented {
        let take = remaining.min(p.voucher.balance_tiyn);
        remaining -= take;
        draws.push(Draw { voucher_id: p.voucher.id, take, nonce: hex::encode(p.fields.nonce) });
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
    let audit =
        Entry::new(now, &till.actor(), "basket", basket_id.to_string(), None, BasketStatus::Authorized.as_str())
            .detail(format!("discount_tiyn={} vouchers={}", discount.get(), charges.len()));
    let authorized = Authorized {
        basket_id,
        status: BasketStatus::Authorized,
        discount_tiyn: discount,
        to_pay_tiyn: to_pay,
        hold_expires_at,
        vouchers: charges,
        lines: lines.clone(),
    };
    let answer = Outcome::Authorized(authorized);
    let writes = SaleWrites {
        basket_id,
        basket: &basket,
        shop_id: &till.shop_id,
        draws: &draws,
        serialised: &serialised,
        lines,
        signals: &signal_counts,
        audit: &audit,
        now,
    };
    let (written, stored) = match conn {
        Conn::Pg(_) => (write_sale_pg(conn, &writes, &answer, pending)?, pending.is_some()),
        Conn::Sqlite(_) => (write_sale(conn, &writes)?, false),
    };
    match written {
        Written::Done => {}
        Written::NotHeld => {
            // Under the vouchers' locks the balances read above are current, so this cannot be;
            // were it (a bug), nothing is held and the till hears the balance as it is.
            let now_available = current_balance(conn, &presented)?;
            return Err(insufficient(now_available));
        }
        Written::NonceUsed => return Err(token_used()),
        Written::CodeTaken => return Err(claim_refusal(conn, basket_id, &serialised)?),
    }
    tracing::info!(basket_id, discount_tiyn = discount.get(), vouchers = presented.len(), "basket authorized");
    Ok(Keyed::Done { answer, stored })
}

/// The basket's row as authorise writes it.
struct NewBasket<'a> {
    till: &'a Till,
    month: &'a str,
    family_id: &'a str,
    discount: Tiyn,
    to_pay: Tiyn,
    hold_expires_at: DateTime<Utc>,
}

/// SQLite: the basket's row, answering its id.
fn insert_basket(conn: &mut Conn, b: &NewBasket, now: DateTime<Utc>) -> AppResult<i64> {
    Ok(with_conn!(conn, c => diesel::insert_into(baskets::table)
        .values((
            baskets::shop_id.eq(&b.till.shop_id),
            baskets::terminal_id.eq(&b.till.terminal_id),
            baskets::cashier.eq(&b.till.login),
            baskets::month.eq(b.month),
            baskets::family_id.eq(b.family_id),
            baskets::status.eq(BasketStatus::Authorized),
            baskets::discount_tiyn.eq(b.discount),
            baskets::to_pay_tiyn.eq(b.to_pay),
            baskets::created_at.eq(now.naive_utc()),
            baskets::hold_expires_at.eq(b.hold_expires_at.naive_utc()),
        ))
        .returning(baskets::id)
        .get_result(c))?)
}

/// What an authorisation holds once it took its locks.
struct Locked {
    /// The tokens' months with their statuses as read under their locks.
    months: Vec<(Month, Option<MonthStatus>)>,
    /// The tokens' vouchers (those that exist) as they are under their locks.
    vouchers: Vec<VoucherRow>,
    /// The tokens' nonces already used.
    used: std::collections::HashSet<String>,
    /// PostgreSQL: the id the basket will have, taken from its sequence with the locks.
    basket_id: Option<i64>,
}

/// PostgreSQL: authorise's locks in one statement, in the house order ([`locks`]) — the request's
/// key first (a twin with the same key waits before it holds anything), the tokens' months, their
/// vouchers by id (the lock rows node of a sorted query locks in its order) — with what it reads
/// under them: the months' statuses, the vouchers, which of the tokens' nonces are used, and the
/// basket's id to be. Each lock is forced after the one before by reading it (a CTE runs where it is
/// first read; a locked row reaches the reader only after its lock).
const LOCK_PG: &str = concat!(
    "WITH ",
    reserve_key_cte!("$4", "$5", "$6", "$7"),
    ", m AS MATERIALIZED (SELECT m.month, m.status FROM months m \
   WHERE m.month = ANY($1) AND (SELECT count(*) FROM k) >= 0 ORDER BY m.month FOR KEY SHARE), \
 v AS MATERIALIZED (SELECT v.id, v.month, v.family_id, v.member_name, v.region, v.status, v.balance_tiyn \
   FROM vouchers v WHERE v.id = ANY($2) AND (SELECT count(*) FROM m) >= 0 ORDER BY v.id FOR UPDATE OF v) \
 SELECT json_build_object( \
 'reserved', (SELECT count(*) FROM k), \
 'months', (SELECT coalesce(json_agg(json_build_array(m.month, m.status)), '[]') FROM m), \
 'vouchers', (SELECT coalesce(json_agg(json_build_array(v.id, v.month, v.family_id, v.member_name, v.region, \
   v.status, v.balance_tiyn) ORDER BY v.id), '[]') FROM v), \
 'used', (SELECT coalesce(json_agg(n.nonce), '[]') FROM token_nonces n WHERE n.nonce = ANY($3)), \
 'basket_id', nextval(pg_get_serial_sequence('baskets', 'id')))::text AS doc"
);

/// A voucher as [`LOCK_PG`] answers it.
type VoucherJson = (i64, String, String, String, String, String, Tiyn);

#[derive(serde::Deserialize)]
struct LockDoc {
    reserved: i64,
    months: Vec<(String, String)>,
    vouchers: Vec<VoucherJson>,
    used: Vec<String>,
    basket_id: i64,
}

/// Takes the locks of an authorisation in the house order (see [`locks`]): the months of the
/// tokens, then their vouchers by id; reads the vouchers and the tokens' nonces under them. `None`:
/// the request's key is another request's (PostgreSQL).
fn lock_for(
    conn: &mut Conn,
    tokens: &[token::TokenFields],
    now: DateTime<Utc>,
    pending: Option<&Pending>,
) -> AppResult<Option<Locked>> {
    let mut months: Vec<Month> = tokens.iter().map(|t| t.month).collect();
    months.sort();
    months.dedup();
    let mut ids: Vec<i64> = tokens.iter().filter_map(|t| i64::try_from(t.voucher_id).ok()).collect();
    ids.sort_unstable();
    ids.dedup();
    let nonces: Vec<String> = tokens.iter().map(|t| hex::encode(t.nonce)).collect();
    if let Conn::Pg(c) = conn {
        let q = Fixed::numbered(LOCK_PG)
            .bind(months.iter().map(|m| m.as_ref()).collect::<Vec<&str>>())
            .bind(&ids)
            .bind(&nonces);
        let doc: fixed::Doc = idempotency::bind_reserve(q, pending, now).by_name().get_result(*c)?;
        let d: LockDoc = doc.parse("authorise's locks")?;
        if pending.is_some() && d.reserved != 1 {
            return Ok(None);
        }
        let mut statuses = Vec::with_capacity(months.len());
        for month in months {
            let status = match d.months.iter().find(|(m, _)| m.as_str() == month.as_ref()) {
                Some((_, s)) => Some(stored_state("month status", s, MonthStatus::parse)?),
                None => None,
            };
            statuses.push((month, status));
        }
        let mut vouchers = Vec::with_capacity(d.vouchers.len());
        for (id, month, family_id, member_name, region, status, balance_tiyn) in d.vouchers {
            let status = stored_state("voucher status", &status, VoucherStatus::parse)?;
            vouchers.push(VoucherRow { id, month, family_id, member_name, region, status, balance_tiyn });
        }
        let used = d.used.into_iter().collect();
        return Ok(Some(Locked { months: statuses, vouchers, used, basket_id: Some(d.basket_id) }));
    }
    // SQLite: the write transaction holds the database; plain reads, each a cached statement.
    let mut locked = Locked { months: Vec::new(), vouchers: Vec::new(), used: Default::default(), basket_id: None };
    for month in months {
        locked.months.push((month, locks::lock_month(conn, month, MonthLock::Shared)?));
    }
    for id in ids {
        match load_voucher(conn, id) {
            Ok(v) => locked.vouchers.push(v),
            Err(e) if e.code == ErrorCode::VoucherNotFound => {}
            Err(e) => return Err(e),
        }
    }
    for nonce in nonces {
        if nonce_used(conn, &nonce)? {
            locked.used.insert(nonce);
        }
    }
    Ok(Some(locked))
}

/// One voucher's draw of a basket's discount, with its token's nonce.
struct Draw {
    voucher_id: i64,
    take: Tiyn,
    nonce: String,
}

/// What authorise writes once the basket's row is in, each guarded: the holds (conditional
/// updates of the vouchers locked before), the basket's vouchers, the tokens' nonces and the
/// serial codes (both claimed only if free), the lines, the shop's prices, the signals' counters
/// and the journal's row.
struct SaleWrites<'a> {
    basket_id: i64,
    /// The basket's row: PostgreSQL writes it in the sale's statement (SQLite before, for its id).
    basket: &'a NewBasket<'a>,
    shop_id: &'a str,
    draws: &'a [Draw],
    serialised: &'a [&'a BasketLine],
    lines: &'a [BasketLine],
    signals: &'a [(SignalCode, i64)],
    audit: &'a Entry,
    now: DateTime<Utc>,
}

/// Which guard of [`SaleWrites`] refused, if any (the transaction is then rolled back).
enum Written {
    Done,
    /// A hold did not move.
    NotHeld,
    /// A token's nonce was used meanwhile.
    NonceUsed,
    /// A serial code is taken.
    CodeTaken,
}

/// SQLite: [`SaleWrites`] statement by statement (SQLite has no data-modifying CTEs; each
/// statement is an in-process call, cached).
fn write_sale(conn: &mut Conn, w: &SaleWrites) -> AppResult<Written> {
    for (seq, d) in w.draws.iter().enumerate() {
        if d.take > Tiyn::ZERO && !moves::hold(conn, d.voucher_id, d.take)? {
            return Ok(Written::NotHeld);
        }
        with_conn!(conn, c => diesel::insert_into(basket_vouchers::table)
            .values((
                basket_vouchers::basket_id.eq(w.basket_id),
                basket_vouchers::seq.eq(seq as i32),
                basket_vouchers::voucher_id.eq(d.voucher_id),
                basket_vouchers::charged_tiyn.eq(d.take),
            ))
            .execute(c))?;
        let fresh = with_conn!(conn, c => diesel::insert_into(token_nonces::table)
            .values((
                token_nonces::nonce.eq(&d.nonce),
                token_nonces::voucher_id.eq(d.voucher_id),
                token_nonces::basket_id.eq(w.basket_id),
                token_nonces::used_at.eq(w.now.naive_utc()),
            ))
            .on_conflict_do_nothing()
            .execute(c))?;
        if fresh != 1 {
            return Ok(Written::NonceUsed);
        }
    }
    for l in w.serialised {
        let Some(serial) = &l.serial else { continue };
        let claimed = with_conn!(conn, c => diesel::insert_into(serial_claims::table)
            .values((serial_claims::gtin.eq(&l.gtin), serial_claims::serial.eq(serial), serial_claims::basket_id.eq(w.basket_id)))
            .on_conflict_do_nothing()
            .execute(c))?;
        if claimed != 1 {
            return Ok(Written::CodeTaken);
        }
    }
    insert_lines(conn, w.basket_id, w.lines)?;
    remember_prices(conn, w.shop_id, w.lines, w.now)?;
    signals::bump_all(conn, &BusinessDay::of(w.now).to_string(), w.shop_id, w.signals)?;
    audit::record(conn, std::slice::from_ref(w.audit))?;
    Ok(Written::Done)
}

/// PostgreSQL: the basket's row and [`SaleWrites`] in one statement (one round trip), with the
/// request's answer stored under its key. Each data-modifying CTE is the statement [`write_sale`]
/// runs for it, over arrays (`unnest` keeps their order: serial codes in key order, prices in GTIN
/// order, counters in code order); the guards' row counts come back. The rows that refer to the
/// basket go in beside it: a foreign key is checked at the end of the statement. The holds' status
/// guard is a join clause (`d.status`), so that only the primary key can find the vouchers: as a
/// bound value it was a restriction that a plan made on statistics from before the month's
/// activations answered through the (month, status) index — every activated voucher read and
/// hashed for one hold (auto_explain of the yardstick: 2 000 rows, 63 pages, 1.1 ms a sale).
const WRITE_SALE_PG: &str = concat!(
    "WITH \
 basket AS (INSERT INTO baskets (id, shop_id, terminal_id, cashier, month, family_id, status, discount_tiyn, \
   to_pay_tiyn, created_at, hold_expires_at) VALUES ($1, $24, $36, $37, $38, $39, $40, $41, $42, $9, $43) RETURNING 1), \
 held AS (UPDATE vouchers v SET balance_tiyn = v.balance_tiyn - d.take, held_tiyn = v.held_tiyn + d.take \
   FROM unnest($2::bigint[], $3::bigint[], $4::text[]) AS d(voucher_id, take, status) \
   WHERE v.id = d.voucher_id AND v.status = d.status AND v.balance_tiyn >= d.take RETURNING v.id), \
 parts AS (INSERT INTO basket_vouchers (basket_id, seq, voucher_id, charged_tiyn) \
   SELECT $1, d.seq, d.voucher_id, d.take FROM unnest($5::int[], $6::bigint[], $7::bigint[]) AS d(seq, voucher_id, take) \
   RETURNING 1), \
 fresh AS (INSERT INTO token_nonces (nonce, voucher_id, basket_id, used_at) \
   SELECT n.nonce, n.voucher_id, $1, $9 FROM unnest($8::text[], $6::bigint[]) AS n(nonce, voucher_id) \
   ON CONFLICT DO NOTHING RETURNING 1), \
 claimed AS (INSERT INTO serial_claims (gtin, serial, basket_id) \
   SELECT s.gtin, s.serial, $1 FROM unnest($10::text[], $11::text[]) AS s(gtin, serial) \
   ON CONFLICT DO NOTHING RETURNING 1), \
 lines AS (INSERT INTO basket_lines (basket_id, idx, gtin, serial, group_code, name, unit, quantity, \
   shelf_price_tiyn, reduced_price_tiyn, shelf_amount_tiyn, to_pay_tiyn, discount_tiyn, refunded) \
   SELECT $1, l.*, false FROM unnest($12::int[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], \
   $18::bigint[], $19::bigint[], $20::bigint[], $21::bigint[], $22::bigint[], $23::bigint[]) AS l RETURNING 1), \
 prices AS (INSERT INTO shop_prices (shop_id, gtin, shelf_price_tiyn, reduced_price_tiyn, updated_at) \
   SELECT $24, p.gtin, p.shelf, p.reduced, $9 FROM unnest($25::text[], $26::bigint[], $27::bigint[]) AS p(gtin, shelf, reduced) \
   WHERE NOT EXISTS (SELECT 1 FROM shop_prices k WHERE k.shop_id = $24 AND k.gtin = p.gtin \
   AND k.shelf_price_tiyn = p.shelf AND k.reduced_price_tiyn = p.reduced) \
   ON CONFLICT (shop_id, gtin) DO UPDATE SET shelf_price_tiyn = excluded.shelf_price_tiyn, \
   reduced_price_tiyn = excluded.reduced_price_tiyn, updated_at = excluded.updated_at RETURNING 1), \
 counted AS (INSERT INTO day_signal_stats (day, shop_id, code, count) \
   SELECT $28, $24, s.code, s.n FROM unnest($29::text[], $30::bigint[]) AS s(code, n) \
   ON CONFLICT (day, shop_id, code) DO UPDATE SET count = day_signal_stats.count + excluded.count RETURNING 1), \
 journal AS (INSERT INTO audit_log (at, actor, entity, entity_id, from_state, to_state, detail) \
   VALUES ($9, $31, $32, $33, NULL, $34, $35) RETURNING 1), ",
    answer_key_cte!("$44", "$45", "$46"),
    " SELECT (SELECT count(*) FROM held) AS held, (SELECT count(*) FROM fresh) AS fresh, \
   (SELECT count(*) FROM claimed) AS claimed"
);

#[derive(QueryableByName)]
struct SaleCounts {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    held: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    fresh: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    claimed: i64,
}

fn write_sale_pg(conn: &mut Conn, w: &SaleWrites, answer: &Outcome, pending: Option<&Pending>) -> AppResult<Written> {
    let Conn::Pg(c) = conn else { return write_sale(conn, w) };
    let b = w.basket;
    let holds: Vec<&Draw> = w.draws.iter().filter(|d| d.take > Tiyn::ZERO).collect();
    let hold_ids: Vec<i64> = holds.iter().map(|d| d.voucher_id).collect();
    let hold_takes: Vec<i64> = holds.iter().map(|d| d.take.get()).collect();
    let seqs: Vec<i32> = (0..w.draws.len()).map(|i| i as i32).collect();
    let voucher_ids: Vec<i64> = w.draws.iter().map(|d| d.voucher_id).collect();
    let takes: Vec<i64> = w.draws.iter().map(|d| d.take.get()).collect();
    let nonces: Vec<&str> = w.draws.iter().map(|d| d.nonce.as_str()).collect();
    let claim_gtins: Vec<&str> = w.serialised.iter().map(|l| l.gtin.as_str()).collect();
    let claim_serials: Vec<&str> = w.serialised.iter().filter_map(|l| l.serial.as_deref()).collect();
    let ls = w.lines;
    let col_i64 = |f: fn(&BasketLine) -> i64| ls.iter().map(f).collect::<Vec<i64>>();
    let col_str = |f: fn(&BasketLine) -> &str| ls.iter().map(f).collect::<Vec<&str>>();
    let latest: std::collections::BTreeMap<&str, &BasketLine> = ls.iter().map(|l| (l.gtin.as_str(), l)).collect();
    let (codes, counts): (Vec<&str>, Vec<i64>) = w.signals.iter().map(|(c, n)| (c.as_str(), *n)).unzip();
    let e = w.audit;
    let q = Fixed::numbered(WRITE_SALE_PG)
        .bind(w.basket_id)
        .bind(&hold_ids)
        .bind(&hold_takes)
        .bind(vec![VoucherStatus::Activated.as_str(); hold_ids.len()])
        .bind(&seqs)
        .bind(&voucher_ids)
        .bind(&takes)
        .bind(&nonces)
        .bind(w.now.naive_utc())
        .bind(&claim_gtins)
        .bind(&claim_serials)
        .bind(ls.iter().map(|l| l.index as i32).collect::<Vec<i32>>())
        .bind(col_str(|l| l.gtin.as_str()))
        .bind(ls.iter().map(|l| l.serial.as_deref()).collect::<Vec<Option<&str>>>())
        .bind(col_str(|l| l.group.as_str()))
        .bind(col_str(|l| l.name.as_str()))
        .bind(col_str(|l| l.unit.as_str()))
        .bind(col_i64(|l| l.quantity))
        .bind(col_i64(|l| l.shelf_price_tiyn.get()))
        .bind(col_i64(|l| l.reduced_price_tiyn.get()))
        .bind(col_i64(|l| l.shelf_amount_tiyn.get()))
        .bind(col_i64(|l| l.to_pay_tiyn.get()))
        .bind(col_i64(|l| l.discount_tiyn.get()))
        .bind(w.shop_id)
        .bind(latest.keys().copied().collect::<Vec<&str>>())
        .bind(latest.values().map(|l| l.shelf_price_tiyn.get()).collect::<Vec<i64>>())
        .bind(latest.values().map(|l| l.reduced_price_tiyn.get()).collect::<Vec<i64>>())
        .bind(BusinessDay::of(w.now).to_string())
        .bind(&codes)
        .bind(&counts)
        .bind(&e.actor)
        .bind(&e.entity)
        .bind(&e.entity_id)
        .bind(&e.to_state)
        .bind(e.detail.as_deref())
        .bind(&b.till.terminal_id)
        .bind(&b.till.login)
        .bind(b.month)
        .bind(b.family_id)
        .bind(BasketStatus::Authorized.as_str())
        .bind(b.discount)
        .bind(b.to_pay)
        .bind(b.hold_expires_at.naive_utc());
    let row: SaleCounts = idempotency::bind_answer(q, pending, answer)?.by_name().get_result(*c)?;
    Ok(if row.held != hold_ids.len() as i64 {
        Written::NotHeld
    } else if row.fresh != nonces.len() as i64 {
        Written::NonceUsed
    } else if row.claimed != claim_serials.len() as i64 {
        Written::CodeTaken
    } else {
        Written::Done
    })
}

/// Some serial code of the basket is taken: `code_already_sold` for the first line in key order
/// whose claim failed, as when they were claimed one by one — held by another basket, or a repeat
/// of a code earlier in this one. (This basket's own claims are undone with the whole transaction
/// by the refusal.) A read on the failure path only.
fn claim_refusal(conn: &mut Conn, basket_id: i64, serialised: &[&BasketLine]) -> AppResult<AppError> {
    let mut seen = std::collections::HashSet::new();
    let mut index = serialised.first().map_or(0, |l| l.index);
    for l in serialised {
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
    Ok(line_error(
        ErrorCode::CodeAlreadySold,
        index,
        format!("Строка {}: товар с этим кодом уже продан или в другой покупке", index + 1),
    ))
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
/// A price as it is already kept is not written again (`updated_at` is when it was last set): most
/// baskets sell at the shop's usual prices, and every till of the shop would otherwise rewrite the
/// same rows — on PostgreSQL each basket held their row locks until it committed, so the shop's
/// tills took turns (issue 19). Two baskets that change one price at once both write it, the later
/// commit's price kept; on PostgreSQL a basket at the kept price that runs beside one changing it
/// may leave the change standing (a pre-fill, not money).
///
/// The rows are written in GTIN order, once each (the basket's last line of a GTIN wins): two
/// baskets of one shop that take the same rows in different orders would deadlock on PostgreSQL.
fn remember_prices(conn: &mut Conn, shop_id: &str, lines: &[BasketLine], now: DateTime<Utc>) -> AppResult<()> {
    let latest: std::collections::BTreeMap<&str, &BasketLine> = lines.iter().map(|l| (l.gtin.as_str(), l)).collect();
    let _columns =
        (shop_prices::shop_id, shop_prices::gtin, shop_prices::shelf_price_tiyn, shop_prices::reduced_price_tiyn);
    let rows: Vec<&BasketLine> = latest.into_values().collect();
    // One statement for the basket, kept prepared (one SQL text per number of GTINs); rows in GTIN
    // order (PostgreSQL takes their locks in that order).
    static TEXTS: [std::sync::OnceLock<String>; MOST_ROWS] = [const { std::sync::OnceLock::new() }; MOST_ROWS];
    for chunk in rows.chunks(MOST_ROWS) {
        let sql = rows_sql(&TEXTS, chunk.len(), |n| {
            format!(
                "INSERT INTO shop_prices (shop_id, gtin, shelf_price_tiyn, reduced_price_tiyn, updated_at) VALUES {} \
                 ON CONFLICT (shop_id, gtin) DO UPDATE SET shelf_price_tiyn = excluded.shelf_price_tiyn, \
                 reduced_price_tiyn = excluded.reduced_price_tiyn, updated_at = excluded.updated_at \
                 WHERE shop_prices.shelf_price_tiyn <> excluded.shelf_price_tiyn \
                 OR shop_prices.reduced_price_tiyn <> excluded.reduced_price_tiyn",
                vec!["(?, ?, ?, ?, ?)"; n].join(", ")
            )
        })?;
        let mut statement = Fixed::new(sql);
        for l in chunk {
            statement = statement
                .bind(shop_id)
                .bind(&l.gtin)
                .bind(l.shelf_price_tiyn)
                .bind(l.reduced_price_tiyn)
                .bind(now.naive_utc());
        }
        with_conn!(conn, c => statement.execute(c))?;
    }
    Ok(())
}

/// Most rows a kept multi-row statement of a basket writes at once (more go in several).
const MOST_ROWS: usize = 32;

/// The SQL text of a basket's multi-row statement for `n` rows (see [`fixed::for_rows`]).
fn rows_sql(
    texts: &'static [std::sync::OnceLock<String>; MOST_ROWS],
    n: usize,
    build: impl FnOnce(usize) -> String,
) -> AppResult<&'static str> {
    fixed::for_rows(texts, n, build).ok_or_else(|| AppError::internal(anyhow::anyhow!("{n} rows in one statement")))
}

/// The masked holder name a till may show.
pub fn holder(voucher: &VoucherRow) -> String {
    mask_name(&voucher.member_name)
}

/// A basket's priced lines, one multi-row INSERT (online and offline baskets alike).
pub(crate) fn insert_lines(conn: &mut Conn, basket_id: i64, lines: &[BasketLine]) -> AppResult<()> {
    let _columns = (basket_lines::idx, basket_lines::serial, basket_lines::group_code, basket_lines::shelf_amount_tiyn);
    static TEXTS: [std::sync::OnceLock<String>; MOST_ROWS] = [const { std::sync::OnceLock::new() }; MOST_ROWS];
    for chunk in lines.chunks(MOST_ROWS) {
        let sql = rows_sql(&TEXTS, chunk.len(), |n| {
            format!(
                "INSERT INTO basket_lines (basket_id, idx, gtin, serial, group_code, name, unit, quantity, \
                 shelf_price_tiyn, reduced_price_tiyn, shelf_amount_tiyn, to_pay_tiyn, discount_tiyn, refunded) VALUES {}",
                vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, false)"; n].join(", ")
            )
        })?;
        let mut statement = Fixed::new(sql);
        for l in chunk {
            statement = statement
                .bind(basket_id)
                .bind(i64::try_from(l.index).map_err(|_| AppError::validation("lines", "слишком много строк"))?)
                .bind(&l.gtin)
                .bind(l.serial.as_deref())
                .bind(&l.group)
                .bind(&l.name)
                .bind(l.unit.as_str())
                .bind(l.quantity)
                .bind(l.shelf_price_tiyn)
                .bind(l.reduced_price_tiyn)
                .bind(l.shelf_amount_tiyn)
                .bind(l.to_pay_tiyn)
                .bind(l.discount_tiyn);
        }
        with_conn!(conn, c => statement.execute(c))?;
    }
    Ok(())
}
