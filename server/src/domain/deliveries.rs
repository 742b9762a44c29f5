//! The deliveries outbox (SPEC §6): everything the service owes others — each complaint to
//! e-Otinish, each closed business day's report to the ministry, each closed month's SDU return —
//! one row per item, unique per (kind, key), queued in the transaction that makes it owed.
//!
//! A try claims its row by a conditional update that sets a lease (`claimed_until`) and counts the
//! attempt; only the process whose update changed the row sends. A try ends by recording the
//! outcome in the row (delivered; or failed, with the next attempt after a back-off) and clearing
//! the lease. A lease that runs out with no outcome recorded (the process died mid-send) is
//! "stale": the next claimant learns so from the claim and resolves it before sending again — a
//! file destination is searched for the item, an HTTP receiver gets the same `Idempotency-Key`.
//! So nothing is lost (a failure is retried, with back-off, for ever) and nothing is delivered
//! twice, across restarts, `kill -9` and replicas on one database.

use azyq_shared::api::{Delivery, DeliveryKind, DeliveryStatus};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::audit::{self, Entry};
use crate::db::schema::deliveries;
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// How long a claim is good for. Far longer than a try may take (the HTTP timeout is 30 s), so a
/// live claimant is never overtaken; after it, the claim's outcome is unknown and resolved.
pub const LEASE_SECONDS: i64 = super::sms::CLAIM_TIMEOUT_SECONDS;

/// When to try again after `attempts` tries: the SMS outbox's back-off, 30 s doubling per
/// attempt up to an hour, on the injected clock.
pub fn retry_at(attempts: i32, now: DateTime<Utc>) -> DateTime<Utc> {
    now + super::sms::backoff(attempts)
}

/// How the journal names the deliveries' own changes.
const ACTOR: &str = "deliveries";
/// The journal's entity of a delivery.
const ENTITY: &str = "delivery";

/// Queues an item in the caller's transaction; `false` when (kind, key) is already queued.
pub fn enqueue(
    conn: &mut Conn,
    kind: DeliveryKind,
    key: &str,
    payload: &impl Serialize,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let payload = serde_json::to_string(payload).map_err(AppError::internal)?;
    let ts = now.naive_utc();
    let id: Option<i64> = with_conn!(conn, c => diesel::insert_into(deliveries::table)
        .values((
            deliveries::kind.eq(kind),
            deliveries::delivery_key.eq(key),
            deliveries::payload.eq(&payload),
            deliveries::status.eq(DeliveryStatus::Pending),
            deliveries::attempts.eq(0),
            deliveries::next_attempt_at.eq(ts),
            deliveries::created_at.eq(ts),
        ))
        .on_conflict((deliveries::kind, deliveries::delivery_key))
        .do_nothing()
        .returning(deliveries::id)
        .get_result(c)
        .optional())?;
    let Some(id) = id else { return Ok(false) };
    let entry = Entry::new(now, ACTOR, ENTITY, id.to_string(), None, DeliveryStatus::Pending.as_str());
    audit::record(conn, &[entry.detail(format!("{kind} {key}"))])?;
    Ok(true)
}

/// Whether (kind, key) is queued already.
pub fn is_queued(conn: &mut Conn, kind: DeliveryKind, key: &str) -> AppResult<bool> {
    Ok(with_conn!(conn, c => diesel::select(diesel::dsl::exists(deliveries::table
        .filter(deliveries::kind.eq(kind))
        .filter(deliveries::delivery_key.eq(key))))
        .get_result(c))?)
}

/// Items due for a try at `now`, oldest first: not delivered, past their back-off, not held by a
/// live claim.
pub fn due(conn: &mut Conn, now: DateTime<Utc>, limit: i64) -> AppResult<Vec<(i64, DeliveryKind)>> {
    let ts = now.naive_utc();
    Ok(with_conn!(conn, c => deliveries::table
        .filter(deliveries::status.ne(DeliveryStatus::Delivered))
        .filter(deliveries::next_attempt_at.le(ts))
        .filter(deliveries::claimed_until.is_null().or(deliveries::claimed_until.le(ts)))
        .order(deliveries::id)
        .select((deliveries::id, deliveries::kind))
        .limit(limit)
        .load(c))?)
}

/// An item taken for one try.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub kind: DeliveryKind,
    pub key: String,
    pub payload: String,
    pub created_at: DateTime<Utc>,
    /// This try's number (1 for the first).
    pub attempt: i32,
    /// The previous try's claim ran out with no outcome recorded: it may have been delivered.
    pub stale: bool,
}

type Row = (DeliveryKind, String, String, NaiveDateTime, DeliveryStatus, i32, NaiveDateTime, Option<NaiveDateTime>);

