//! Redemption at the till (SPEC §3): authorise places a hold for the discount, capture turns it
//! into a charge, cancel and expiry release it, refund returns it.
//!
//! A voucher's money is always in exactly one place — `amount = balance + held + charged −
//! refunded + expired` — and every move between places is one conditional UPDATE in the
//! transaction of the basket change, so no interleaving of tills, processes or retries can take a
//! balance below zero or spend a tiyn twice.

mod authorize;
mod settle;

pub use authorize::{authorize, check, holder, present as authorize_present, Checked};
pub use settle::{basket, cancel, capture, expire_holds, hold_ran_out, refund, release_month_holds};

use azyq_shared::api::{BasketLine, BasketStatus, ErrorCode, Unit, VoucherCharge};
use azyq_shared::token::TokenError;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{basket_lines, basket_vouchers, baskets, serial_claims, shops, vouchers};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// The cashier a till request comes from (from the session token).
#[derive(Debug, Clone)]
pub struct Till {
    pub shop_id: String,
    pub terminal_id: String,
    pub login: String,
}

impl Till {
    pub fn actor(&self) -> String {
        format!("cashier:{}/{}@{}", self.shop_id, self.login, self.terminal_id)
    }
}

/// The shop's name and region.
pub fn shop_of(conn: &mut Conn, shop_id: &str) -> AppResult<(String, String)> {
    with_conn!(conn, c => shops::table.find(shop_id).select((shops::name, shops::region)).first(c).optional())?
        .ok_or_else(|| AppError::new(ErrorCode::ShopNotFound, "Магазин не найден"))
}

/// A token refusal as the API answers it.
pub fn token_error(e: TokenError) -> AppError {
    match e {
        TokenError::Invalid(reason) => {
            AppError::new(ErrorCode::TokenInvalid, "QR-код ваучера недействителен: попросите показать код заново")
                .with("reason", reason)
        }
        TokenError::Expired { expires_at } => {
            AppError::new(ErrorCode::TokenExpired, "Срок QR-кода истёк: попросите покупателя обновить код в приложении")
                .with("expires_at", expires_at.to_rfc3339())
        }
        TokenError::UnknownKey(kid) => {
            AppError::new(ErrorCode::UnknownKey, "QR-код подписан неизвестным ключом").with("kid", kid)
        }
    }
}

pub fn basket_not_found() -> AppError {
    AppError::new(ErrorCode::BasketNotFound, "Покупка не найдена")
}

/// A basket row as the settle steps need it.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct BasketRow {
    pub id: i64,
    pub shop_id: String,
    pub terminal_id: String,
    pub month: String,
    pub status: String,
    pub discount_tiyn: i64,
    pub to_pay_tiyn: i64,
    pub hold_expires_at: NaiveDateTime,
    pub captured_at: Option<NaiveDateTime>,
    pub payment_method: Option<String>,
    pub paid_tiyn: Option<i64>,
    pub created_at: NaiveDateTime,
}

pub(crate) fn load_basket(conn: &mut Conn, id: i64) -> AppResult<BasketRow> {
    with_conn!(conn, c => baskets::table
        .find(id)
        .select((
            baskets::id,
            baskets::shop_id,
            baskets::terminal_id,
            baskets::month,
            baskets::status,
            baskets::discount_tiyn,
            baskets::to_pay_tiyn,
            baskets::hold_expires_at,
            baskets::captured_at,
            baskets::payment_method,
            baskets::paid_tiyn,
            baskets::created_at,
        ))
        .first(c)
        .optional())?
    .ok_or_else(basket_not_found)
}

pub(crate) fn status_of(row: &BasketRow) -> AppResult<BasketStatus> {
    BasketStatus::parse(&row.status).ok_or_else(|| AppError::internal(anyhow::anyhow!("basket {} status", row.id)))
}

type LineRow = (i32, String, Option<String>, String, String, String, i64, i64, i64, i64, i64, i64, bool);

/// The lines of a basket, in order.
pub fn lines_of(conn: &mut Conn, basket_id: i64) -> AppResult<Vec<BasketLine>> {
    let rows: Vec<LineRow> = with_conn!(conn, c => basket_lines::table
        .filter(basket_lines::basket_id.eq(basket_id))
        .order(basket_lines::idx)
        .select((
            basket_lines::idx,
            basket_lines::gtin,
            basket_lines::serial,
            basket_lines::group_code,
            basket_lines::name,
            basket_lines::unit,
            basket_lines::quantity,
            basket_lines::shelf_price_tiyn,
            basket_lines::reduced_price_tiyn,
            basket_lines::shelf_amount_tiyn,
            basket_lines::to_pay_tiyn,
            basket_lines::discount_tiyn,
            basket_lines::refunded,
        ))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(
            |(
                idx,
                gtin,
                serial,
                group,
                name,
                unit,
                quantity,
                shelf,
                reduced,
                shelf_amount,
                to_pay,
                discount,
                refunded,
            )| {
                BasketLine {
                    index: idx as usize,
                    gtin,
                    serial,
                    group,
                    name,
                    unit: Unit::parse(&unit).unwrap_or(Unit::Piece),
                    quantity,
                    shelf_price_tiyn: shelf,
                    reduced_price_tiyn: reduced,
                    shelf_amount_tiyn: shelf_amount,
                    to_pay_tiyn: to_pay,
                    discount_tiyn: discount,
                    refunded,
                }
            },
        )
        .collect())
}

/// What each voucher carries of a basket (net of refunds), with its balance now, in draw order.
pub fn charges_of(conn: &mut Conn, basket_id: i64) -> AppResult<Vec<VoucherCharge>> {
    let rows: Vec<(i64, i64, i64, i64)> = with_conn!(conn, c => basket_vouchers::table
        .inner_join(vouchers::table)
        .filter(basket_vouchers::basket_id.eq(basket_id))
        .order(basket_vouchers::seq)
        .select((basket_vouchers::voucher_id, basket_vouchers::charged_tiyn, basket_vouchers::refunded_tiyn, vouchers::balance_tiyn))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(voucher_id, charged, refunded, balance_tiyn)| VoucherCharge {
            voucher_id,
            charged_tiyn: charged - refunded,
            balance_tiyn,
        })
        .collect())
}

/// Returns a basket's held discount to its vouchers' balances and frees its serial codes.
pub(crate) fn release_hold(conn: &mut Conn, basket_id: i64) -> AppResult<()> {
    let parts: Vec<(i64, i64)> = with_conn!(conn, c => basket_vouchers::table
        .filter(basket_vouchers::basket_id.eq(basket_id))
        .select((basket_vouchers::voucher_id, basket_vouchers::charged_tiyn))
        .load(c))?;
    for (voucher_id, amount) in parts {
        let moved = with_conn!(conn, c => diesel::update(vouchers::table
                .filter(vouchers::id.eq(voucher_id))
                .filter(vouchers::held_tiyn.ge(amount)))
            .set((
                vouchers::balance_tiyn.eq(vouchers::balance_tiyn + amount),
                vouchers::held_tiyn.eq(vouchers::held_tiyn - amount),
            ))
            .execute(c))?;
        if moved != 1 {
            return Err(AppError::internal(anyhow::anyhow!("voucher {voucher_id} holds less than basket {basket_id}")));
        }
    }
    with_conn!(conn, c => diesel::delete(serial_claims::table.filter(serial_claims::basket_id.eq(basket_id))).execute(c))?;
    Ok(())
}
