//! The offline till (SPEC §3.9, issue 17): the signed pack a till takes along before it loses its
//! link ([`pack`]), and the upload of what it sold meanwhile ([`sync`]).
//!
//! The pack is signed with a key of its own (the *pack key*: made when the server starts, private
//! half in the database or the key folder like the report key), published at
//! `/.well-known/offline-pack-keys`.

mod sync;

pub use sync::sync;

use azyq_shared::api::{BasketStatus, ErrorCode, OfflineSaleStatus};
use azyq_shared::api::{PublicKey, VoucherStatus};
use azyq_shared::offline::{self, MonthEnd, OfflineLimits, OfflinePack, PackKey, SignedPack};
use azyq_shared::{BusinessDay, Month, Tiyn};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use ed25519_dalek::SigningKey;

use super::redeem::Till;
use super::{cycle, keys, pos, recalls, redeem, secrets};
use crate::db::schema::{offline_sales, voucher_keys, vouchers};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// The offline settings (`AZYQ_OFFLINE_PACK_HOURS`, `AZYQ_OFFLINE_VOUCHER_DAY_BP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// How long a pack lets a till sell offline.
    pub pack_hours: i64,
    /// Offline discount per voucher per Almaty day on one till, in basis points of its amount.
    pub voucher_day_bp: i32,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules { pack_hours: offline::DEFAULT_PACK_HOURS, voucher_day_bp: offline::DEFAULT_VOUCHER_DAY_BP }
    }
}

/// The pack key's id. One key today; the id is in the pack so that a rotation can come later.
pub const PACK_KID: u16 = 1;

const PACK_SECRET: &str = "offline_pack_signing_key";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The pack key, made the first time (by whichever replica comes first).
pub fn pack_key(conn: &mut Conn) -> AppResult<SigningKey> {
    let value = secrets::get_or_make(conn, PACK_SECRET, || {
        hex::encode(SigningKey::generate(&mut rand::rngs::OsRng).to_bytes())
    })?;
    key_of(&value)
}

fn key_of(value: &str) -> AppResult<SigningKey> {
    let bytes: [u8; 32] = hex::decode(value)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("offline pack key is malformed")))?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// The pack key as made at start: a read, so that a pack is made on a read connection.
fn made_pack_key(conn: &mut Conn) -> AppResult<SigningKey> {
    let value = secrets::get(conn, PACK_SECRET)?.ok_or_else(|| {
        AppError::internal(anyhow::anyhow!("no offline pack key yet: it is made when the server starts"))
    })?;
    key_of(&value)
}

/// The pack key's public half, as published at `/.well-known/offline-pack-keys`. A read: the key
/// is made when the server starts ([`pack_key`]).
pub fn pack_public(conn: &mut Conn) -> AppResult<PublicKey> {
    let key = made_pack_key(conn)?;
    Ok(PublicKey {
        kid: PACK_KID,
        alg: "EdDSA".into(),
        public_key: B64.encode(key.verifying_key().to_bytes()),
        not_after: None,
    })
}

/// The offline sales applied (not refused) on the business days `from..=to` (`YYYY-MM-DD`): each
/// one's shop and shortfall, for the reports.
pub fn sold_in(conn: &mut Conn, from: &str, to: &str) -> AppResult<Vec<(String, Tiyn)>> {
    Ok(with_conn!(conn, c => offline_sales::table
        .filter(offline_sales::business_day.ge(from))
        .filter(offline_sales::business_day.le(to))
        .filter(offline_sales::status.ne(OfflineSaleStatus::Refused))
        .select((offline_sales::shop_id, offline_sales::shortfall_tiyn))
        .load(c))?)
}

/// Which of these baskets were sold offline.
pub fn offline_baskets(conn: &mut Conn, ids: &[i64]) -> AppResult<Vec<i64>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let found: Vec<Option<i64>> = with_conn!(conn, c => offline_sales::table
            .filter(offline_sales::basket_id.eq_any(chunk))
            .select(offline_sales::basket_id)
            .load(c))?;
        out.extend(found.into_iter().flatten());
    }
    Ok(out)
}