/// Takes an item for one try to `destination`; `None` when it is not due or another process took
/// it first. The update is conditional on the row being as it was read (same attempt count, no
/// live claim), so of two claimants exactly one changes it.
pub fn claim(conn: &mut Conn, id: i64, destination: &str, now: DateTime<Utc>) -> AppResult<Option<Claimed>> {
    let ts = now.naive_utc();
    let row: Option<Row> = with_conn!(conn, c => deliveries::table
        .find(id)
        .select((
            deliveries::kind,
            deliveries::delivery_key,
            deliveries::payload,
            deliveries::created_at,
            deliveries::status,
            deliveries::attempts,
            deliveries::next_attempt_at,
            deliveries::claimed_until,
        ))
        .first(c)
        .optional())?;
    let Some((kind, key, payload, created_at, status, attempts, next_attempt_at, claimed_until)) = row else {
        return Ok(None);
    };
    if status == DeliveryStatus::Delivered || next_attempt_at > ts || claimed_until.is_some_and(|t| t > ts) {
        return Ok(None);
    }
    let lease = (now + Duration::seconds(LEASE_SECONDS)).naive_utc();
    let taken = with_conn!(conn, c => diesel::update(deliveries::table
            .filter(deliveries::id.eq(id))
            .filter(deliveries::status.ne(DeliveryStatus::Delivered))
            .filter(deliveries::attempts.eq(attempts))
            .filter(deliveries::claimed_until.is_null().or(deliveries::claimed_until.le(ts))))
        .set((
            deliveries::claimed_until.eq(lease),
            deliveries::attempts.eq(attempts + 1),
            deliveries::destination.eq(destination),
        ))
        .execute(c))?;
    if taken == 0 {
        return Ok(None);
    }
    Ok(Some(Claimed {
        id,
        kind,
        key,
        payload,
        created_at: created_at.and_utc(),
        attempt: attempts + 1,
        stale: claimed_until.is_some(),
    }))
}

/// Records an item delivered (by this try, or found delivered by an earlier one). Final: a
/// delivered item is never claimed again.
pub fn mark_delivered(conn: &mut Conn, id: i64, now: DateTime<Utc>) -> AppResult<()> {
    let changed = with_conn!(conn, c => diesel::update(deliveries::table
            .filter(deliveries::id.eq(id))
            .filter(deliveries::status.ne(DeliveryStatus::Delivered)))
        .set((
            deliveries::status.eq(DeliveryStatus::Delivered),
            deliveries::delivered_at.eq(now.naive_utc()),
            deliveries::claimed_until.eq(None::<NaiveDateTime>),
            deliveries::last_error.eq(None::<String>),
        ))
        .execute(c))?;
    if changed == 1 {
        let entry = Entry::new(now, ACTOR, ENTITY, id.to_string(), None, DeliveryStatus::Delivered.as_str());
        audit::record(conn, &[entry])?;
    }
    Ok(())
}

/// Records try `attempt` failed, with the next try after the back-off. Only the try that holds
/// the row changes it (a try whose lease ran out and was overtaken leaves it alone). `error` must
/// hold no personal data (it is shown to the operator).
pub fn mark_failed(conn: &mut Conn, id: i64, attempt: i32, error: &str, now: DateTime<Utc>) -> AppResult<()> {
    let error: String = error.chars().take(500).collect();
    let changed = with_conn!(conn, c => diesel::update(deliveries::table
            .filter(deliveries::id.eq(id))
            .filter(deliveries::status.ne(DeliveryStatus::Delivered))
            .filter(deliveries::attempts.eq(attempt)))
        .set((
            deliveries::status.eq(DeliveryStatus::Failed),
            deliveries::next_attempt_at.eq(retry_at(attempt, now).naive_utc()),
            deliveries::claimed_until.eq(None::<NaiveDateTime>),
            deliveries::last_error.eq(&error),
        ))
        .execute(c))?;
    if changed == 1 {
        let entry = Entry::new(now, ACTOR, ENTITY, id.to_string(), None, DeliveryStatus::Failed.as_str());
        audit::record(conn, &[entry.detail(format!("attempt {attempt}: {error}"))])?;
    }
    Ok(())
}

/// Where each kind goes, as the operator is shown it (see [`shown`]).
#[derive(Debug, Clone, Default)]
pub struct Routes {
    pub complaints: String,
    pub reports: String,
}

impl Routes {
    pub fn of(&self, kind: DeliveryKind) -> &str {
        match kind {
            DeliveryKind::Complaint => &self.complaints,
            DeliveryKind::DailyReport | DeliveryKind::SduReturn => &self.reports,
        }
    }
}

