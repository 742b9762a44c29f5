//! `Idempotency-Key` (API.md): the key is reserved first thing in the transaction that makes the
//! effect, and the answer is stored in the same transaction, so a retry (even one racing the first
//! attempt) gets the first answer and never a second effect.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use azyq_shared::api::ErrorCode;

use crate::db::fixed::Fixed;
use crate::db::schema::idempotency_keys;
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// Longest key a client may choose.
pub const MAX_KEY_LEN: usize = 64;

/// Checks a client's key: 1 to 64 printable ASCII characters.
pub fn parse_key(raw: Option<&str>) -> AppResult<Option<String>> {
    match raw {
        None => Ok(None),
        Some(k) if !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k.to_owned()))
        }
        Some(_) => {
            Err(AppError::validation("Idempotency-Key", "ключ идемпотентности: от 1 до 64 печатных символов ASCII"))
        }
    }
}

/// The digest a stored answer is bound to: the request's path and its parsed body.
pub fn request_hash(path: &str, body: &impl Serialize) -> String {
    let mut h = Sha256::new();
    h.update(path.as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(body).unwrap_or_default());
    hex::encode(h.finalize())
}

/// Runs `effect` once per (scope, key): a repeat with the same request answers the stored result;
/// with another request, 409 `idempotency_conflict`. Without a key, `effect` just runs.
pub fn once<T, F>(
    conn: &mut Conn,
    scope: &str,
    key: Option<&str>,
    hash: &str,
    now: DateTime<Utc>,
    effect: F,
) -> AppResult<T>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce(&mut Conn) -> AppResult<T>,
{
    let Some(key) = key else { return effect(conn) };
    let reserve_first = matches!(conn, Conn::Pg(_));
    if reserve_first {
        // PostgreSQL: reserve the key before the effect, in the one statement that also tells
        // whether it was free. A concurrent twin's reservation makes this insert wait for the twin's
        // transaction; once it committed, nothing is inserted and its answer is replayed below.
        let reserved = with_conn!(conn, c => diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::scope.eq(scope),
                idempotency_keys::idem_key.eq(key),
                idempotency_keys::request_hash.eq(hash),
                idempotency_keys::response.eq(""),
                idempotency_keys::created_at.eq(now.naive_utc()),
            ))
            .on_conflict_do_nothing()
            .execute(c))?;
        if reserved == 0 {
            return replay(conn, scope, key, hash);
        }
    } else if let Some(answer) = stored(conn, scope, key, hash)? {
        // SQLite: the write transaction holds the whole database, so no twin runs beside this one
        // and the key is written once, with the answer, after the effect.
        return answer;
    }
    let answer = effect(conn)?;
    let text = serde_json::to_string(&answer).map_err(AppError::internal)?;
    if reserve_first {
        // Kept prepared (diesel would send an UPDATE's text and have it planned at every run).
        with_conn!(conn, c => Fixed::new(ANSWER).bind(text).bind(scope).bind(key).execute(c))?;
    } else {
        with_conn!(conn, c => diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::scope.eq(scope),
                idempotency_keys::idem_key.eq(key),
                idempotency_keys::request_hash.eq(hash),
                idempotency_keys::response.eq(text),
                idempotency_keys::created_at.eq(now.naive_utc()),
            ))
            .execute(c))?;
    }
    Ok(answer)
}

/// PostgreSQL: the answer written to the key reserved before the effect.
const ANSWER: &str = "UPDATE idempotency_keys SET response = ? WHERE scope = ? AND idem_key = ?";

/// The answer stored under (scope, key), if any: replayed for the same request, 409
/// `idempotency_conflict` for another.
fn stored<T: DeserializeOwned>(conn: &mut Conn, scope: &str, key: &str, hash: &str) -> AppResult<Option<AppResult<T>>> {
    let row: Option<(String, String)> = with_conn!(conn, c => idempotency_keys::table
        .find((scope, key))
        .select((idempotency_keys::request_hash, idempotency_keys::response))
        .first(c)
        .optional())?;
    Ok(row.map(|(stored_hash, response)| {
        if stored_hash != hash {
            return Err(AppError::new(
                ErrorCode::IdempotencyConflict,
                "Этот ключ идемпотентности уже использован для другого запроса",
            ));
        }
        serde_json::from_str(&response).map_err(|e| AppError::internal(anyhow::anyhow!("stored answer: {e}")))
    }))
}

/// A key another transaction holds (committed by now): its answer.
fn replay<T: DeserializeOwned>(conn: &mut Conn, scope: &str, key: &str, hash: &str) -> AppResult<T> {
    match stored(conn, scope, key, hash)? {
        Some(answer) => answer,
        // Reserved and gone again between two statements: only a purge can do that; run afresh.
        None => Err(AppError::internal(anyhow::anyhow!("idempotency key vanished while reserved"))),
    }
}

/// Runs `effect` once per (scope, key) in a write transaction of its own ([`once`]), retrying
/// (bounded) a transaction that lost a race to a concurrent twin or that the database could not
/// serialise: the retry answers from the twin's stored result, or runs on the state it left.
pub fn write_once<T>(
    db: &Db,
    scope: &str,
    key: Option<&str>,
    hash: &str,
    now: DateTime<Utc>,
    effect: impl Fn(&mut Conn) -> AppResult<T> + Sync,
) -> AppResult<T>
where
    T: Serialize + DeserializeOwned + Send,
{
    db.write_retrying(|c| once(c, scope, key, hash, now, &effect))
}

/// As [`write_once`], for a request that waits as a task ([`Db::write_retrying_async`]).
pub async fn write_once_async<T, F>(
    db: &Db,
    scope: String,
    key: Option<String>,
    hash: String,
    now: DateTime<Utc>,
    effect: F,
) -> AppResult<T>
where
    T: Serialize + DeserializeOwned + Send + 'static,
    F: Fn(&mut Conn) -> AppResult<T> + Send + Sync + 'static,
{
    db.write_retrying_async(move |c| once(c, &scope, key.as_deref(), &hash, now, &effect)).await
}
