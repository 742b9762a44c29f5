//! Capture (Alg. p.26): the customer paid the reduced total; the hold becomes a charge. And what a
//! till reads of a basket afterwards: its receipt and state.

use azyq_shared::api::{
    BasketLine, BasketStatus, BasketView, Captured, ErrorCode, Payment, PaymentMethod, Receipt, Unit, VoucherCharge,
    VoucherStatus,
};
use azyq_shared::{BusinessDay, Tiyn};
use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;

use super::locks;
use super::{
    basket_not_found, charges_of, hold_expired, lines_of, load_basket, moves, open_transition, shop_of, state_error,
    stored_state, BasketRow, Part, Till,
};
use crate::db::audit::{self, Entry};
use crate::db::fixed::{self, Fixed};
use crate::db::schema::baskets;
use crate::db::Conn;
use crate::domain::idempotency::{self, Keyed, Pending};
use crate::domain::stats;
use crate::error::{AppError, AppResult};
use crate::{answer_key_cte, reserve_key_cte, with_conn};

/// Capture (in its transaction). A hold that ran out is `hold_expired` (the caller then releases
/// it as such). On PostgreSQL the request's key (`pending`) is reserved in the statement that takes
/// the locks and the answer stored in the one that writes (see [`idempotency::keyed`]).
pub(crate) fn capture(
    conn: &mut Conn,
    till: &Till,
    id: i64,
    payment: &Payment,
    now: DateTime<Utc>,
    pending: Option<&Pending>,
) -> AppResult<Keyed<Captured>> {
    let opened = match conn {
        Conn::Pg(_) => match open_pg(conn, id, &till.shop_id, now, pending)? {
            Some(opened) => Some(opened),
            None => return Ok(Keyed::Taken),
        },
        Conn::Sqlite(_) => None,
    };
    let row = match &opened {
        Some(o) => o.row.clone(),
        None => open_transition(conn, Some(till), id)?.0,
    };
    if row.shop_id != till.shop_id {
        return Err(AppError::new(ErrorCode::Forbidden, "Это покупка другого магазина"));
    }
    match row.status {
        BasketStatus::Authorized if row.hold_expires_at <= now.naive_utc() => return Err(hold_expired()),
        BasketStatus::Authorized => {}
        BasketStatus::HoldExpired => return Err(hold_expired()),
        other => return Err(state_error(other, "провести оплату")),
    }
    if payment.paid_tiyn != row.to_pay_tiyn {
        return Err(AppError::validation(
            "payment.paid_tiyn",
            format!("к оплате {}, а указано {}", row.to_pay_tiyn, payment.paid_tiyn),
        ));
    }
    let day = BusinessDay::of(now).to_string();
    // Microseconds, as PostgreSQL keeps them: the receipt answered now is the one read back later.
    let captured_at = now.naive_utc().trunc_subsecs(6);
    let audit = Entry::new(
        now,
        &till.actor(),
        "basket",
        id.to_string(),
        Some(BasketStatus::Authorized.as_str()),
        BasketStatus::Captured.as_str(),
    )
    .detail(format!("paid_tiyn={} method={}", payment.paid_tiyn, payment.method.as_str()));
    let paid = BasketRow {
        status: BasketStatus::Captured,
        captured_at: Some(captured_at),
        payment_method: Some(payment.method),
        paid_tiyn: Some(payment.paid_tiyn),
        ..row.clone()
    };
    let (answer, stored) = match opened {
        Some(o) => {
            // PostgreSQL: everything the receipt says was read under the locks (capture moves no
            // balance), so the answer is known before the write and stored by it.
            let charges: Vec<VoucherCharge> = o.parts.iter().map(|(part, balance)| charge_of(part, *balance)).collect();
            let receipt = receipt_of(&paid, o.shop_name, o.lines, charges)?;
            let answer = Captured { basket_id: id, status: BasketStatus::Captured, receipt };
            let parts: Vec<Part> = o.parts.iter().map(|(part, _)| *part).collect();
            let pay = Pay { row: &row, parts: &parts, payment, day: &day, captured_at, audit: &audit, now };
            pay_pg(conn, &pay, &answer, pending)?;
            (answer, pending.is_some())
        }
        None => {
            let parts = locks::lock_parts(conn, id)?;
            let pay = Pay { row: &row, parts: &parts, payment, day: &day, captured_at, audit: &audit, now };
            let (shop_name, lines, charges) = pay_sqlite(conn, &pay)?;
            let receipt = receipt_of(&paid, shop_name, lines, charges)?;
            (Captured { basket_id: id, status: BasketStatus::Captured, receipt }, false)
        }
    };
    tracing::info!(basket_id = id, "basket captured");
    Ok(Keyed::Done { answer, stored })
}

