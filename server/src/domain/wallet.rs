//! The recipient's side (Alg. p.6): the family's vouchers and their activation.

use std::collections::HashSet;

use azyq_shared::api::{ErrorCode, Voucher, VoucherStatus};
use azyq_shared::{token, BusinessDay, Iin, Month, Tiyn};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::dsl::exists;
use diesel::prelude::*;

use super::cycle::FamilyStatus;
use super::redeem::locks::{lock_month, MonthLock};
use crate::db::audit::{self, Entry};
use crate::db::schema::{family_months, members, vouchers};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// A voucher as the wallet shows it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = vouchers)]
struct VoucherRow {
    id: i64,
    member_name: String,
    month: String,
    family_id: String,
    status: VoucherStatus,
    amount_tiyn: Tiyn,
    balance_tiyn: Tiyn,
    activated_at: Option<NaiveDateTime>,
}

impl VoucherRow {
    fn into_api(self) -> Voucher {
        Voucher {
            id: self.id,
            member_name: self.member_name,
            month: self.month,
            status: self.status,
            amount_tiyn: self.amount_tiyn,
            balance_tiyn: self.balance_tiyn,
            activated_at: self.activated_at.map(|t| t.and_utc()),
        }
    }
}

/// The (month, family) pairs the recipient belongs to.
pub fn families_of(conn: &mut Conn, iin: &Iin) -> AppResult<HashSet<(String, String)>> {
    let rows: Vec<(String, String)> = with_conn!(conn, c => members::table
        .filter(members::iin.eq(iin.as_ref()))
        .select((members::month, members::family_id))
        .load(c))?;
    Ok(rows.into_iter().collect())
}

/// Every voucher of every family the recipient is listed in, newest month first.
pub fn family_vouchers(conn: &mut Conn, iin: &Iin) -> AppResult<Vec<Voucher>> {
    let families = families_of(conn, iin)?;
    let family_ids: Vec<&String> = families.iter().map(|(_, f)| f).collect::<HashSet<_>>().into_iter().collect();
    let rows: Vec<VoucherRow> = with_conn!(conn, c => vouchers::table
        .filter(vouchers::family_id.eq_any(&family_ids))
        .order((vouchers::month.desc(), vouchers::id))
        .select(VoucherRow::as_select())
        .load(c))?;
    Ok(rows
        .into_iter()
        .filter(|r| families.contains(&(r.month.clone(), r.family_id.clone())))
        .map(VoucherRow::into_api)
        .collect())
}

fn not_found() -> AppError {
    AppError::new(ErrorCode::VoucherNotFound, "Ваучер не найден")
}

/// Loads a voucher of the recipient's own family; any other voucher is "not found", never "forbidden",
/// so that a stranger learns nothing of its existence.
pub fn own_voucher(conn: &mut Conn, iin: &Iin, id: i64) -> AppResult<Voucher> {
    let row: Option<VoucherRow> =
        with_conn!(conn, c => vouchers::table.find(id).select(VoucherRow::as_select()).first(c).optional())?;
    let row = row.ok_or_else(not_found)?;
    if !families_of(conn, iin)?.contains(&(row.month.clone(), row.family_id.clone())) {
        return Err(not_found());
    }
    Ok(row.into_api())
}

