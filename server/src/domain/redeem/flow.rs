//! The till's transitions as the API runs them, one function each: the read-side checks before the
//! write turn, the idempotency key, the bounded retry of a transaction the database could not
//! serialise, and the release of a hold that ran out. Handlers only parse, call one of these and
//! map the answer.

use azyq_shared::api::{AuthorizeRequest, Authorized, BasketState, Captured, ErrorCode, Payment, Refund};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::authorize::SaleRules;
use super::{authorize as authorize_step, capture as capture_step, refund as refund_step, release, Till};
use crate::db::schema::baskets;
use crate::db::{Conn, Db};
use crate::domain::idempotency;
use crate::error::AppResult;
use crate::metrics::{self, Event};
use crate::with_conn;

/// Who asks for a transition, under which idempotency key, at what time.
pub struct Transition<'a> {
    pub till: &'a Till,
    /// The client's `Idempotency-Key`, parsed.
    pub key: Option<&'a str>,
    /// The request's digest ([`idempotency::request_hash`]).
    pub hash: &'a str,
    pub now: DateTime<Utc>,
}

impl Transition<'_> {
    fn scope(&self, what: &str) -> String {
        format!("{}:{what}", self.till.shop_id)
    }
}

/// Who asks for a transition, owned: for a transition a request awaits as a task
/// ([`authorize_async`], [`capture_async`], [`refund_async`]).
pub struct Asked {
    pub till: Till,
    pub key: Option<String>,
    pub hash: String,
    pub now: DateTime<Utc>,
}

impl Asked {
    fn transition(&self) -> Transition<'_> {
        Transition { till: &self.till, key: self.key.as_deref(), hash: &self.hash, now: self.now }
    }

    /// The till, and the request under its key in the scope of `what` (see [`Transition::scope`]).
    fn keyed(self, what: &str) -> (Till, idempotency::Owned) {
        let scope = self.transition().scope(what);
        let Asked { till, key, hash, now } = self;
        (till, idempotency::Owned { scope, key, hash, now })
    }
}

/// Authorise: checks every line and token, places the hold, answers what to pay.
/// `session`: the credential version of a cashier's session whose account is still to be checked
/// (in the checks' one statement; `None`: checked already).
pub fn authorize(
    db: &Db,
    t: &Transition,
    req: &AuthorizeRequest,
    rules: SaleRules,
    session: Option<i32>,
) -> AppResult<Authorized> {
    let checked = checked(db, t, req, session)?;
    let scope = t.scope("authorize");
    let r = idempotency::Request { scope: &scope, key: t.key, hash: t.hash, now: t.now };
    idempotency::write_keyed(db, &r, |c, pending| hold(c, t.till, &checked, rules, t.now, pending))?.into_result()
}

/// As [`authorize`], awaited as a task: on SQLite's writer thread the checks read on this thread
/// (in process, beside the writer) and the write is queued to the writer, no thread waiting for it.
pub async fn authorize_async(
    db: &Db,
    asked: Asked,
    req: AuthorizeRequest,
    rules: SaleRules,
    session: Option<i32>,
) -> AppResult<Authorized> {
    if !db.writes_on_writer_thread() {
        return db.run(move |db| authorize(db, &asked.transition(), &req, rules, session)).await;
    }
    let checked = checked(db, &asked.transition(), &req, session)?;
    let (till, r) = asked.keyed("authorize");
    let now = r.now;
    idempotency::write_keyed_async(db, r, move |c, pending| hold(c, &till, &checked, rules, now, pending))
        .await?
        .into_result()
}

/// Authorise's checks: signatures, codes and prices, read on a read connection beside other
/// tills' writes; the write transaction then only does what depends on balances and nonces (and
/// records a refusal the reports count, with its answer). On PostgreSQL they read in one
/// statement, outside a transaction (a single statement sees one state by itself); SQLite's few
/// in-process statements share a read transaction.
fn checked(db: &Db, t: &Transition, req: &AuthorizeRequest, session: Option<i32>) -> AppResult<super::Checked> {
    db.read_one(|c| match c {
        Conn::Sqlite(s) => s.transaction(|s| super::check(&mut Conn::Sqlite(s), t.till, session, req, t.now)),
        Conn::Pg(_) => super::check(c, t.till, session, req, t.now),
    })
}

/// Authorise's transaction: the hold, counted once it commits.
fn hold(
    c: &mut Conn,
    till: &Till,
    checked: &super::Checked,
    rules: SaleRules,
    now: DateTime<Utc>,
    pending: Option<&idempotency::Pending>,
) -> AppResult<idempotency::Keyed<authorize_step::Outcome>> {
    let keyed = authorize_step::authorize(c, till, checked, rules, now, pending)?;
    if let idempotency::Keyed::Done { answer: authorize_step::Outcome::Authorized(_), .. } = &keyed {
        metrics::on_commit(Event::Hold);
    }
    Ok(keyed)
}

/// Capture: the customer paid; the hold becomes a charge and the receipt is final.
///
/// Whether the hold ran out is decided under the basket's lock, in the capture's transaction (no
/// read before it): a hold that ran out is refused `hold_expired` and then released as such.
pub fn capture(db: &Db, t: &Transition, id: i64, payment: &Payment) -> AppResult<Captured> {
    let scope = t.scope(&format!("capture:{id}"));
    let r = idempotency::Request { scope: &scope, key: t.key, hash: t.hash, now: t.now };
    let result = idempotency::write_keyed(db, &r, |c, pending| pay(c, t.till, id, payment, t.now, pending));
    released_if_expired(db, id, t.now, result)
}

