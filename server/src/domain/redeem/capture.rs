//! Capture (Alg. p.26): the customer paid the reduced total; the hold becomes a charge. And what a
//! till reads of a basket afterwards: its receipt and state.

use azyq_shared::api::{
    BasketLine, BasketStatus, BasketView, Captured, ErrorCode, Payment, Receipt, Unit, VoucherCharge, VoucherStatus,
};
use azyq_shared::{BusinessDay, Tiyn};
use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;

use super::locks;
use super::{
    charges_of, hold_expired, lines_of, load_basket, moves, open_transition, shop_of, state_error, BasketRow, Part,
    Till,
};
use crate::db::audit::{self, Entry};
use crate::db::fixed::Fixed;
use crate::db::schema::baskets;
use crate::db::Conn;
use crate::domain::stats;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// Capture (in its transaction). A hold that ran out is `hold_expired` (the caller then releases
/// it as such).
pub(crate) fn capture(
    conn: &mut Conn,
    till: &Till,
    id: i64,
    payment: &Payment,
    now: DateTime<Utc>,
) -> AppResult<Captured> {
    let (row, _) = open_transition(conn, Some(till), id)?;
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
    let parts = locks::lock_parts(conn, id)?;
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
    let pay = Pay { row: &row, parts: &parts, payment, day: &day, captured_at, audit: &audit, now };
    let (shop_name, lines, charges) = match conn {
        Conn::Pg(_) => pay_pg(conn, &pay)?,
        Conn::Sqlite(_) => pay_sqlite(conn, &pay)?,
    };
    let paid = BasketRow {
        status: BasketStatus::Captured,
        captured_at: Some(captured_at),
        payment_method: Some(payment.method),
        paid_tiyn: Some(payment.paid_tiyn),
        ..row
    };
    tracing::info!(basket_id = id, "basket captured");
    let receipt = receipt_of(&paid, shop_name, lines, charges)?;
    Ok(Captured { basket_id: id, status: BasketStatus::Captured, receipt })
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

/// PostgreSQL: [`Pay`] in one statement (the lines read just before it). Each data-modifying CTE is
/// the statement [`pay_sqlite`] runs for it: the charges ([`moves::charge`] over the parts), the
/// basket's guarded update, and [`stats::captured`]'s counters (the goods summed per group from the
/// basket's lines, in group order).
const PAY_PG: &str = "WITH \
 charged AS (UPDATE vouchers v SET held_tiyn = v.held_tiyn - p.amount, charged_tiyn = v.charged_tiyn + p.amount, \
   status = CASE WHEN v.status = $11 AND v.balance_tiyn = 0 AND v.held_tiyn = p.amount THEN $12 ELSE v.status END \
   FROM unnest($2::bigint[], $3::bigint[]) AS p(voucher_id, amount) \
   WHERE v.id = p.voucher_id AND v.held_tiyn >= p.amount RETURNING v.id, v.balance_tiyn), \
 paid AS (UPDATE baskets SET status = $13, captured_at = $4, business_day = $5, payment_method = $6, paid_tiyn = $7 \
   WHERE id = $1 AND status = $14 AND hold_expires_at > $8 RETURNING 1), \
 shop AS (SELECT s.name, s.region FROM shops s WHERE s.shop_id = $9), \
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
   VALUES ($17, $18, $19, $20, $21, $22, $23) RETURNING 1) \
 SELECT (SELECT count(*) FROM paid) AS paid, (SELECT shop.name FROM shop) AS shop_name, \
   ARRAY(SELECT c.id FROM charged c) AS voucher_ids, ARRAY(SELECT c.balance_tiyn FROM charged c) AS balances";

#[derive(QueryableByName)]
struct Paid {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    paid: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    shop_name: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::BigInt>)]
    voucher_ids: Vec<i64>,
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::BigInt>)]
    balances: Vec<i64>,
}

fn pay_pg(conn: &mut Conn, w: &Pay) -> AppResult<(String, Vec<BasketLine>, Vec<VoucherCharge>)> {
    let id = w.row.id;
    let voucher_ids: Vec<i64> = w.parts.iter().map(|p| p.voucher_id).collect();
    let amounts: Vec<i64> = w.parts.iter().map(|p| p.charged.get()).collect();
    // The lines first: the statement below takes the shop's day counters, which every till of the
    // shop waits for until this transaction commits, so nothing that can be read before it is read
    // after it.
    let lines = lines_of(conn, id)?;
    let Conn::Pg(c) = conn else { return pay_sqlite(conn, w) };
    let e = w.audit;
    let out: Paid = Fixed::numbered(PAY_PG)
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
        .bind(e.detail.as_deref())
        .by_name()
        .get_result(*c)?;
    if out.paid != 1 {
        return Err(left_authorized(id));
    }
    let shop_name = out.shop_name.ok_or_else(|| AppError::new(ErrorCode::ShopNotFound, "Магазин не найден"))?;
    let mut charges = Vec::with_capacity(w.parts.len());
    for part in w.parts {
        let at = out.voucher_ids.iter().position(|v| *v == part.voucher_id);
        let balance = at.and_then(|i| out.balances.get(i)).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("voucher {} holds less than basket {id}", part.voucher_id))
        })?;
        charges.push(charge_of(part, Tiyn::new(*balance)));
    }
    Ok((shop_name, lines, charges))
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
