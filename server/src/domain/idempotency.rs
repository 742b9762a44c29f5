//! `Idempotency-Key` (API.md): the key is reserved first thing in the transaction that makes the
//! effect, and the answer is stored in the same transaction, so a retry (even one racing the first
//! attempt) gets the first answer and never a second effect.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use azyq_shared::api::ErrorCode;

use crate::db::fixed::{Bind, Fixed};
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
    let request = Request { scope, key, hash, now };
    keyed(conn, &request, |c, pending| reserved_first(c, pending, effect))
}

/// An effect that does not take its key itself, as [`keyed`] runs it: on PostgreSQL the key is
/// reserved first, in a statement of its own that also tells whether it was free. A concurrent
/// twin's reservation makes that insert wait for the twin's transaction; once it committed, nothing
/// is inserted and the twin's answer is replayed.
fn reserved_first<T>(
    conn: &mut Conn,
    pending: Option<&Pending>,
    effect: impl FnOnce(&mut Conn) -> AppResult<T>,
) -> AppResult<Keyed<T>> {
    if let Some(p) = pending {
        if !p.reserve(conn)? {
            return Ok(Keyed::Taken);
        }
    }
    Ok(Keyed::Done { answer: effect(conn)?, stored: false })
}

/// Who asks, under which key: what [`keyed`] reserves and answers.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub scope: &'a str,
    pub key: Option<&'a str>,
    pub hash: &'a str,
    pub now: DateTime<Utc>,
}

/// On PostgreSQL, the key an effect of [`keyed`] reserves in its first statement and may answer in
/// its last: each a part of a statement the effect runs anyway, instead of a round trip of its own.
#[derive(Debug, Clone, Copy)]
pub struct Pending<'a> {
    pub scope: &'a str,
    pub key: &'a str,
    pub hash: &'a str,
    pub now: DateTime<Utc>,
}

/// The data-modifying CTE `k` that reserves a [`Pending`] key, for an effect's first statement:
/// its four values are bound as scope, key, request hash and time, at the `$` numbers given (which
/// the statement's text must spell the same way). `count(*) FROM k` is 1 if reserved, 0 if another
/// request holds the key (it waited for that request's transaction to end). Without a key (all four
/// bound NULL but the time) nothing is inserted.
#[macro_export]
macro_rules! reserve_key_cte {
    ($scope:literal, $key:literal, $hash:literal, $now:literal) => {
        concat!(
            "k AS (INSERT INTO idempotency_keys (scope, idem_key, request_hash, response, created_at) ",
            "SELECT ",
            $scope,
            ", ",
            $key,
            ", ",
            $hash,
            ", '', ",
            $now,
            " WHERE ",
            $key,
            " IS NOT NULL ON CONFLICT DO NOTHING RETURNING 1)"
        )
    };
}

/// The data-modifying CTE `answered` that stores an effect's answer under its [`Pending`] key, for
/// the effect's last statement: bound as answer, scope and key at the `$` numbers given.
#[macro_export]
macro_rules! answer_key_cte {
    ($answer:literal, $scope:literal, $key:literal) => {
        concat!(
            "answered AS (UPDATE idempotency_keys SET response = ",
            $answer,
            " WHERE scope = ",
            $scope,
            " AND idem_key = ",
            $key,
            " RETURNING 1)"
        )
    };
}

/// Binds [`reserve_key_cte`]'s four values, in its order (scope, key, hash, time), to the next `$`
/// numbers of `q`; without a key, NULLs (nothing is reserved) and `now`.
pub fn bind_reserve<'a, ST>(q: Fixed<'a, ST>, pending: Option<&Pending<'a>>, now: DateTime<Utc>) -> Fixed<'a, ST> {
    q.opt_text(pending.map(|p| p.scope))
        .opt_text(pending.map(|p| p.key))
        .opt_text(pending.map(|p| p.hash))
        .bind(pending.map_or(now, |p| p.now).naive_utc())
}

/// Binds [`answer_key_cte`]'s three values, in its order (answer, scope, key), to the next `$`
/// numbers of `q`; without a key, NULLs (nothing is stored) and the answer is not serialised.
pub fn bind_answer<'a, ST, T: Serialize>(
    q: Fixed<'a, ST>,
    pending: Option<&Pending<'a>>,
    answer: &T,
) -> AppResult<Fixed<'a, ST>> {
    let text = match pending {
        Some(_) => Some(Pending::text(answer)?),
        None => None,
    };
    Ok(q.bind(text.map_or(Bind::OptText(None), Bind::TextOwned))
        .opt_text(pending.map(|p| p.scope))
        .opt_text(pending.map(|p| p.key)))
}

impl Pending<'_> {
    /// Reserves the key in a statement of its own (for an effect that has no first statement to
    /// carry it); `false`: another request holds it.
    pub fn reserve(&self, conn: &mut Conn) -> AppResult<bool> {
        let reserved = with_conn!(conn, c => diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::scope.eq(self.scope),
                idempotency_keys::idem_key.eq(self.key),
                idempotency_keys::request_hash.eq(self.hash),
                idempotency_keys::response.eq(""),
                idempotency_keys::created_at.eq(self.now.naive_utc()),
            ))
            .on_conflict_do_nothing()
            .execute(c))?;
        Ok(reserved == 1)
    }

    /// The answer as stored, for [`answer_key_cte`].
    pub fn text<T: Serialize>(answer: &T) -> AppResult<String> {
        serde_json::to_string(answer).map_err(AppError::internal)
    }
}

