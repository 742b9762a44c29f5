//! SMS to applicants: what they say ([`texts`]), when they may go ([`hours`]), and the outbox
//! they wait in until a sender delivers them.

mod hours;
mod texts;

pub use hours::SmsHours;
pub use texts::{last_day, month_kk, month_ru, ucs2_segments, Kind, Message, Texts};

use azyq_shared::api::SmsStatus;
use azyq_shared::Phone;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::db::schema::{counters, sms_outbox};
use crate::db::Conn;
use crate::error::AppResult;
use crate::with_conn;

/// What SMS may say and when they may go.
#[derive(Debug, Clone)]
pub struct Policy {
    pub texts: Texts,
    pub hours: SmsHours,
}

/// One SMS to queue. `dedup_key` makes queueing idempotent: a key already queued is skipped.
pub struct Outgoing<'a> {
    pub dedup_key: Option<String>,
    pub to: &'a Phone,
    pub message: Message,
}

impl Policy {
    /// The earliest an SMS of `kind` may go at or after `t`.
    pub fn not_before(&self, kind: Kind, t: DateTime<Utc>) -> DateTime<Utc> {
        if kind.daytime_only() {
            self.hours.next_open(t)
        } else {
            t
        }
    }
}

/// Queues SMS in the caller's transaction, each due at once or, for the daytime kinds, at the next
/// opening of the SMS hours; returns how many were new.
pub fn enqueue(conn: &mut Conn, policy: &Policy, items: &[Outgoing], now: DateTime<Utc>) -> AppResult<usize> {
    let rows: Vec<_> = items
        .iter()
        .map(|o| {
            let kind = o.message.kind();
            (
                sms_outbox::dedup_key.eq(o.dedup_key.clone()),
                sms_outbox::to_phone.eq(o.to.as_ref().to_owned()),
                sms_outbox::kind.eq(kind.as_str()),
                sms_outbox::text.eq(policy.texts.text(o.message)),
                sms_outbox::status.eq(SmsStatus::Pending),
                sms_outbox::attempts.eq(0),
                sms_outbox::next_attempt_at.eq(policy.not_before(kind, now).naive_utc()),
                sms_outbox::created_at.eq(now.naive_utc()),
            )
        })
        .collect();
    let mut inserted = 0;
    for chunk in rows.chunks(1_000) {
        inserted += with_conn!(conn, c => diesel::insert_into(sms_outbox::table)
            .values(chunk)
            .on_conflict_do_nothing()
            .execute(c))?;
    }
    Ok(inserted)
}

/// An SMS taken from the outbox for one delivery attempt.
#[derive(Debug, Clone, Queryable)]
pub struct Claimed {
    pub id: i64,
    pub to_phone: String,
    pub kind: String,
    pub text: String,
}

/// How long a claim may stay unanswered before its outcome is treated as unknown (the process
/// that took it is presumed dead).
pub const CLAIM_TIMEOUT_SECONDS: i64 = 120;

/// Due SMS ids, oldest first.
pub fn due(conn: &mut Conn, now: DateTime<Utc>, limit: i64) -> AppResult<Vec<i64>> {
    Ok(with_conn!(conn, c => sms_outbox::table
        .filter(sms_outbox::status.eq(SmsStatus::Pending))
        .filter(sms_outbox::next_attempt_at.le(now.naive_utc()))
        .order(sms_outbox::id)
        .select(sms_outbox::id)
        .limit(limit)
        .load(c))?)
}

/// Takes one pending SMS for delivery; `None` if another process took it first.
pub fn claim(conn: &mut Conn, id: i64, now: DateTime<Utc>) -> AppResult<Option<Claimed>> {
    let taken = with_conn!(conn, c => diesel::update(sms_outbox::table
            .filter(sms_outbox::id.eq(id))
            .filter(sms_outbox::status.eq(SmsStatus::Pending)))
        .set((
            sms_outbox::status.eq(SmsStatus::Sending),
            sms_outbox::claimed_at.eq(now.naive_utc()),
            sms_outbox::attempts.eq(sms_outbox::attempts + 1),
        ))
        .execute(c))?;
    if taken == 0 {
        return Ok(None);
    }
    Ok(Some(with_conn!(conn, c => sms_outbox::table
        .find(id)
        .select((sms_outbox::id, sms_outbox::to_phone, sms_outbox::kind, sms_outbox::text))
        .first(c))?))
}

