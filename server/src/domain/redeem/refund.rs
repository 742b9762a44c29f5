//! Refund (SPEC §3.5): by the same shop within the same month, whole or by line; the discount goes
//! back to the voucher(s) it came from (last drawn first) and serial codes become sellable again.

use std::collections::BTreeSet;

use azyq_shared::api::{BasketStatus, ErrorCode, Refund};
use azyq_shared::{BusinessDay, Tiyn};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::locks;
use super::{charges_of, lines_of, moves, open_transition, parts_of, state_error, Till};
use crate::db::audit::{self, Entry};
use crate::db::schema::{basket_lines, basket_vouchers, baskets, refunds, serial_claims};
use crate::db::Conn;
use crate::domain::cycle;
use crate::domain::stats::{self, BasketEvent};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// Refund (in its transaction). `wanted`: line indexes, or `None` for every line not yet refunded.
pub(crate) fn refund(
    conn: &mut Conn,
    till: &Till,
    id: i64,
    wanted: Option<&[usize]>,
    now: DateTime<Utc>,
) -> AppResult<Refund> {
    let (row, month_status) = open_transition(conn, Some(till), id)?;
    let status = row.status;
    match status {
        BasketStatus::Captured | BasketStatus::PartlyRefunded => {}
        other => return Err(state_error(other, "вернуть")),
    }
    crate::domain::offline::refundable(conn, id)?;
    let month = row.month()?;
    if cycle::month_over(month_status, month, now) {
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
                return Err(AppError::new(
                    ErrorCode::BasketState,
                    format!("Строка {} уже возвращена: деньги по ней вернулись на ваучер раньше", i + 1),
                )
                .with("line", i)
                .with("status", status.as_str()))
            }
            Some(_) => {}
        }
    }
    let amount: Tiyn = lines.iter().filter(|l| chosen.contains(&l.index)).map(|l| l.discount_tiyn).sum();

    // Give back to the vouchers, last drawn first.
    let mut parts = parts_of(conn, &[id])?;
    let voucher_ids: Vec<i64> = parts.iter().map(|p| p.voucher_id).collect();
    locks::lock_vouchers(conn, &voucher_ids)?;
    parts.reverse();
    let mut left = amount;
    for part in parts {
        let give = left.min(part.charged - part.refunded);
        if give <= Tiyn::ZERO {
            continue;
        }
        with_conn!(conn, c => diesel::update(basket_vouchers::table.find((id, part.seq)))
            .set(basket_vouchers::refunded_tiyn.eq(basket_vouchers::refunded_tiyn + give))
            .execute(c))?;
        moves::give_back(conn, part.voucher_id, give)?;
        left -= give;
    }
    if left != Tiyn::ZERO {
        return Err(AppError::internal(anyhow::anyhow!("basket {id}: refund exceeds what its vouchers carry")));
    }
    let idx: Vec<i32> = chosen.iter().map(|&i| i as i32).collect();
    // Guarded by `refunded = false`: a line is refunded once, whatever else runs.
    let marked = with_conn!(conn, c => diesel::update(basket_lines::table
            .filter(basket_lines::basket_id.eq(id))
            .filter(basket_lines::idx.eq_any(&idx))
            .filter(basket_lines::refunded.eq(false)))
        .set(basket_lines::refunded.eq(true))
        .execute(c))?;
    if marked != idx.len() {
        return Err(AppError::internal(anyhow::anyhow!("basket {id}: a line was refunded under the basket's lock")));
    }
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
            refunds::lines.eq(serde_json::to_string(&line_list).map_err(AppError::internal)?),
            refunds::refunded_tiyn.eq(amount),
            refunds::created_at.eq(now.naive_utc()),
            refunds::business_day.eq(BusinessDay::of(now).to_string()),
        ))
        .returning(refunds::id)
        .get_result(c))?;
    audit::record(
        conn,
        &[Entry::new(now, &till.actor(), "basket", id.to_string(), Some(row.status.as_str()), to.as_str())
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
