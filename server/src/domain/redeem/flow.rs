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
    // Signatures, codes and prices are checked on a read connection, beside other tills' writes;
    // the write transaction then only does what depends on balances and nonces (and records a
    // refusal the reports count, with its answer).
    // On PostgreSQL the checks read in one statement, outside a transaction (a single statement
    // sees one state by itself); SQLite's few in-process statements share a read transaction.
    let checked = db.read_one(|c| match c {
        Conn::Sqlite(s) => s.transaction(|s| super::check(&mut Conn::Sqlite(s), t.till, session, req, t.now)),
        Conn::Pg(_) => super::check(c, t.till, session, req, t.now),
    })?;
    idempotency::write_once(db, &t.scope("authorize"), t.key, t.hash, t.now, |c| {
        let outcome = authorize_step::authorize(c, t.till, &checked, rules, t.now)?;
        if let authorize_step::Outcome::Authorized(_) = outcome {
            metrics::on_commit(Event::Hold);
        }
        Ok(outcome)
    })?
    .into_result()
}

/// Capture: the customer paid; the hold becomes a charge and the receipt is final.
///
/// Whether the hold ran out is decided under the basket's lock, in the capture's transaction (no
/// read before it): a hold that ran out is refused `hold_expired` and then released as such.
pub fn capture(db: &Db, t: &Transition, id: i64, payment: &Payment) -> AppResult<Captured> {
    let result = idempotency::write_once(db, &t.scope(&format!("capture:{id}")), t.key, t.hash, t.now, |c| {
        let captured = capture_step::capture(c, t.till, id, payment, t.now)?;
        metrics::on_commit(Event::Sale { discount: captured.receipt.discount_tiyn });
        Ok(captured)
    });
    released_if_expired(db, id, t.now, result)
}

/// Cancel: releases the hold.
pub fn cancel(db: &Db, till: &Till, id: i64, now: DateTime<Utc>) -> AppResult<BasketState> {
    // As capture: whether the hold ran out is decided under the basket's lock.
    let result = db.write_retrying(|c| {
        let state = release::cancel(c, till, id, now)?;
        metrics::on_commit(Event::Released { expired: false, count: 1 });
        Ok(state)
    });
    released_if_expired(db, id, now, result)
}

/// Refund a captured basket, whole (`None`) or the given lines.
pub fn refund(db: &Db, t: &Transition, id: i64, lines: Option<&[usize]>) -> AppResult<Refund> {
    idempotency::write_once(db, &t.scope(&format!("refund:{id}")), t.key, t.hash, t.now, |c| {
        let refund = refund_step::refund(c, t.till, id, lines, t.now)?;
        metrics::on_commit(Event::Refund { tiyn: refund.refunded_tiyn });
        Ok(refund)
    })
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
