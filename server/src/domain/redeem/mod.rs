//! Redemption at the till (SPEC §3): authorise places a hold for the discount, capture turns it
//! into a charge, cancel and expiry release it, refund returns it.
//!
//! A voucher's money is always in exactly one place — `amount = balance + held + charged −
//! refunded + expired` — and every move between places is one conditional UPDATE in the
//! transaction of the basket change, so no interleaving of tills, processes or retries can take a
//! balance below zero or spend a tiyn twice.

mod authorize;
mod capture;
mod check;
mod flow;
pub(crate) mod locks;
pub(crate) mod moves;
mod refund;
mod release;

pub(crate) use authorize::insert_lines;
pub use authorize::{holder, present as authorize_present, Outcome, SaleRules};
pub use capture::{basket, receipt};
pub use check::{check, price_line, within_cap, Checked, MAX_LINES, MAX_TOKENS};
pub use flow::{
    authorize, authorize_async, cancel_async, capture, capture_async, expire_holds, refund_async, Asked, Transition,
};
pub use release::release_month_holds;

use azyq_shared::api::{BasketLine, BasketStatus, ErrorCode, PaymentMethod, Unit, VoucherCharge};
use azyq_shared::token::TokenError;
use azyq_shared::Tiyn;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{basket_lines, basket_vouchers, baskets, shops, vouchers};
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

/// A basket row as the transitions need it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = baskets)]
pub(crate) struct BasketRow {
    pub id: i64,
    pub shop_id: String,
    pub terminal_id: String,
    pub month: String,
    pub status: BasketStatus,
    pub discount_tiyn: Tiyn,
    pub to_pay_tiyn: Tiyn,
    pub hold_expires_at: NaiveDateTime,
    pub captured_at: Option<NaiveDateTime>,
    pub payment_method: Option<PaymentMethod>,
    pub paid_tiyn: Option<Tiyn>,
    pub created_at: NaiveDateTime,
}

/// Reads a basket without locking it (views, and the month a transition must lock first).
pub(crate) fn load_basket(conn: &mut Conn, id: i64) -> AppResult<BasketRow> {
    with_conn!(conn, c => baskets::table.find(id).select(BasketRow::as_select()).first(c).optional())?
        .ok_or_else(basket_not_found)
}

impl BasketRow {
    pub(crate) fn month(&self) -> AppResult<azyq_shared::Month> {
        azyq_shared::Month::parse(&self.month).map_err(|e| AppError::internal(anyhow::anyhow!("stored month: {e}")))
    }
}

/// A stored state read back as text (from a JSON document of PostgreSQL's) by its enum's `parse`:
/// a text the enum does not know is a bug, not a refusal.
pub(crate) fn stored_state<E>(what: &str, text: &str, parse: fn(&str) -> Option<E>) -> AppResult<E> {
    parse(text).ok_or_else(|| AppError::internal(anyhow::anyhow!("stored {what}: {text}")))
}

/// A basket line as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = basket_lines)]
struct LineRow {
    idx: i32,
    gtin: String,
    serial: Option<String>,
    group_code: String,
    name: String,
    unit: Unit,
    quantity: i64,
    shelf_price_tiyn: Tiyn,
    reduced_price_tiyn: Tiyn,
    shelf_amount_tiyn: Tiyn,
    to_pay_tiyn: Tiyn,
    discount_tiyn: Tiyn,
    refunded: bool,
}

impl From<LineRow> for BasketLine {
    fn from(r: LineRow) -> BasketLine {
        BasketLine {
            index: usize::try_from(r.idx).unwrap_or_default(),
            gtin: r.gtin,
            serial: r.serial,
            group: r.group_code,
            name: r.name,
            unit: r.unit,
            quantity: r.quantity,
            shelf_price_tiyn: r.shelf_price_tiyn,
            reduced_price_tiyn: r.reduced_price_tiyn,
            shelf_amount_tiyn: r.shelf_amount_tiyn,
            to_pay_tiyn: r.to_pay_tiyn,
            discount_tiyn: r.discount_tiyn,
            refunded: r.refunded,
        }
    }
}

/// The lines of a basket, in order.
pub fn lines_of(conn: &mut Conn, basket_id: i64) -> AppResult<Vec<BasketLine>> {
    let rows: Vec<LineRow> = with_conn!(conn, c => basket_lines::table
        .filter(basket_lines::basket_id.eq(basket_id))
        .order(basket_lines::idx)
        .select(LineRow::as_select())
        .load(c))?;
    Ok(rows.into_iter().map(BasketLine::from).collect())
}

/// What each voucher carries of a basket (net of refunds), with its balance now, in draw order.
pub fn charges_of(conn: &mut Conn, basket_id: i64) -> AppResult<Vec<VoucherCharge>> {
    let rows: Vec<(i64, Tiyn, Tiyn, Tiyn)> = with_conn!(conn, c => basket_vouchers::table
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

/// 409 `basket_state`: the basket is not in a state that allows `action`; the details carry its
/// status now, so a till that lost a race learns what happened instead.
pub(crate) fn state_error(status: BasketStatus, action: &str) -> AppError {
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

pub(crate) fn hold_expired() -> AppError {
    AppError::new(ErrorCode::HoldExpired, "Время на оплату истекло, резерв снят: проведите покупку заново")
        .with("status", BasketStatus::HoldExpired.as_str())
}

/// Opens a transition of one basket (in a write transaction): the month's lock (shared), then the
/// basket's; answers the
/// basket as it is under the lock, and the month's status. Another shop's basket is 403 (API.md).
pub(crate) fn open_transition(
    conn: &mut Conn,
    till: Option<&Till>,
    id: i64,
) -> AppResult<(BasketRow, Option<azyq_shared::api::MonthStatus>)> {
    // A basket's month never changes: read it first to know which month to lock.
    let first = load_basket(conn, id)?;
    let month_status = locks::lock_month(conn, first.month()?, locks::MonthLock::Shared)?;
    let row = match conn {
        // SQLite: a write transaction holds the whole database from its start, so the row read
        // first is the row under the lock.
        Conn::Sqlite(_) => first,
        Conn::Pg(_) => locks::lock_basket(conn, id)?,
    };
    if till.is_some_and(|t| t.shop_id != row.shop_id) {
        return Err(AppError::new(ErrorCode::Forbidden, "Это покупка другого магазина"));
    }
    Ok((row, month_status))
}

/// One voucher's share of a basket.
#[derive(Debug, Clone, Copy, Queryable)]
pub(crate) struct Part {
    pub basket_id: i64,
    pub seq: i32,
    pub voucher_id: i64,
    pub charged: Tiyn,
    pub refunded: Tiyn,
}

/// The vouchers the baskets draw on, by basket and in draw order.
pub(crate) fn parts_of(conn: &mut Conn, basket_ids: &[i64]) -> AppResult<Vec<Part>> {
    let mut out = Vec::new();
    for chunk in basket_ids.chunks(500) {
        let rows: Vec<Part> = with_conn!(conn, c => basket_vouchers::table
            .filter(basket_vouchers::basket_id.eq_any(chunk))
            .order((basket_vouchers::basket_id, basket_vouchers::seq))
            .select((basket_vouchers::basket_id, basket_vouchers::seq, basket_vouchers::voucher_id, basket_vouchers::charged_tiyn, basket_vouchers::refunded_tiyn))
            .load(c))?;
        out.extend(rows);
    }
    Ok(out)
}
