//! The voucher-token signing keys (SPEC §4): several kept, the newest signs, any not retired verifies,
//! the public halves published at `/.well-known/voucher-keys`. Private halves stay in the database,
//! or in the key folder when one is set (see [`super::secrets`]).

use std::collections::HashMap;

use azyq_shared::api::PublicKey;
use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use ed25519_dalek::{SigningKey, VerifyingKey};

use super::secrets;
use crate::db::audit::{self, Entry};
use crate::db::schema::voucher_keys;
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn new_key(conn: &mut Conn, kid: i32, now: DateTime<Utc>) -> AppResult<i32> {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let mut secret = hex::encode(key.to_bytes());
    let public = B64.encode(key.verifying_key().to_bytes());
    if secrets::in_files() {
        secrets::put(conn, &secrets::voucher_key_name(kid), &secret)?;
        secret.clear();
    }
    let inserted = with_conn!(conn, c => diesel::insert_into(voucher_keys::table)
        .values((
            voucher_keys::kid.eq(kid),
            voucher_keys::secret_key.eq(&secret),
            voucher_keys::public_key.eq(&public),
            voucher_keys::created_at.eq(now.naive_utc()),
            voucher_keys::retired.eq(false),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    if inserted == 1 {
        audit::record(conn, &[Entry::new(now, "system", "voucher_key", kid.to_string(), None, "active")])?;
    }
    Ok(kid)
}

/// Makes the first key on a fresh database.
pub fn ensure_key(conn: &mut Conn, now: DateTime<Utc>) -> AppResult<()> {
    let n: i64 = with_conn!(conn, c => voucher_keys::table.count().get_result(c))?;
    if n == 0 {
        new_key(conn, 1, now)?;
    }
    Ok(())
}

/// Adds a new signing key; tokens of the older keys keep verifying until those are retired.
pub fn rotate(conn: &mut Conn, now: DateTime<Utc>) -> AppResult<i32> {
    let max: Option<i32> =
        with_conn!(conn, c => voucher_keys::table.select(diesel::dsl::max(voucher_keys::kid)).first(c))?;
    let kid = max.unwrap_or(0) + 1;
    if kid > i32::from(u16::MAX) {
        return Err(AppError::internal(anyhow::anyhow!("key ids exhausted")));
    }
    new_key(conn, kid, now)
}

/// Retires a key: its tokens are refused from now on (`unknown_key`).
pub fn retire(conn: &mut Conn, kid: i32, now: DateTime<Utc>) -> AppResult<()> {
    let n = with_conn!(conn, c => diesel::update(voucher_keys::table.find(kid))
        .set((voucher_keys::retired.eq(true), voucher_keys::not_after.eq(Some(now.naive_utc()))))
        .execute(c))?;
    if n == 0 {
        return Err(AppError::validation("kid", format!("нет ключа {kid}")));
    }
    audit::record(conn, &[Entry::new(now, "cli", "voucher_key", kid.to_string(), Some("active"), "retired")])
}

/// The newest key that is not retired: it signs new tokens.
pub fn signing_key(conn: &mut Conn) -> AppResult<(u16, SigningKey)> {
    let row: Option<(i32, String)> = with_conn!(conn, c => voucher_keys::table
        .filter(voucher_keys::retired.eq(false))
        .order(voucher_keys::kid.desc())
        .select((voucher_keys::kid, voucher_keys::secret_key))
        .first(c)
        .optional())?;
    let (kid, mut secret) =
        row.ok_or_else(|| AppError::internal(anyhow::anyhow!("no signing key: run `azyq-server keys rotate`")))?;
    if secret.is_empty() {
        secret = secrets::get(conn, &secrets::voucher_key_name(kid))?.ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("the private half of voucher key {kid} is not in the key folder"))
        })?;
    }
    let bytes: [u8; 32] = hex::decode(secret)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("signing key {kid} is malformed")))?;
    let kid = u16::try_from(kid).map_err(AppError::internal)?;
    let key = cached(&SIGNING, bytes, |b| Some(SigningKey::from_bytes(b)))
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("signing key {kid} is malformed")))?;
    Ok((kid, key))
}

/// Keys decoded before, by their bytes. Which keys are valid is still read from the database on
/// every request (a key retired by another process is refused at once); only the arithmetic of
/// turning bytes into a key (a point decompression, or a base-point multiplication) is done once.
type KeyCache<K> = std::sync::OnceLock<std::sync::Mutex<HashMap<[u8; 32], K>>>;