/// PostgreSQL: capture's locks in one statement, in the house order ([`locks`]) — the request's key
/// first (so a twin with the same key waits before it holds anything), the month's row, the basket,
/// its vouchers by id (only while the basket is this shop's and authorised) — and what it reads
/// under them: the basket, its parts with their vouchers' balances, its lines and the shop's name.
/// Each lock is forced after the one before by reading it (a CTE is run where it is first read; a
/// locked row reaches the reader only after its lock). The vouchers are found by key, from an array
/// of the basket's voucher ids computed first: as a plain join, on a fresh table's stale statistics,
/// the planner read and hashed every voucher for the basket's one or two (auto_explain: 79 of the
/// statement's 83 pages; on a month of a million vouchers, all of them).
const OPEN_PG: &str = concat!(
    "WITH ",
    reserve_key_cte!("$2", "$3", "$4", "$5"),
    ", m AS MATERIALIZED (SELECT m.status FROM months m \
   WHERE m.month = (SELECT b.month FROM baskets b WHERE b.id = $1) AND (SELECT count(*) FROM k) >= 0 FOR KEY SHARE), \
 b AS MATERIALIZED (SELECT b.id, b.shop_id, b.terminal_id, b.month, b.status, b.discount_tiyn, b.to_pay_tiyn, \
   b.hold_expires_at, b.captured_at, b.payment_method, b.paid_tiyn, b.created_at, m.status AS month_status \
   FROM baskets b LEFT JOIN m ON true WHERE b.id = $1 FOR UPDATE OF b), \
 p AS MATERIALIZED (SELECT bv.seq, bv.voucher_id, bv.charged_tiyn, bv.refunded_tiyn, v.balance_tiyn \
   FROM basket_vouchers bv JOIN vouchers v ON v.id = bv.voucher_id \
   WHERE bv.basket_id = $1 AND v.id = ANY(ARRAY(SELECT x.voucher_id FROM basket_vouchers x WHERE x.basket_id = $1)) \
   AND EXISTS (SELECT 1 FROM b WHERE b.status = $6 AND b.shop_id = $7) \
   ORDER BY v.id FOR UPDATE OF v) \
 SELECT json_build_object( \
 'reserved', (SELECT count(*) FROM k), \
 'basket', (SELECT json_build_array(b.id, b.shop_id, b.terminal_id, b.month, b.status, b.discount_tiyn, b.to_pay_tiyn, \
   b.hold_expires_at, b.captured_at, b.payment_method, b.paid_tiyn, b.created_at) FROM b), \
 'parts', (SELECT coalesce(json_agg(json_build_array(p.seq, p.voucher_id, p.charged_tiyn, p.refunded_tiyn, \
   p.balance_tiyn) ORDER BY p.seq), '[]') FROM p), \
 'lines', (SELECT coalesce(json_agg(json_build_array(l.idx, l.gtin, l.serial, l.group_code, l.name, l.unit, \
   l.quantity, l.shelf_price_tiyn, l.reduced_price_tiyn, l.shelf_amount_tiyn, l.to_pay_tiyn, l.discount_tiyn, \
   l.refunded) ORDER BY l.idx), '[]') FROM basket_lines l WHERE l.basket_id = $1 AND EXISTS (SELECT 1 FROM p)), \
 'shop', (SELECT s.name FROM shops s WHERE s.shop_id = $7))::text AS doc"
);

/// What [`OPEN_PG`] answers, as read under the locks.
struct Opened {
    row: BasketRow,
    /// The parts in draw order, each with its voucher's balance.
    parts: Vec<(Part, Tiyn)>,
    lines: Vec<BasketLine>,
    shop_name: String,
}

/// A basket row as [`OPEN_PG`] answers it.
type BasketJson = (
    i64,
    String,
    String,
    String,
    String,
    Tiyn,
    Tiyn,
    chrono::NaiveDateTime,
    Option<chrono::NaiveDateTime>,
    Option<String>,
    Option<Tiyn>,
    chrono::NaiveDateTime,
);

/// A line as [`OPEN_PG`] answers it.
type LineJson = (i32, String, Option<String>, String, String, String, i64, Tiyn, Tiyn, Tiyn, Tiyn, Tiyn, bool);

