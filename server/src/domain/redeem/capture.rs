//! Capture (Alg. p.26): the customer paid the reduced total; the hold becomes a charge. And what a
//! till reads of a basket afterwards: its receipt and state.

use azyq_shared::api::{BasketLine, BasketStatus, BasketView, Captured, ErrorCode, Payment, Receipt, VoucherCharge};
use azyq_shared::{BusinessDay, Tiyn};
use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;

use super::locks;
use super::{
    charges_of, hold_expired, lines_of, load_basket, moves, open_transition, parts_of, shop_of, state_error, BasketRow,
    Till,
};
use crate::db::audit::{self, Entry};
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
    let parts = parts_of(conn, &[id])?;
    let voucher_ids: Vec<i64> = parts.iter().map(|p| p.voucher_id).collect();
    locks::lock_vouchers(conn, &voucher_ids)?;
    // What each voucher carries of the basket and its balance now, for the receipt (as
    // [`charges_of`] reads it back later: nothing is refunded yet).
    let mut charges = Vec::with_capacity(parts.len());
    for part in &parts {
        let balance_tiyn = moves::charge(conn, part.voucher_id, part.charged, id)?;
        charges.push(VoucherCharge {
            voucher_id: part.voucher_id,
            charged_tiyn: part.charged - part.refunded,
            balance_tiyn,
        });
    }
    let day = BusinessDay::of(now).to_string();
    // Microseconds, as PostgreSQL keeps them: the receipt answered now is the one read back later.
    let captured_at = now.naive_utc().trunc_subsecs(6);
    let n = with_conn!(conn, c => diesel::update(baskets::table.filter(baskets::id.eq(id)).filter(baskets::status.eq(BasketStatus::Authorized)))
        .set((
            baskets::status.eq(BasketStatus::Captured),
            baskets::captured_at.eq(captured_at),
            baskets::business_day.eq(&day),
            baskets::payment_method.eq(payment.method),
            baskets::paid_tiyn.eq(payment.paid_tiyn),
        ))
        .execute(c))?;
    if n != 1 {
        return Err(AppError::internal(anyhow::anyhow!("basket {id} left `authorized` under its lock")));
    }
    let (shop_name, region) = shop_of(conn, &row.shop_id)?;
    let lines = lines_of(conn, id)?;
    stats::captured(conn, now, &row.shop_id, &region, (row.discount_tiyn, payment.paid_tiyn), &lines)?;
    let paid = BasketRow {
        status: BasketStatus::Captured,
        captured_at: Some(captured_at),
        payment_method: Some(payment.method),
        paid_tiyn: Some(payment.paid_tiyn),
        ..row
    };
    audit::record(
        conn,
        &[Entry::new(
            now,
            &till.actor(),
            "basket",
            id.to_string(),
            Some(BasketStatus::Authorized.as_str()),
            BasketStatus::Captured.as_str(),
        )
        .detail(format!("paid_tiyn={} method={}", payment.paid_tiyn, payment.method.as_str()))],
    )?;
    tracing::info!(basket_id = id, "basket captured");
    let receipt = receipt_of(&paid, shop_name, lines, charges)?;
    Ok(Captured { basket_id: id, status: BasketStatus::Captured, receipt })
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
