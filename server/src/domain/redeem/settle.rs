//! After authorise: capture, cancel, hold expiry, refund.

use std::collections::BTreeSet;

use azyq_shared::api::{
    BasketLine, BasketState, BasketStatus, Captured, ErrorCode, Payment, PaymentMethod, Receipt, Refund,
};
use azyq_shared::{BusinessDay, Month};
use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;

use super::{charges_of, lines_of, load_basket, release_hold, shop_of, status_of, BasketRow, Till};
use crate::db::audit::{self, Entry};
use crate::db::schema::{basket_lines, basket_vouchers, baskets, months, refunds, serial_claims, vouchers};
use crate::db::Conn;
use crate::domain::stats::{self, BasketEvent};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// Loads a basket of the till's own shop: another shop's basket is 403 (API.md).
fn own_basket(conn: &mut Conn, till: &Till, id: i64) -> AppResult<BasketRow> {
    let row = load_basket(conn, id)?;
    if row.shop_id != till.shop_id {
        return Err(AppError::new(ErrorCode::Forbidden, "Это покупка другого магазина"));
    }
    Ok(row)
}

fn state_error(status: BasketStatus, action: &str) -> AppError {
    let what = match status {
        BasketStatus::Authorized => "ещё не оплачена",
        BasketStatus::Captured => "уже оплачена",
        BasketStatus::Cancelled => "отменена",
        BasketStatus::HoldExpired => "отменена по истечении времени",
        BasketStatus::PartlyRefunded => "частично возвращена",
        BasketStatus::Refunded => "полностью возвращена",
    };
    AppError::new(ErrorCode::BasketState, format!("Нельзя {action}: покупка {what}")).with("status", status.as_str())
}

fn hold_expired() -> AppError {
    AppError::new(ErrorCode::HoldExpired, "Время на оплату истекло, резерв снят: проведите покупку заново")
}

fn set_status(conn: &mut Conn, id: i64, from: BasketStatus, to: BasketStatus, now: DateTime<Utc>) -> AppResult<bool> {
    let n = with_conn!(conn, c => diesel::update(baskets::table.filter(baskets::id.eq(id)).filter(baskets::status.eq(from.as_str())))
        .set((baskets::status.eq(to.as_str()), baskets::closed_at.eq(now.naive_utc())))
        .execute(c))?;
    Ok(n == 1)
}

/// Releases every authorised basket whose hold has run out (or, with `only`, that one basket).
pub fn expire_holds(conn: &mut Conn, now: DateTime<Utc>, only: Option<i64>) -> AppResult<usize> {
    let due: Vec<i64> = with_conn!(conn, c => {
        let mut q = baskets::table
            .filter(baskets::status.eq(BasketStatus::Authorized.as_str()))
            .filter(baskets::hold_expires_at.le(now.naive_utc()))
            .select(baskets::id)
            .into_boxed();
        if let Some(id) = only {
            q = q.filter(baskets::id.eq(id));
        }
        q.load(c)
    })?;
    release_all(conn, &due, BasketStatus::HoldExpired, "scheduler", now)
}

/// Whether a basket is still authorised though its hold has run out: the one case in which a till's
/// capture or cancel must first release it ([`expire_holds`]). A read, so the common case costs the
/// writer nothing.
pub fn hold_ran_out(conn: &mut Conn, id: i64, now: DateTime<Utc>) -> AppResult<bool> {
    let n: i64 = with_conn!(conn, c => baskets::table
        .filter(baskets::id.eq(id))
        .filter(baskets::status.eq(BasketStatus::Authorized.as_str()))
        .filter(baskets::hold_expires_at.le(now.naive_utc()))
        .count()
        .get_result(c))?;
    Ok(n > 0)
}

/// Month end: holds still open are released first (SPEC §2.7).
pub fn release_month_holds(conn: &mut Conn, month: Month, now: DateTime<Utc>) -> AppResult<usize> {
    let open: Vec<i64> = with_conn!(conn, c => baskets::table
        .filter(baskets::status.eq(BasketStatus::Authorized.as_str()))
        .filter(baskets::month.eq(month.as_ref()))
        .select(baskets::id)
        .load(c))?;
    release_all(conn, &open, BasketStatus::HoldExpired, "month_close", now)
}