#[derive(serde::Deserialize)]
struct OpenDoc {
    reserved: i64,
    basket: Option<BasketJson>,
    parts: Vec<(i32, i64, Tiyn, Tiyn, Tiyn)>,
    lines: Vec<LineJson>,
    shop: Option<String>,
}

/// Runs [`OPEN_PG`]: `None` if the key is another request's.
fn open_pg(
    conn: &mut Conn,
    id: i64,
    shop_id: &str,
    now: DateTime<Utc>,
    pending: Option<&Pending>,
) -> AppResult<Option<Opened>> {
    let Conn::Pg(c) = conn else { return Err(AppError::internal(anyhow::anyhow!("open_pg on SQLite"))) };
    let doc: fixed::Doc = idempotency::bind_reserve(Fixed::numbered(OPEN_PG).bind(id), pending, now)
        .bind(BasketStatus::Authorized.as_str())
        .bind(shop_id)
        .by_name()
        .get_result(*c)?;
    let d: OpenDoc = doc.parse("capture's locks")?;
    if pending.is_some() && d.reserved != 1 {
        return Ok(None);
    }
    let Some(b) = d.basket else { return Err(basket_not_found()) };
    let row = BasketRow {
        id: b.0,
        shop_id: b.1,
        terminal_id: b.2,
        month: b.3,
        status: stored_state("basket status", &b.4, BasketStatus::parse)?,
        discount_tiyn: b.5,
        to_pay_tiyn: b.6,
        hold_expires_at: b.7,
        captured_at: b.8,
        payment_method: match b.9 {
            Some(m) => Some(stored_state("payment method", &m, PaymentMethod::parse)?),
            None => None,
        },
        paid_tiyn: b.10,
        created_at: b.11,
    };
    let parts = d
        .parts
        .into_iter()
        .map(|(seq, voucher_id, charged, refunded, balance)| {
            (Part { basket_id: id, seq, voucher_id, charged, refunded }, balance)
        })
        .collect();
    let mut lines = Vec::with_capacity(d.lines.len());
    for l in d.lines {
        lines.push(BasketLine {
            index: usize::try_from(l.0).unwrap_or_default(),
            gtin: l.1,
            serial: l.2,
            group: l.3,
            name: l.4,
            unit: stored_state("unit", &l.5, Unit::parse)?,
            quantity: l.6,
            shelf_price_tiyn: l.7,
            reduced_price_tiyn: l.8,
            shelf_amount_tiyn: l.9,
            to_pay_tiyn: l.10,
            discount_tiyn: l.11,
            refunded: l.12,
        });
    }
    let shop_name = d.shop.ok_or_else(|| AppError::new(ErrorCode::ShopNotFound, "Магазин не найден"))?;
    Ok(Some(Opened { row, parts, lines, shop_name }))
}

/// What capture writes once it holds its locks: the charges, the basket paid, the day's figures,
/// the journal's row.
struct Pay<'a> {
    row: &'a BasketRow,
    /// The basket's vouchers, locked, in draw order.
    parts: &'a [Part],
    payment: &'a Payment,
    day: &'a str,
    captured_at: chrono::NaiveDateTime,
    audit: &'a Entry,
    now: DateTime<Utc>,
}

/// What each voucher carries of the basket and its balance now, for the receipt (as
/// [`charges_of`] reads it back later: nothing is refunded yet).
fn charge_of(part: &Part, balance_tiyn: Tiyn) -> VoucherCharge {
    VoucherCharge { voucher_id: part.voucher_id, charged_tiyn: part.charged - part.refunded, balance_tiyn }
}

/// SQLite: [`Pay`] statement by statement (each cached, in-process). Answers the shop's name, the
/// lines and the charges.
fn pay_sqlite(conn: &mut Conn, w: &Pay) -> AppResult<(String, Vec<BasketLine>, Vec<VoucherCharge>)> {
    let (id, row, payment) = (w.row.id, w.row, w.payment);
    let mut charges = Vec::with_capacity(w.parts.len());
    for part in w.parts {
        charges.push(charge_of(part, moves::charge(conn, part.voucher_id, part.charged, id)?));
    }
    let (day, captured_at, now) = (w.day, w.captured_at, w.now);
    let _columns = (baskets::captured_at, baskets::business_day, baskets::payment_method, baskets::hold_expires_at);
    let n = with_conn!(conn, c => Fixed::new(
        "UPDATE baskets SET status = ?, captured_at = ?, business_day = ?, payment_method = ?, paid_tiyn = ? \
         WHERE id = ? AND status = ? AND hold_expires_at > ?",
    )
    .bind(BasketStatus::Captured.as_str())
    .bind(captured_at)
    .bind(day)
    .bind(payment.method.as_str())
    .bind(payment.paid_tiyn)
    .bind(id)
    .bind(BasketStatus::Authorized.as_str())
    .bind(now.naive_utc())
    .execute(c))?;
    if n != 1 {
        return Err(left_authorized(id));
    }
    let (shop_name, region) = shop_of(conn, &row.shop_id)?;
    let lines = lines_of(conn, id)?;
    stats::captured(conn, now, &row.shop_id, &region, (row.discount_tiyn, payment.paid_tiyn), &lines)?;
    audit::record(conn, std::slice::from_ref(w.audit))?;
    Ok((shop_name, lines, charges))
}