/// As [`capture`], awaited as a task (see [`authorize_async`]; without SQLite's writer thread the
/// transaction runs on a blocking thread, as [`Db::write_retrying_async`] does).
pub async fn capture_async(db: &Db, asked: Asked, id: i64, payment: Payment) -> AppResult<Captured> {
    let (till, r) = asked.keyed(&format!("capture:{id}"));
    let now = r.now;
    let result =
        idempotency::write_keyed_async(db, r, move |c, pending| pay(c, &till, id, &payment, now, pending)).await;
    released_if_expired_async(db, id, now, result).await
}

/// Capture's transaction, counted once it commits.
fn pay(
    c: &mut Conn,
    till: &Till,
    id: i64,
    payment: &Payment,
    now: DateTime<Utc>,
    pending: Option<&idempotency::Pending>,
) -> AppResult<idempotency::Keyed<Captured>> {
    let keyed = capture_step::capture(c, till, id, payment, now, pending)?;
    if let idempotency::Keyed::Done { answer, .. } = &keyed {
        metrics::on_commit(Event::Sale { discount: answer.receipt.discount_tiyn });
    }
    Ok(keyed)
}

pub async fn cancel_async(db: &Db, till: Till, id: i64, now: DateTime<Utc>) -> AppResult<BasketState> {
    let result = db.write_retrying_async(move |c| release_hold(c, &till, id, now)).await;
    released_if_expired_async(db, id, now, result).await
}

/// Cancel's transaction, counted once it commits.
fn release_hold(c: &mut Conn, till: &Till, id: i64, now: DateTime<Utc>) -> AppResult<BasketState> {
    let state = release::cancel(c, till, id, now)?;
    metrics::on_commit(Event::Released { expired: false, count: 1 });
    Ok(state)
}

/// Refund a captured basket, whole (`None`) or the given lines, awaited as a task (see
/// [`capture_async`]).
pub async fn refund_async(db: &Db, asked: Asked, id: i64, lines: Option<Vec<usize>>) -> AppResult<Refund> {
    let (till, r) = asked.keyed(&format!("refund:{id}"));
    let now = r.now;
    idempotency::write_once_async(db, r, move |c| give_back(c, &till, id, lines.as_deref(), now)).await
}

/// Refund's transaction, counted once it commits.
fn give_back(c: &mut Conn, till: &Till, id: i64, lines: Option<&[usize]>, now: DateTime<Utc>) -> AppResult<Refund> {
    let refund = refund_step::refund(c, till, id, lines, now)?;
    metrics::on_commit(Event::Refund { tiyn: refund.refunded_tiyn });
    Ok(refund)
}

/// The scheduler's sweep: releases every hold that has run out, a bounded batch per transaction.
pub fn expire_holds(db: &Db, now: DateTime<Utc>) -> AppResult<usize> {
    let mut total = 0;
    loop {
        let n = db.write_retrying(|c| expire(c, now, None))?;
        total += n;
        if n < release::SWEEP_BATCH {
            return Ok(total);
        }
    }
}

/// Releases holds that ran out (one basket's, or a sweep's batch), counting them.
fn expire(c: &mut crate::db::Conn, now: DateTime<Utc>, id: Option<i64>) -> AppResult<usize> {
    let n = release::expire_holds(c, now, id)?;
    metrics::on_commit(Event::Released { expired: true, count: n as u64 });
    Ok(n)
}

/// A transition refused because the hold ran out meanwhile leaves the hold released (its own
/// transaction: the refused one rolled back), so the `hold_expired` answer tells the truth.
fn released_if_expired<T>(db: &Db, id: i64, now: DateTime<Utc>, result: AppResult<T>) -> AppResult<T> {
    if result.as_ref().is_err_and(|e| e.code == ErrorCode::HoldExpired) {
        expire_if_ran_out(db, id, now)?;
    }
    result
}

/// As [`released_if_expired`], for a transition awaited as a task (the release, rare, on a
/// blocking thread).
async fn released_if_expired_async<T>(db: &Db, id: i64, now: DateTime<Utc>, result: AppResult<T>) -> AppResult<T> {
    if result.as_ref().is_err_and(|e| e.code == ErrorCode::HoldExpired) {
        db.run(move |db| expire_if_ran_out(db, id, now)).await?;
    }
    result
}

/// Releases the basket's hold if it ran out and nobody released it yet. A read first, so the
/// common case costs the writer nothing; the release itself is guarded under the basket's lock.
fn expire_if_ran_out(db: &Db, id: i64, now: DateTime<Utc>) -> AppResult<()> {
    let ran_out: i64 = db.read_one(|c| {
        Ok(with_conn!(c, c => baskets::table
            .filter(baskets::id.eq(id))
            .filter(baskets::status.eq(azyq_shared::api::BasketStatus::Authorized.as_str()))
            .filter(baskets::hold_expires_at.le(now.naive_utc()))
            .count()
            .get_result(c))?)
    })?;
    if ran_out > 0 {
        db.write_retrying(|c| expire(c, now, Some(id)))?;
    }
    Ok(())
}