fn release_all(conn: &mut Conn, ids: &[i64], to: BasketStatus, actor: &str, now: DateTime<Utc>) -> AppResult<usize> {
    let mut journal = Vec::new();
    for &id in ids {
        if set_status(conn, id, BasketStatus::Authorized, to, now)? {
            release_hold(conn, id)?;
            let shop_id = load_basket(conn, id)?.shop_id;
            let event = if to == BasketStatus::Cancelled { BasketEvent::Cancelled } else { BasketEvent::HoldExpired };
            stats::basket(conn, now, &shop_id, event)?;
            journal.push(Entry::new(now, actor, "basket", id.to_string(), Some("authorized"), to.as_str()));
        }
    }
    audit::record(conn, &journal)?;
    Ok(journal.len())
}

/// Cancel: the hold goes back to the vouchers. Cancelling a cancelled basket answers the same.
pub fn cancel(conn: &mut Conn, till: &Till, id: i64, now: DateTime<Utc>) -> AppResult<BasketState> {
    let row = own_basket(conn, till, id)?;
    match status_of(&row)? {
        BasketStatus::Cancelled => {}
        BasketStatus::Authorized => {
            release_all(conn, &[id], BasketStatus::Cancelled, &till.actor(), now)?;
        }
        BasketStatus::HoldExpired => return Err(hold_expired()),
        other => return Err(state_error(other, "отменить")),
    }
    Ok(BasketState { basket_id: id, status: BasketStatus::Cancelled })
}

/// Capture (Alg. p.26): the customer paid the reduced total; the hold becomes a charge.
pub fn capture(conn: &mut Conn, till: &Till, id: i64, payment: &Payment, now: DateTime<Utc>) -> AppResult<Captured> {
    let row = own_basket(conn, till, id)?;
    match status_of(&row)? {
        BasketStatus::Authorized if row.hold_expires_at <= now.naive_utc() => return Err(hold_expired()),
        BasketStatus::Authorized => {}
        BasketStatus::HoldExpired => return Err(hold_expired()),
        other => return Err(state_error(other, "провести оплату")),
    }
    if payment.paid_tiyn != row.to_pay_tiyn {
        return Err(AppError::validation(
            "payment.paid_tiyn",
            format!(
                "к оплате {}, а указано {}",
                azyq_shared::Tiyn::new(row.to_pay_tiyn),
                azyq_shared::Tiyn::new(payment.paid_tiyn)
            ),
        ));
    }
    let parts: Vec<(i64, i64)> = with_conn!(conn, c => basket_vouchers::table
        .filter(basket_vouchers::basket_id.eq(id))
        .select((basket_vouchers::voucher_id, basket_vouchers::charged_tiyn))
        .load(c))?;
    for (voucher_id, amount) in &parts {
        let moved = with_conn!(conn, c => diesel::update(vouchers::table
                .filter(vouchers::id.eq(voucher_id))
                .filter(vouchers::held_tiyn.ge(amount)))
            .set((vouchers::held_tiyn.eq(vouchers::held_tiyn - amount), vouchers::charged_tiyn.eq(vouchers::charged_tiyn + amount)))
            .execute(c))?;
        if moved != 1 {
            return Err(AppError::internal(anyhow::anyhow!("voucher {voucher_id} holds less than basket {id}")));
        }
        // Spent to the last tiyn, nothing held: the voucher is exhausted.
        with_conn!(conn, c => diesel::update(vouchers::table
                .filter(vouchers::id.eq(voucher_id))
                .filter(vouchers::status.eq("activated"))
                .filter(vouchers::balance_tiyn.eq(0_i64))
                .filter(vouchers::held_tiyn.eq(0_i64)))
            .set(vouchers::status.eq("exhausted"))
            .execute(c))?;
    }
    let day = BusinessDay::of(now).to_string();
    // Microseconds, as PostgreSQL keeps them: the receipt answered now is the one read back later.
    let captured_at = now.naive_utc().trunc_subsecs(6);
    let n = with_conn!(conn, c => diesel::update(baskets::table.filter(baskets::id.eq(id)).filter(baskets::status.eq("authorized")))
        .set((
            baskets::status.eq(BasketStatus::Captured.as_str()),
            baskets::captured_at.eq(captured_at),
            baskets::business_day.eq(&day),
            baskets::payment_method.eq(payment.method.as_str()),
            baskets::paid_tiyn.eq(payment.paid_tiyn),
        ))
        .execute(c))?;
    if n != 1 {
        return Err(AppError::internal(anyhow::anyhow!("basket {id} changed during capture")));
    }
    let (shop_name, region) = shop_of(conn, &row.shop_id)?;
    let lines = lines_of(conn, id)?;
    stats::captured(conn, now, &row.shop_id, &region, (row.discount_tiyn, payment.paid_tiyn), &lines)?;
    let paid = BasketRow {
        status: BasketStatus::Captured.as_str().to_owned(),
        captured_at: Some(captured_at),
        payment_method: Some(payment.method.as_str().to_owned()),
        paid_tiyn: Some(payment.paid_tiyn),
        ..row
    };
    audit::record(
        conn,
        &[Entry::new(now, &till.actor(), "basket", id.to_string(), Some("authorized"), "captured").detail(format!(
            "paid_tiyn={} method={}",
            payment.paid_tiyn,
            payment.method.as_str()
        ))],
    )?;
    tracing::info!(basket_id = id, "basket captured");
    let receipt = receipt_of(conn, &paid, shop_name, lines)?;
    Ok(Captured { basket_id: id, status: BasketStatus::Captured, receipt })
}

