//! The moves of a voucher's money between its places (`amount = balance + held + charged −
//! refunded + expired`), each one conditional UPDATE in the caller's transaction, written once.
//! The caller holds the voucher's lock (see [`super::locks`]).

use azyq_shared::api::VoucherStatus;
use azyq_shared::Tiyn;
use diesel::prelude::*;

use crate::db::schema::vouchers;
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// balance → held, if the voucher is activated and holds that much: whether it moved.
pub(crate) fn hold(conn: &mut Conn, voucher: i64, amount: Tiyn) -> AppResult<bool> {
    let n = with_conn!(conn, c => diesel::update(vouchers::table
            .filter(vouchers::id.eq(voucher))
            .filter(vouchers::status.eq(VoucherStatus::Activated))
            .filter(vouchers::balance_tiyn.ge(amount)))
        .set((vouchers::balance_tiyn.eq(vouchers::balance_tiyn - amount), vouchers::held_tiyn.eq(vouchers::held_tiyn + amount)))
        .execute(c))?;
    Ok(n == 1)
}

fn broken(voucher: i64, basket: i64) -> AppError {
    AppError::internal(anyhow::anyhow!("voucher {voucher} holds less than basket {basket}"))
}

/// held → balance (a cancel, an expiry).
pub(crate) fn release(conn: &mut Conn, voucher: i64, amount: Tiyn, basket: i64) -> AppResult<()> {
    let n = with_conn!(conn, c => diesel::update(vouchers::table
            .filter(vouchers::id.eq(voucher))
            .filter(vouchers::held_tiyn.ge(amount)))
        .set((vouchers::balance_tiyn.eq(vouchers::balance_tiyn + amount), vouchers::held_tiyn.eq(vouchers::held_tiyn - amount)))
        .execute(c))?;
    if n != 1 {
        return Err(broken(voucher, basket));
    }
    Ok(())
}

/// held → charged (a capture); a voucher spent to the last tiyn with nothing held is exhausted, in
/// the same UPDATE (its `SET` reads the row as it was). Answers the balance after it.
pub(crate) fn charge(conn: &mut Conn, voucher: i64, amount: Tiyn, basket: i64) -> AppResult<Tiyn> {
    use diesel::dsl::case_when;
    use diesel::sql_types::Text;
    let spent = vouchers::status
        .eq(VoucherStatus::Activated)
        .and(vouchers::balance_tiyn.eq(Tiyn::ZERO))
        .and(vouchers::held_tiyn.eq(amount));
    let balance: Option<Tiyn> = with_conn!(conn, c => diesel::update(vouchers::table
            .filter(vouchers::id.eq(voucher))
            .filter(vouchers::held_tiyn.ge(amount)))
        .set((
            vouchers::held_tiyn.eq(vouchers::held_tiyn - amount),
            vouchers::charged_tiyn.eq(vouchers::charged_tiyn + amount),
            vouchers::status.eq(case_when(spent, VoucherStatus::Exhausted.into_sql::<Text>()).otherwise(vouchers::status)),
        ))
        .returning(vouchers::balance_tiyn)
        .get_result(c)
        .optional())?;
    balance.ok_or_else(|| broken(voucher, basket))
}

/// A refund: back to the balance, counted as refunded; an exhausted voucher is spendable again.
pub(crate) fn give_back(conn: &mut Conn, voucher: i64, amount: Tiyn) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(vouchers::table.filter(vouchers::id.eq(voucher)))
        .set((vouchers::balance_tiyn.eq(vouchers::balance_tiyn + amount), vouchers::refunded_tiyn.eq(vouchers::refunded_tiyn + amount)))
        .execute(c))?;
    with_conn!(conn, c => diesel::update(vouchers::table
            .filter(vouchers::id.eq(voucher))
            .filter(vouchers::status.eq(VoucherStatus::Exhausted)))
        .set(vouchers::status.eq(VoucherStatus::Activated))
        .execute(c))?;
    Ok(())
}