/// What an effect of [`keyed`] did with its key.
#[derive(Debug)]
pub enum Keyed<T> {
    /// It ran. `stored`: its answer is stored under the key already (PostgreSQL, in its own last
    /// statement); otherwise [`keyed`] stores it.
    Done { answer: T, stored: bool },
    /// Another request holds the key (PostgreSQL: the effect's reservation found it taken, after
    /// waiting for that request's transaction): its answer is replayed, nothing else done.
    Taken,
}

/// [`once`] for an effect that takes its key itself. On PostgreSQL the effect gets the key as
/// [`Pending`] and must reserve it before deciding anything (in its first statement, with
/// [`reserve_key_cte`], or with [`Pending::reserve`]) and answer [`Keyed::Taken`] if it was not
/// free; it may store its answer with [`answer_key_cte`]. Without a key, or on SQLite (whose write
/// transaction holds the whole database, so the key is read first and written once, with the
/// answer, after the effect), it gets `None`.
pub fn keyed<T, F>(conn: &mut Conn, r: &Request, effect: F) -> AppResult<T>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce(&mut Conn, Option<&Pending>) -> AppResult<Keyed<T>>,
{
    let Some(key) = r.key else {
        return match effect(conn, None)? {
            Keyed::Done { answer, .. } => Ok(answer),
            Keyed::Taken => Err(AppError::internal(anyhow::anyhow!("a request without a key found it taken"))),
        };
    };
    if matches!(conn, Conn::Pg(_)) {
        let pending = Pending { scope: r.scope, key, hash: r.hash, now: r.now };
        return match effect(conn, Some(&pending))? {
            Keyed::Taken => replay(conn, r.scope, key, r.hash),
            Keyed::Done { answer, stored: true } => Ok(answer),
            Keyed::Done { answer, stored: false } => {
                // Kept prepared (diesel would send an UPDATE's text and have it planned at every run).
                let text = Pending::text(&answer)?;
                with_conn!(conn, c => Fixed::new(ANSWER).bind(text).bind(r.scope).bind(key).execute(c))?;
                Ok(answer)
            }
        };
    }
    if let Some(answer) = stored(conn, r.scope, key, r.hash)? {
        return answer;
    }
    let answer = match effect(conn, None)? {
        Keyed::Done { answer, .. } => answer,
        Keyed::Taken => return Err(AppError::internal(anyhow::anyhow!("SQLite's key found taken by the effect"))),
    };
    let text = Pending::text(&answer)?;
    with_conn!(conn, c => diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::scope.eq(r.scope),
            idempotency_keys::idem_key.eq(key),
            idempotency_keys::request_hash.eq(r.hash),
            idempotency_keys::response.eq(text),
            idempotency_keys::created_at.eq(r.now.naive_utc()),
        ))
        .execute(c))?;
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

/// Runs `effect` once per (scope, key) in a write transaction of its own ([`keyed`]), retrying
/// (bounded) a transaction that lost a race to a concurrent twin or that the database could not
/// serialise: the retry answers from the twin's stored result, or runs on the state it left.
pub fn write_keyed<T>(
    db: &Db,
    r: &Request,
    effect: impl Fn(&mut Conn, Option<&Pending>) -> AppResult<Keyed<T>> + Sync,
) -> AppResult<T>
where
    T: Serialize + DeserializeOwned + Send,
{
    db.write_retrying(|c| keyed(c, r, &effect))
}

/// A [`Request`] owned, for a request that waits as a task.
#[derive(Debug, Clone)]
pub struct Owned {
    pub scope: String,
    pub key: Option<String>,
    pub hash: String,
    pub now: DateTime<Utc>,
}

impl Owned {
    fn request(&self) -> Request<'_> {
        Request { scope: &self.scope, key: self.key.as_deref(), hash: &self.hash, now: self.now }
    }
}

/// As [`write_keyed`], for a request that waits as a task ([`Db::write_retrying_async`]).
pub async fn write_keyed_async<T, F>(db: &Db, r: Owned, effect: F) -> AppResult<T>
where
    T: Serialize + DeserializeOwned + Send + 'static,
    F: Fn(&mut Conn, Option<&Pending>) -> AppResult<Keyed<T>> + Send + Sync + 'static,
{
    db.write_retrying_async(move |c| keyed(c, &r.request(), &effect)).await
}

/// [`once`] in a write transaction of its own, for a request that waits as a task (see
/// [`write_keyed_async`]).
pub async fn write_once_async<T, F>(db: &Db, r: Owned, effect: F) -> AppResult<T>
where
    T: Serialize + DeserializeOwned + Send + 'static,
    F: Fn(&mut Conn) -> AppResult<T> + Send + Sync + 'static,
{
    write_keyed_async(db, r, move |c, pending| reserved_first(c, pending, &effect)).await
}