/// The receipt of a captured basket.
pub fn receipt(conn: &mut Conn, id: i64) -> AppResult<Receipt> {
    let row = load_basket(conn, id)?;
    let (shop_name, _) = shop_of(conn, &row.shop_id)?;
    let lines = lines_of(conn, id)?;
    receipt_of(conn, &row, shop_name, lines)
}

/// The receipt of a captured basket whose row, shop name and lines are at hand.
fn receipt_of(conn: &mut Conn, row: &BasketRow, shop_name: String, lines: Vec<BasketLine>) -> AppResult<Receipt> {
    let id = row.id;
    let method = match row.payment_method.as_deref() {
        Some("card") => PaymentMethod::Card,
        Some("cash") => PaymentMethod::Cash,
        _ => {
            return Err(
                AppError::new(ErrorCode::BasketState, "Покупка ещё не оплачена").with("status", row.status.clone())
            )
        }
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
        payment: Payment { method, paid_tiyn: row.paid_tiyn.unwrap_or(0) },
        vouchers: charges_of(conn, id)?,
    })
}

/// A basket as the till may ask for it after an unknown outcome: its state, and the receipt once paid.
pub fn basket(conn: &mut Conn, till: &Till, id: i64) -> AppResult<serde_json::Value> {
    let row = own_basket(conn, till, id)?;
    let status = status_of(&row)?;
    let mut v = serde_json::json!({
        "basket_id": id,
        "status": status,
        "discount_tiyn": row.discount_tiyn,
        "to_pay_tiyn": row.to_pay_tiyn,
        "hold_expires_at": row.hold_expires_at.and_utc(),
        "lines": lines_of(conn, id)?,
        "vouchers": charges_of(conn, id)?,
    });
    if row.payment_method.is_some() {
        v["receipt"] = serde_json::to_value(receipt(conn, id)?).map_err(AppError::internal)?;
    }
    Ok(v)
}