/// Refuses the refund of an offline basket whose vouchers did not cover its discount: its lines'
/// discount is more than they carry, and what they lack was the shop's loss, not theirs to get back.
pub fn refundable(conn: &mut Conn, basket_id: i64) -> AppResult<()> {
    let short: Option<Tiyn> = with_conn!(conn, c => offline_sales::table
        .filter(offline_sales::basket_id.eq(basket_id))
        .select(offline_sales::shortfall_tiyn)
        .first(c)
        .optional())?;
    match short {
        Some(short) if short > Tiyn::ZERO => Err(AppError::new(
            ErrorCode::BasketState,
            format!("Эту офлайн-продажу вернуть нельзя: ваучер оплатил её не полностью (недостача {short})"),
        )
        .with("status", BasketStatus::Captured.as_str())
        .with("shortfall_tiyn", short.get())),
        _ => Ok(()),
    }
}

/// The month of `now` (Almaty) and the one before: the months a token may be of.
fn current_months(now: DateTime<Utc>) -> AppResult<Vec<Month>> {
    let today = BusinessDay::of(now);
    let current = today.month().map_err(AppError::internal)?;
    let mut months = vec![current];
    if let Some(last_of_previous) = current.first_day().pred_opt() {
        if let Ok(previous) = Month::of_day(last_of_previous) {
            months.insert(0, previous);
        }
    }
    Ok(months)
}

/// The signed pack for the cashier's till: keys, catalogue, recalls, revoked vouchers and keys,
/// the limits and the months' ends, valid `rules.pack_hours` from `now`.
pub fn pack(conn: &mut Conn, till: &Till, rules: Rules, now: DateTime<Utc>) -> AppResult<SignedPack> {
    let (_, region) = redeem::shop_of(conn, &till.shop_id)?;
    let voucher_keys_now = keys::published(conn)?
        .into_iter()
        .map(|k| PackKey { kid: k.kid, public_key: k.public_key, not_after: k.not_after })
        .collect();
    let retired: Vec<i32> = with_conn!(conn, c => voucher_keys::table
        .filter(voucher_keys::retired.eq(true))
        .order(voucher_keys::kid)
        .select(voucher_keys::kid)
        .load(c))?;
    let months = current_months(now)?;
    let month_names: Vec<&str> = months.iter().map(|m| m.as_ref()).collect();
    let revoked_vouchers: Vec<i64> = with_conn!(conn, c => vouchers::table
        .filter(vouchers::region.eq(&region))
        .filter(vouchers::month.eq_any(&month_names))
        .filter(vouchers::status.eq_any([VoucherStatus::Issued, VoucherStatus::Lapsed, VoucherStatus::Expired]))
        .order(vouchers::id)
        .select(vouchers::id)
        .load(c))?;
    let mut month_ends = Vec::new();
    for month in months {
        if !cycle::month_over(cycle::month_status(conn, month)?, month, now) {
            month_ends.push(MonthEnd { month: month.as_ref().to_owned(), ends_at: month.end_instant() });
        }
    }
    let pack = OfflinePack {
        version: offline::PACK_VERSION,
        shop_id: till.shop_id.clone(),
        terminal_id: till.terminal_id.clone(),
        region,
        issued_at: now,
        expires_at: now + Duration::hours(rules.pack_hours),
        voucher_keys: voucher_keys_now,
        revoked_keys: retired.into_iter().filter_map(|k| u16::try_from(k).ok()).collect(),
        revoked_vouchers,
        products: pos::catalog(conn, till)?.products,
        recalls: recalls::in_force(conn)?,
        limits: OfflineLimits { voucher_day_bp: rules.voucher_day_bp },
        month_ends,
    };
    let bytes = serde_json::to_vec(&pack).map_err(AppError::internal)?;
    Ok(offline::sign_pack(&bytes, PACK_KID, &made_pack_key(conn)?))
}