fn left_authorized(id: i64) -> AppError {
    AppError::internal(anyhow::anyhow!("basket {id} left `authorized` under its lock"))
}

/// PostgreSQL: [`Pay`] in one statement, with the request's answer stored under its key (the lines,
/// the parts and the shop were read with the locks, [`OPEN_PG`]). Each data-modifying CTE is the
/// statement [`pay_sqlite`] runs for it: the charges ([`moves::charge`] over the parts), the
/// basket's guarded update, and [`stats::captured`]'s counters (the goods summed per group from the
/// basket's lines, in group order). The basket's guard (authorised, hold not run out) is compared
/// through `guard`, a join clause, so that only the primary key can find the basket: as plain
/// restrictions, on a fresh table's stale statistics, the planner walked the (status, hold) index
/// over every open hold and the dead entries of those since captured (auto_explain: 55 of the
/// statement's 75 pages).
const PAY_PG: &str = concat!(
    "WITH \
 charged AS (UPDATE vouchers v SET held_tiyn = v.held_tiyn - p.amount, charged_tiyn = v.charged_tiyn + p.amount, \
   status = CASE WHEN v.status = $11 AND v.balance_tiyn = 0 AND v.held_tiyn = p.amount THEN $12 ELSE v.status END \
   FROM unnest($2::bigint[], $3::bigint[]) AS p(voucher_id, amount) \
   WHERE v.id = p.voucher_id AND v.held_tiyn >= p.amount RETURNING v.id), \
 guard AS MATERIALIZED (SELECT $14::text AS status, $8::timestamp AS until), \
 paid AS (UPDATE baskets b SET status = $13, captured_at = $4, business_day = $5, payment_method = $6, paid_tiyn = $7 \
   FROM guard g WHERE b.id = $1 AND b.status = g.status AND b.hold_expires_at > g.until RETURNING 1), \
 shop AS (SELECT s.region FROM shops s WHERE s.shop_id = $9), \
 day_shop AS (INSERT INTO day_shop_stats (day, shop_id, region, baskets_captured, discount_tiyn, paid_tiyn) \
   SELECT $5, $9, shop.region, 1, $10, $7 FROM shop \
   ON CONFLICT (day, shop_id) DO UPDATE SET baskets_captured = day_shop_stats.baskets_captured + excluded.baskets_captured, \
   discount_tiyn = day_shop_stats.discount_tiyn + excluded.discount_tiyn, \
   paid_tiyn = day_shop_stats.paid_tiyn + excluded.paid_tiyn RETURNING 1), \
 goods AS (INSERT INTO day_goods_stats (day, shop_id, group_code, region, pieces, grams, discount_tiyn) \
   SELECT $5, $9, l.group_code, shop.region, \
   sum(CASE WHEN l.unit = $15 THEN l.quantity ELSE 0 END)::bigint, \
   sum(CASE WHEN l.unit = $16 THEN l.quantity ELSE 0 END)::bigint, sum(l.discount_tiyn)::bigint \
   FROM basket_lines l, shop WHERE l.basket_id = $1 GROUP BY l.group_code, shop.region ORDER BY l.group_code \
   ON CONFLICT (day, shop_id, group_code) DO UPDATE SET pieces = day_goods_stats.pieces + excluded.pieces, \
   grams = day_goods_stats.grams + excluded.grams, \
   discount_tiyn = day_goods_stats.discount_tiyn + excluded.discount_tiyn RETURNING 1), \
 journal AS (INSERT INTO audit_log (at, actor, entity, entity_id, from_state, to_state, detail) \
   VALUES ($17, $18, $19, $20, $21, $22, $23) RETURNING 1), ",
    answer_key_cte!("$24", "$25", "$26"),
    " SELECT (SELECT count(*) FROM paid) AS paid, (SELECT count(*) FROM charged) AS charged"
);