/// Refund (SPEC §3.5): by the same shop within the same month, whole or by line; the discount goes
/// back to the voucher(s) it came from (last drawn first) and serial codes become sellable again.
pub fn refund(
    conn: &mut Conn,
    till: &Till,
    id: i64,
    wanted: Option<&[usize]>,
    now: DateTime<Utc>,
) -> AppResult<Refund> {
    let row = own_basket(conn, till, id)?;
    match status_of(&row)? {
        BasketStatus::Captured | BasketStatus::PartlyRefunded => {}
        other => return Err(state_error(other, "вернуть")),
    }
    let month = Month::parse(&row.month).map_err(|e| AppError::internal(anyhow::anyhow!("stored month: {e}")))?;
    let closed: Option<String> =
        with_conn!(conn, c => months::table.find(month.as_ref()).select(months::status).first(c).optional())?;
    if closed.as_deref() == Some("closed") || now >= month.end_instant() {
        return Err(AppError::new(
            ErrorCode::MonthClosed,
            format!("Возврат возможен только в месяце покупки ({month})"),
        ));
    }
    let lines = lines_of(conn, id)?;
    let chosen: BTreeSet<usize> = match wanted {
        None => lines.iter().filter(|l| !l.refunded).map(|l| l.index).collect(),
        Some(idx) => idx.iter().copied().collect(),
    };
    if chosen.is_empty() {
        return Err(AppError::validation("lines", "нет строк для возврата"));
    }
    for &i in &chosen {
        match lines.iter().find(|l| l.index == i) {
            None => return Err(AppError::validation("lines", format!("в покупке нет строки {i}")).with("line", i)),
            Some(l) if l.refunded => {
                return Err(
                    AppError::new(ErrorCode::BasketState, format!("Строка {} уже возвращена", i + 1)).with("line", i)
                )
            }
            Some(_) => {}
        }
    }
    let amount: i64 = lines.iter().filter(|l| chosen.contains(&l.index)).map(|l| l.discount_tiyn).sum();

    // Give back to the vouchers, last drawn first.
    let parts: Vec<(i32, i64, i64, i64)> = with_conn!(conn, c => basket_vouchers::table
        .filter(basket_vouchers::basket_id.eq(id))
        .order(basket_vouchers::seq.desc())
        .select((basket_vouchers::seq, basket_vouchers::voucher_id, basket_vouchers::charged_tiyn, basket_vouchers::refunded_tiyn))
        .load(c))?;
    let mut left = amount;
    for (seq, voucher_id, charged, refunded) in parts {
        let give = left.min(charged - refunded);
        if give <= 0 {
            continue;
        }
        with_conn!(conn, c => diesel::update(basket_vouchers::table.find((id, seq)))
            .set(basket_vouchers::refunded_tiyn.eq(basket_vouchers::refunded_tiyn + give))
            .execute(c))?;
        with_conn!(conn, c => diesel::update(vouchers::table.filter(vouchers::id.eq(voucher_id)))
            .set((vouchers::balance_tiyn.eq(vouchers::balance_tiyn + give), vouchers::refunded_tiyn.eq(vouchers::refunded_tiyn + give)))
            .execute(c))?;
        with_conn!(conn, c => diesel::update(vouchers::table.filter(vouchers::id.eq(voucher_id)).filter(vouchers::status.eq("exhausted")))
            .set(vouchers::status.eq("activated"))
            .execute(c))?;
        left -= give;
    }
    if left != 0 {
        return Err(AppError::internal(anyhow::anyhow!("basket {id}: refund exceeds what its vouchers carry")));
    }
    let idx: Vec<i32> = chosen.iter().map(|&i| i as i32).collect();
    with_conn!(conn, c => diesel::update(basket_lines::table.filter(basket_lines::basket_id.eq(id)).filter(basket_lines::idx.eq_any(&idx)))
        .set(basket_lines::refunded.eq(true))
        .execute(c))?;
    for l in lines.iter().filter(|l| chosen.contains(&l.index)) {
        if let Some(serial) = &l.serial {
            with_conn!(conn, c => diesel::delete(serial_claims::table.find((&l.gtin, serial))).execute(c))?;
        }
    }
    let all = lines.iter().all(|l| l.refunded || chosen.contains(&l.index));
    let to = if all { BasketStatus::Refunded } else { BasketStatus::PartlyRefunded };
    with_conn!(conn, c => diesel::update(baskets::table.filter(baskets::id.eq(id)))
        .set(baskets::status.eq(to.as_str()))
        .execute(c))?;
    stats::basket(conn, now, &row.shop_id, BasketEvent::Refunded { tiyn: amount })?;
    let line_list: Vec<usize> = chosen.iter().copied().collect();
    let refund_id: i64 = with_conn!(conn, c => diesel::insert_into(refunds::table)
        .values((
            refunds::basket_id.eq(id),
            refunds::lines.eq(serde_json::to_string(&line_list).unwrap_or_default()),
            refunds::refunded_tiyn.eq(amount),
            refunds::created_at.eq(now.naive_utc()),
            refunds::business_day.eq(BusinessDay::of(now).to_string()),
        ))
        .returning(refunds::id)
        .get_result(c))?;
    audit::record(
        conn,
        &[Entry::new(now, &till.actor(), "basket", id.to_string(), Some(&row.status), to.as_str())
            .detail(format!("refund_id={refund_id} refunded_tiyn={amount}"))],
    )?;
    Ok(Refund {
        refund_id,
        basket_id: id,
        status: to,
        lines: line_list,
        refunded_tiyn: amount,
        vouchers: charges_of(conn, id)?,
    })
}