/// Activates a voucher (Alg. p.6): any day of its month, while the family's consent holds.
pub fn activate(conn: &mut Conn, iin: &Iin, id: i64, now: DateTime<Utc>) -> AppResult<Voucher> {
    let voucher = own_voucher(conn, iin, id)?;
    let month = Month::parse(&voucher.month).map_err(|e| AppError::internal(anyhow::anyhow!("stored month: {e}")))?;
    match voucher.status {
        VoucherStatus::Activated | VoucherStatus::Exhausted => return Ok(voucher),
        VoucherStatus::Lapsed | VoucherStatus::Expired => return Err(month_closed(month)),
        VoucherStatus::Issued => {}
    }
    // Held shared, as a till holds it: the month close waits, or this sees the month closed.
    let status = lock_month(conn, month, MonthLock::Shared)?;
    if super::cycle::month_over(status, month, now) {
        return Err(month_closed(month));
    }
    if BusinessDay::of(now).date() < month.first_day() {
        return Err(AppError::new(
            ErrorCode::MonthNotStarted,
            format!("Ваучер на {month} можно активировать с {}", month.first_day()),
        ));
    }
    // One guarded step: issued, and the family's answer for the month a yes when it commits. A
    // `21*2` (Alg. p.20) leaves the voucher issued and unactivatable; a later `21*1` in the month
    // makes it activatable again.
    let consented = family_months::table
        .filter(family_months::month.eq(vouchers::month))
        .filter(family_months::family_id.eq(vouchers::family_id))
        .filter(family_months::status.eq(FamilyStatus::Consented.as_str()));
    let changed = with_conn!(conn, c => diesel::update(vouchers::table
            .filter(vouchers::id.eq(id))
            .filter(vouchers::status.eq(VoucherStatus::Issued))
            .filter(exists(consented)))
        .set((vouchers::status.eq(VoucherStatus::Activated), vouchers::activated_at.eq(now.naive_utc())))
        .execute(c))?;
    if changed == 0 {
        let now_status: VoucherStatus =
            with_conn!(conn, c => vouchers::table.find(id).select(vouchers::status).first(c))?;
        if now_status == VoucherStatus::Issued {
            return Err(AppError::new(
                ErrorCode::NoConsent,
                format!(
                    "Семья отказалась от ваучеров на {}: чтобы активировать их, отправьте 21*1 до {} включительно",
                    super::sms::month_ru(month),
                    super::sms::last_day(month)
                ),
            )
            .with("month", month.as_ref()));
        }
    }
    if changed == 1 {
        let actor = super::secrets::recipient_actor(conn, iin)?;
        audit::record(
            conn,
            &[Entry::new(
                now,
                &actor,
                "voucher",
                id.to_string(),
                Some(VoucherStatus::Issued.as_str()),
                VoucherStatus::Activated.as_str(),
            )],
        )?;
        let (region, amount): (String, Tiyn) =
            with_conn!(conn, c => vouchers::table.find(id).select((vouchers::region, vouchers::amount_tiyn)).first(c))?;
        super::stats::vouchers(conn, now, &region, super::stats::VoucherEvent::Activated, 1, amount)?;
    }
    own_voucher(conn, iin, id)
}

fn month_closed(month: Month) -> AppError {
    AppError::new(ErrorCode::MonthClosed, format!("Срок ваучера истёк: месяц {month} закончился"))
        .with("month", month.as_ref())
}

/// Mints a QR token for an activated voucher of the recipient's family (SPEC §4): signed with the
/// newest key, valid `ttl`, a fresh nonce — good for one basket.
pub fn mint_qr(
    conn: &mut Conn,
    iin: &Iin,
    id: i64,
    ttl: chrono::Duration,
    now: DateTime<Utc>,
) -> AppResult<azyq_shared::api::QrToken> {
    let voucher = own_voucher(conn, iin, id)?;
    let month = Month::parse(&voucher.month).map_err(|e| AppError::internal(anyhow::anyhow!("stored month: {e}")))?;
    match voucher.status {
        VoucherStatus::Activated => {}
        VoucherStatus::Issued => {
            return Err(AppError::new(ErrorCode::NotActivated, "Сначала активируйте ваучер"));
        }
        VoucherStatus::Exhausted => {
            return Err(AppError::new(ErrorCode::VoucherExhausted, "Средства ваучера израсходованы"))
        }
        VoucherStatus::Lapsed | VoucherStatus::Expired => return Err(month_closed(month)),
    }
    if now >= month.end_instant() {
        return Err(month_closed(month));
    }
    let (kid, key) = super::keys::signing_key(conn)?;
    // Format 2 lives at most 65 535 s (a u16 lifetime).
    let longest = chrono::Duration::seconds(token::MAX_LIFETIME_V2_SECS);
    let expires_at = (now + ttl.min(longest)).min(month.end_instant());
    // Format 2: the balance, amount and region at mint, for a till without a link (SPEC §3.9).
    let region: String = with_conn!(conn, c => vouchers::table.find(id).select(vouchers::region).first(c))?;
    let region = region.parse::<u8>().map_err(|e| AppError::internal(anyhow::anyhow!("stored region: {e}")))?;
    let fields = token::TokenFields {
        kid,
        voucher_id: u64::try_from(id).map_err(AppError::internal)?,
        month,
        issued_at: now,
        expires_at,
        nonce: token::Nonce::new_v2(),
        offline: Some(token::OfflineFacts { balance: voucher.balance_tiyn, amount: voucher.amount_tiyn, region }),
    };
    let token = token::sign(&fields, &key).map_err(|e| AppError::internal(anyhow::anyhow!("signing: {e}")))?;
    // Seconds only: the token carries whole seconds.
    let expires_at = chrono::DateTime::from_timestamp(expires_at.timestamp(), 0).unwrap_or(expires_at);
    Ok(azyq_shared::api::QrToken { token, expires_at })
}