#[derive(QueryableByName)]
struct Paid {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    paid: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    charged: i64,
}

/// Runs [`PAY_PG`], storing `answer` under the pending key (if any).
fn pay_pg(conn: &mut Conn, w: &Pay, answer: &Captured, pending: Option<&Pending>) -> AppResult<()> {
    let id = w.row.id;
    let voucher_ids: Vec<i64> = w.parts.iter().map(|p| p.voucher_id).collect();
    let amounts: Vec<i64> = w.parts.iter().map(|p| p.charged.get()).collect();
    let Conn::Pg(c) = conn else { return Err(AppError::internal(anyhow::anyhow!("pay_pg on SQLite"))) };
    let e = w.audit;
    let q = Fixed::numbered(PAY_PG)
        .bind(id)
        .bind(&voucher_ids)
        .bind(&amounts)
        .bind(w.captured_at)
        .bind(w.day)
        .bind(w.payment.method.as_str())
        .bind(w.payment.paid_tiyn.get())
        .bind(w.now.naive_utc())
        .bind(&w.row.shop_id)
        .bind(w.row.discount_tiyn.get())
        .bind(VoucherStatus::Activated.as_str())
        .bind(VoucherStatus::Exhausted.as_str())
        .bind(BasketStatus::Captured.as_str())
        .bind(BasketStatus::Authorized.as_str())
        .bind(Unit::Piece.as_str())
        .bind(Unit::Kg.as_str())
        .bind(e.at)
        .bind(&e.actor)
        .bind(&e.entity)
        .bind(&e.entity_id)
        .bind(e.from_state.as_deref())
        .bind(&e.to_state)
        .bind(e.detail.as_deref());
    let out: Paid = idempotency::bind_answer(q, pending, answer)?.by_name().get_result(*c)?;
    if out.paid != 1 {
        return Err(left_authorized(id));
    }
    if out.charged != voucher_ids.len() as i64 {
        return Err(AppError::internal(anyhow::anyhow!("a voucher holds less than basket {id}")));
    }
    Ok(())
}

/// The receipt of a captured basket.
pub fn receipt(conn: &mut Conn, id: i64) -> AppResult<Receipt> {
    let row = load_basket(conn, id)?;
    let (shop_name, _) = shop_of(conn, &row.shop_id)?;
    let lines = lines_of(conn, id)?;
    let charges = charges_of(conn, id)?;
    receipt_of(&row, shop_name, lines, charges)
}

/// The receipt of a captured basket whose row, shop name, lines and charges are at hand.
fn receipt_of(
    row: &BasketRow,
    shop_name: String,
    lines: Vec<BasketLine>,
    vouchers: Vec<VoucherCharge>,
) -> AppResult<Receipt> {
    let id = row.id;
    let Some(method) = row.payment_method else {
        return Err(
            AppError::new(ErrorCode::BasketState, "Покупка ещё не оплачена").with("status", row.status.as_str())
        );
    };
    Ok(Receipt {
        basket_id: id,
        shop_id: row.shop_id.clone(),
        shop_name,
        terminal_id: row.terminal_id.clone(),
        captured_at: row.captured_at.unwrap_or(row.created_at).and_utc(),
        lines,
        discount_tiyn: row.discount_tiyn,
        to_pay_tiyn: row.to_pay_tiyn,
        payment: Payment { method, paid_tiyn: row.paid_tiyn.unwrap_or(Tiyn::ZERO) },
        vouchers,
    })
}

/// A basket as the till may ask for it after an unknown outcome: its state, and the receipt once paid.
pub fn basket(conn: &mut Conn, till: &Till, id: i64) -> AppResult<BasketView> {
    let row = load_basket(conn, id)?;
    if row.shop_id != till.shop_id {
        return Err(AppError::new(ErrorCode::Forbidden, "Это покупка другого магазина"));
    }
    let receipt = if row.payment_method.is_some() { Some(receipt(conn, id)?) } else { None };
    Ok(BasketView {
        basket_id: id,
        status: row.status,
        discount_tiyn: row.discount_tiyn,
        to_pay_tiyn: row.to_pay_tiyn,
        hold_expires_at: row.hold_expires_at.and_utc(),
        lines: lines_of(conn, id)?,
        vouchers: charges_of(conn, id)?,
        receipt,
    })
}