/// A destination as the operator may see it: `file:PATH`, or `http:` and the URL without its
/// user information and query (which may hold credentials).
pub fn shown(target: &crate::config::Target) -> String {
    match target {
        crate::config::Target::File(path) => format!("file:{}", path.display()),
        crate::config::Target::Http(url) => {
            let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
            let rest = rest.split(['?', '#']).next().unwrap_or("");
            let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            let path = if path.is_empty() { String::new() } else { format!("/{path}") };
            format!("http:{scheme}://{host}{path}")
        }
    }
}

/// How many rows the operator's list shows at most.
pub const LIST_LIMIT: i64 = 500;

type ListRow = (
    i64,
    DeliveryKind,
    String,
    Option<String>,
    DeliveryStatus,
    i32,
    Option<String>,
    NaiveDateTime,
    Option<NaiveDateTime>,
    NaiveDateTime,
);

/// The operator's view: what is still owed first (oldest first), then the latest delivered.
pub fn list(conn: &mut Conn, routes: &Routes) -> AppResult<Vec<Delivery>> {
    let columns = (
        deliveries::id,
        deliveries::kind,
        deliveries::delivery_key,
        deliveries::destination,
        deliveries::status,
        deliveries::attempts,
        deliveries::last_error,
        deliveries::next_attempt_at,
        deliveries::delivered_at,
        deliveries::created_at,
    );
    let mut rows: Vec<ListRow> = with_conn!(conn, c => deliveries::table
        .filter(deliveries::status.ne(DeliveryStatus::Delivered))
        .order(deliveries::id)
        .select(columns)
        .limit(LIST_LIMIT)
        .load(c))?;
    let room = LIST_LIMIT - rows.len() as i64;
    if room > 0 {
        rows.extend(with_conn!(conn, c => deliveries::table
            .filter(deliveries::status.eq(DeliveryStatus::Delivered))
            .order(deliveries::id.desc())
            .select(columns)
            .limit(room)
            .load::<ListRow>(c))?);
    }
    Ok(rows
        .into_iter()
        .map(|(id, kind, key, destination, status, attempts, last_error, next, delivered_at, created_at)| Delivery {
            id,
            kind,
            key,
            destination: destination.unwrap_or_else(|| routes.of(kind).to_owned()),
            status,
            attempts,
            last_error,
            next_attempt_at: (status != DeliveryStatus::Delivered).then(|| next.and_utc()),
            delivered_at: delivered_at.map(|t| t.and_utc()),
            created_at: created_at.and_utc(),
        })
        .collect())
}

/// The delivery state of items of a kind, by key (for the complaints list).
pub fn states(
    conn: &mut Conn,
    kind: DeliveryKind,
    keys: &[String],
) -> AppResult<std::collections::HashMap<String, azyq_shared::api::DeliveryState>> {
    let mut out = std::collections::HashMap::new();
    for chunk in keys.chunks(500) {
        let rows: Vec<(String, DeliveryStatus, i32, Option<NaiveDateTime>)> = with_conn!(conn, c => deliveries::table
            .filter(deliveries::kind.eq(kind))
            .filter(deliveries::delivery_key.eq_any(chunk))
            .select((deliveries::delivery_key, deliveries::status, deliveries::attempts, deliveries::delivered_at))
            .load(c))?;
        for (key, status, attempts, delivered_at) in rows {
            let state =
                azyq_shared::api::DeliveryState { status, attempts, delivered_at: delivered_at.map(|t| t.and_utc()) };
            out.insert(key, state);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Target;

    #[test]
    fn back_off_doubles_from_30_seconds_to_an_hour() {
        let now = DateTime::parse_from_rfc3339("2026-12-05T10:00:00Z").unwrap().with_timezone(&Utc);
        let waits: Vec<i64> = (1..=9).map(|a| (retry_at(a, now) - now).num_seconds()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!((retry_at(1_000, now) - now).num_seconds(), 3_600);
    }

    #[test]
    fn destinations_are_shown_without_credentials() {
        let http = |u: &str| shown(&Target::Http(u.into()));
        assert_eq!(
            http("https://user:secret@otinish.example:8443/api/in?token=abc"),
            "http:https://otinish.example:8443/api/in"
        );
        assert_eq!(http("http://127.0.0.1:9000"), "http:http://127.0.0.1:9000");
        assert_eq!(http("https://gw.example/a/b#frag"), "http:https://gw.example/a/b");
        assert_eq!(shown(&Target::File("out/otinish.jsonl".into())), "file:out/otinish.jsonl");
    }
}