/// Records a delivered SMS.
pub fn mark_sent(conn: &mut Conn, id: i64, now: DateTime<Utc>) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(sms_outbox::table.filter(sms_outbox::id.eq(id)).filter(sms_outbox::status.eq(SmsStatus::Sending)))
        .set((sms_outbox::status.eq(SmsStatus::Sent), sms_outbox::sent_at.eq(now.naive_utc()), sms_outbox::last_error.eq(None::<String>)))
        .execute(c))?;
    Ok(())
}

/// The wait before the next attempt: 30 s doubling per attempt, at most an hour.
pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 8) - 1;
    Duration::seconds((30_i64 << exp).min(3_600))
}

/// Puts a failed SMS back for a later attempt, a daytime kind no earlier than the next opening of
/// the hours. `error` must hold no phone number or text.
pub fn mark_failed(conn: &mut Conn, policy: &Policy, id: i64, error: &str, now: DateTime<Utc>) -> AppResult<()> {
    let (attempts, kind): (i32, String) =
        with_conn!(conn, c => sms_outbox::table.find(id).select((sms_outbox::attempts, sms_outbox::kind)).first(c))?;
    let mut next = now + backoff(attempts);
    if Kind::ALL.iter().any(|k| k.as_str() == kind && k.daytime_only()) {
        next = policy.hours.next_open(next);
    }
    with_conn!(conn, c => diesel::update(sms_outbox::table.filter(sms_outbox::id.eq(id)).filter(sms_outbox::status.eq(SmsStatus::Sending)))
        .set((
            sms_outbox::status.eq(SmsStatus::Pending),
            sms_outbox::next_attempt_at.eq(next.naive_utc()),
            sms_outbox::last_error.eq(error),
        ))
        .execute(c))?;
    Ok(())
}

/// Claims whose process went silent: their outcome must be resolved before any resend.
pub fn stale_claims(conn: &mut Conn, now: DateTime<Utc>) -> AppResult<Vec<i64>> {
    let cutoff = (now - Duration::seconds(CLAIM_TIMEOUT_SECONDS)).naive_utc();
    Ok(with_conn!(conn, c => sms_outbox::table
        .filter(sms_outbox::status.eq(SmsStatus::Sending))
        .filter(sms_outbox::claimed_at.lt(cutoff))
        .select(sms_outbox::id)
        .load(c))?)
}

/// Returns a stale claim to the queue (its SMS was not delivered, or the gateway dedups by id).
pub fn release_claim(conn: &mut Conn, id: i64, now: DateTime<Utc>) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(sms_outbox::table.filter(sms_outbox::id.eq(id)).filter(sms_outbox::status.eq(SmsStatus::Sending)))
        .set((sms_outbox::status.eq(SmsStatus::Pending), sms_outbox::next_attempt_at.eq(now.naive_utc())))
        .execute(c))?;
    Ok(())
}

/// Adds one to a named counter (e.g. replies from unknown numbers: counted, nothing else kept).
pub fn bump_counter(conn: &mut Conn, name: &str) -> AppResult<()> {
    with_conn!(conn, c => diesel::insert_into(counters::table)
        .values((counters::name.eq(name), counters::value.eq(1_i64)))
        .on_conflict(counters::name)
        .do_update()
        .set(counters::value.eq(counters::value + 1))
        .execute(c))?;
    Ok(())
}

/// What an applicant's reply means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Yes,
    No,
    Other,
}

/// `21*1` is yes and `21*2` is no (annex); spaces, a leading `*` and a trailing `#` (as typed for a
/// USSD-like code) are forgiven.
pub fn parse_reply(text: &str) -> Reply {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let core = compact.trim_start_matches('*').trim_end_matches('#');
    match core {
        "21*1" => Reply::Yes,
        "21*2" => Reply::No,
        _ => Reply::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(parse_reply("21*1"), Reply::Yes);
        assert_eq!(parse_reply(" *21*2# "), Reply::No);
        assert_eq!(parse_reply("21 * 1"), Reply::Yes);
        assert_eq!(parse_reply("да"), Reply::Other);
        assert_eq!(parse_reply("21*3"), Reply::Other);
        assert_eq!(parse_reply("121*1"), Reply::Other);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(20), Duration::seconds(3_600));
    }
}