static SIGNING: KeyCache<SigningKey> = std::sync::OnceLock::new();
static VERIFYING: KeyCache<VerifyingKey> = std::sync::OnceLock::new();

fn cached<K: Clone>(cache: &KeyCache<K>, bytes: [u8; 32], make: impl FnOnce(&[u8; 32]) -> Option<K>) -> Option<K> {
    let cache = cache.get_or_init(Default::default);
    if let Some(key) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&bytes) {
        return Some(key.clone());
    }
    let key = make(&bytes)?;
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    // Keys are few (rotation adds one now and then); a bound keeps a bug from growing it forever.
    if map.len() >= 64 {
        map.clear();
    }
    map.insert(bytes, key.clone());
    Some(key)
}

type KeyRow = (i32, String, Option<NaiveDateTime>);

fn active_rows(conn: &mut Conn) -> AppResult<Vec<KeyRow>> {
    Ok(with_conn!(conn, c => voucher_keys::table
        .filter(voucher_keys::retired.eq(false))
        .order(voucher_keys::kid)
        .select((voucher_keys::kid, voucher_keys::public_key, voucher_keys::not_after))
        .load(c))?)
}

/// The keys not retired: (kid, public half), by kid.
pub fn active_keys(conn: &mut Conn) -> AppResult<Vec<(i32, String)>> {
    Ok(active_rows(conn)?.into_iter().map(|(kid, public, _)| (kid, public)).collect())
}

/// The keys a token may be verified with, by kid.
pub fn verifying_keys(conn: &mut Conn) -> AppResult<HashMap<u16, VerifyingKey>> {
    verifying_keys_of(active_rows(conn)?.into_iter().map(|(kid, public, _)| (kid, public)))
}

/// The keys a token may be verified with, by kid, from the rows of the keys not retired (kid,
/// public half) read by the caller (authorise reads them in its one statement of checks).
pub fn verifying_keys_of(rows: impl IntoIterator<Item = (i32, String)>) -> AppResult<HashMap<u16, VerifyingKey>> {
    let mut out = HashMap::new();
    for (kid, public) in rows {
        let key = B64
            .decode(public)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .and_then(|b| cached(&VERIFYING, b, |b| VerifyingKey::from_bytes(b).ok()))
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("public key {kid} is malformed")))?;
        if let Ok(kid) = u16::try_from(kid) {
            out.insert(kid, key);
        }
    }
    Ok(out)
}

/// The published list of public keys.
pub fn published(conn: &mut Conn) -> AppResult<Vec<PublicKey>> {
    Ok(active_rows(conn)?
        .into_iter()
        .filter_map(|(kid, public_key, not_after)| {
            Some(PublicKey {
                kid: u16::try_from(kid).ok()?,
                alg: "EdDSA".into(),
                public_key,
                not_after: not_after.map(|t| t.and_utc()),
            })
        })
        .collect())
}

/// The key that signs exported reports (kept apart from the voucher keys: another purpose, another
/// key). Made once and kept in the database so every replica signs alike.
pub const REPORT_KID: u16 = 1;

pub fn report_key(conn: &mut Conn) -> AppResult<SigningKey> {
    let value = secrets::get_or_make(conn, REPORT_SECRET, || {
        hex::encode(SigningKey::generate(&mut rand::rngs::OsRng).to_bytes())
    })?;
    report_key_of(&value)
}

const REPORT_SECRET: &str = "report_signing_key";

fn report_key_of(value: &str) -> AppResult<SigningKey> {
    let bytes: [u8; 32] = hex::decode(value)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("report key is malformed")))?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// The report key's public half, as published at `/.well-known/report-keys`.
///
/// A read: the key is made when the server starts ([`report_key`]), so a public GET never writes.
pub fn report_public(conn: &mut Conn) -> AppResult<PublicKey> {
    let value = secrets::get(conn, REPORT_SECRET)?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("no report key yet: it is made when the server starts")))?;
    let key = report_key_of(&value)?;
    Ok(PublicKey {
        kid: REPORT_KID,
        alg: "EdDSA".into(),
        public_key: B64.encode(key.verifying_key().to_bytes()),
        not_after: None,
    })
}
