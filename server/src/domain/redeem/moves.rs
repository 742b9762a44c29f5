//! The moves of a voucher's money between its places (`amount = balance + held + charged −
//! refunded + expired`), each one conditional UPDATE in the caller's transaction, written once, of a
//! fixed text kept prepared ([`Fixed`]).
//! The caller holds the voucher's lock (see [`super::locks`]).

use azyq_shared::api::VoucherStatus;
use azyq_shared::Tiyn;
use diesel::prelude::*;

use diesel::sql_types::BigInt;

use crate::db::fixed::Fixed;
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// balance → held, if the voucher is activated and holds that much: whether it moved.
pub(crate) fn hold(conn: &mut Conn, voucher: i64, amount: Tiyn) -> AppResult<bool> {
    let n = with_conn!(conn, c => Fixed::new(
        "UPDATE vouchers SET balance_tiyn = balance_tiyn - ?, held_tiyn = held_tiyn + ? \
         WHERE id = ? AND status = ? AND balance_tiyn >= ?",
    )
    .int(amount.get())
    .int(amount.get())
    .int(voucher)
    .text(VoucherStatus::Activated.as_str())
    .int(amount.get())
    .execute(c))?;
    Ok(n == 1)
}

fn broken(voucher: i64, basket: i64) -> AppError {
    AppError::internal(anyhow::anyhow!("voucher {voucher} holds less than basket {basket}"))
}

/// held → balance (a cancel, an expiry).
pub(crate) fn release(conn: &mut Conn, voucher: i64, amount: Tiyn, basket: i64) -> AppResult<()> {
    let n = with_conn!(conn, c => Fixed::new(
        "UPDATE vouchers SET balance_tiyn = balance_tiyn + ?, held_tiyn = held_tiyn - ? \
         WHERE id = ? AND held_tiyn >= ?",
    )
    .int(amount.get())
    .int(amount.get())
    .int(voucher)
    .int(amount.get())
    .execute(c))?;
    if n != 1 {
        return Err(broken(voucher, basket));
    }
    Ok(())
}

/// held → charged (a capture); a voucher spent to the last tiyn with nothing held is exhausted, in
/// the same UPDATE (its `SET` reads the row as it was). Answers the balance after it.
pub(crate) fn charge(conn: &mut Conn, voucher: i64, amount: Tiyn, basket: i64) -> AppResult<Tiyn> {
    let balance: Option<i64> = with_conn!(conn, c => Fixed::new(
        "UPDATE vouchers SET held_tiyn = held_tiyn - ?, charged_tiyn = charged_tiyn + ?, \
         status = CASE WHEN status = ? AND balance_tiyn = 0 AND held_tiyn = ? THEN ? ELSE status END \
         WHERE id = ? AND held_tiyn >= ? RETURNING balance_tiyn",
    )
    .int(amount.get())
    .int(amount.get())
    .text(VoucherStatus::Activated.as_str())
    .int(amount.get())
    .text(VoucherStatus::Exhausted.as_str())
    .int(voucher)
    .int(amount.get())
    .returning::<BigInt>()
    .get_result(c)
    .optional())?;
    balance.map(Tiyn::new).ok_or_else(|| broken(voucher, basket))
}

/// A refund: back to the balance, counted as refunded; an exhausted voucher is spendable again.
pub(crate) fn give_back(conn: &mut Conn, voucher: i64, amount: Tiyn) -> AppResult<()> {
    with_conn!(conn, c => Fixed::new(
        "UPDATE vouchers SET balance_tiyn = balance_tiyn + ?, refunded_tiyn = refunded_tiyn + ?, \
         status = CASE WHEN status = ? THEN ? ELSE status END WHERE id = ?",
    )
    .int(amount.get())
    .int(amount.get())
    .text(VoucherStatus::Exhausted.as_str())
    .text(VoucherStatus::Activated.as_str())
    .int(voucher)
    .execute(c))?;
    Ok(())
}
